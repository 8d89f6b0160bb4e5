"""VCF/BCF genotype files: validated by streaming, referenced on the bus per sample.

The calls stay in the file (genotypes are too large for the bus); each sample
gets a :class:`~clarity.contracts.GenotypeCallSetRef` carrying the file's
location and SHA-256, so a service reads exactly what was checked. The file is
streamed with cyvcf2, variant by variant; it is never loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterator

from clarity._utils import sha256_file
from clarity.contracts import GenotypeCallSetRef
from clarity.errors import FieldError
from clarity.ingest._core import Accepted, Item, ReadContext, Rejected

__all__ = ["read_vcf", "sha256_file"]

_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_GRCH38_CHR1 = 248_956_422
_GRCH37_CHR1 = 249_250_621


def _build(header: str, declared: str | None) -> str | None:
    text = header.lower()
    if declared:
        return declared
    if "grch38" in text or "hg38" in text or f"length={_GRCH38_CHR1}" in text:
        return "grch38"
    if "grch37" in text or "hg19" in text or "b37" in text or f"length={_GRCH37_CHR1}" in text:
        return "grch37"
    return None


def read_vcf(context: ReadContext) -> Iterator[Item]:
    """Check a VCF/BCF from end to end and reference each sample's call set.

    Parameters
    ----------
    context
        The file; sample names are source patient ids.

    Yields
    ------
    Accepted or Rejected
        One reference per sample, or one rejection for the file when it is
        truncated, corrupt, unsorted or lacks genotypes.
    """
    from cyvcf2 import VCF

    path = context.path
    name = path.name
    compressed = name.endswith((".gz", ".bgz", ".bcf"))

    def refuse(location: str, reason: str) -> Rejected:
        return Rejected(
            location=location,
            reason=reason,
            original=name.encode(),
            topic="ingest.genotype",
            errors=(FieldError("file", reason, "corrupt_vcf"),),
        )

    if compressed:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - len(_BGZF_EOF)))
            if handle.read() != _BGZF_EOF:
                yield refuse("end of file", "truncated: the BGZF end-of-file block is missing")
                return
    try:
        vcf = VCF(str(path), threads=1)  # lazy=True crashes cyvcf2 0.35 on .FORMAT
    except (OSError, ValueError) as error:
        yield refuse("header", f"cannot be opened as VCF/BCF: {error}")
        return
    samples = list(vcf.samples)
    if not samples:
        yield refuse("header", "has no sample columns")
        return
    build = _build(vcf.raw_header, None)
    count = 0
    order: dict[str, int] = {}
    last = ("", -1)
    try:
        for variant in vcf:
            count += 1
            chrom, pos = variant.CHROM, variant.POS
            if chrom != last[0]:
                if chrom in order:
                    raise ValueError(
                        f"variant {count} ({chrom}:{pos}): {chrom} appears again after "
                        "another contig; the file is not sorted"
                    )
                order[chrom] = count
            elif pos < last[1]:
                raise ValueError(
                    f"variant {count} ({chrom}:{pos}) comes after position {last[1]}; "
                    "the file is not sorted"
                )
            last = (chrom, pos)
            if count == 1 and "GT" not in variant.FORMAT:
                raise ValueError(f"variant 1 ({chrom}:{pos}) has no GT field")
    except Exception as error:
        yield refuse(f"variant {count + 1}", f"{type(error).__name__}: {error}")
        return
    finally:
        vcf.close()
    if build is None:
        yield refuse(
            "header", "does not say its genome build (no ##reference or known contig lengths)"
        )
        return
    digest = sha256_file(path)
    kind = "bcf" if name.endswith(".bcf") else "vcf"
    for sample in samples:
        yield Accepted(
            context.envelope(
                reader="vcf",
                topic="ingest.genotype",
                source_patient=sample,
                observed_at=context.now,
                locator=f"sample {sample}",
                identity=(digest, sample),
                payload=GenotypeCallSetRef(
                    uri=path.resolve().as_uri(),
                    format=kind,
                    sample_id=sample,
                    genome_build=build,
                    sha256=digest,
                    n_variants=count,
                ),
            )
        )
