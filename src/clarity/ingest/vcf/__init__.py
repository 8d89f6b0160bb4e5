"""VCF and BCF genotype files."""

from clarity.ingest.vcf._reader import read_vcf

__all__ = ["read_vcf"]
