"""Genotype files into a :class:`~clarity.genotype.DosageMatrix`, streamed in variant chunks.

VCF/BCF is read with cyvcf2 record by record; PLINK 1 ``.bed`` with bed-reader,
a block of variant columns at a time. Neither reader holds more than one chunk
of variants beyond the result, and the result is int8 (one byte per call),
never a float matrix.

Layout of the result. Dosages are stored variant-major (Fortran order): one
variant's calls for every sample are contiguous. A stage that reads a block of
variant columns then reads one contiguous run of the file, and a VCF reader
that does not know the number of variants in advance can grow the file by
appending each chunk, with no first pass to count records. With ``out`` the
array is a read-only ``numpy.memmap`` of that raw file (no header: the shape is
``(len(samples), len(variants))``, dtype int8, order ``"F"``). Without ``out``
the VCF chunks are spooled to an anonymous temporary file and loaded once at
the end, so the peak memory is the result plus one chunk, not twice the result
(as collecting chunks and concatenating them would be).

Conventions shared by both readers:

- ``chrom`` is written with a ``chr`` prefix (``1`` → ``chr1``; PLINK's numeric
  codes ``23``/``24``/``25``/``26`` → ``chrX``/``chrY``/``chrX``/``chrM``, as
  PLINK's ``XY`` is the pseudo-autosomal part of X in X's coordinates), so that
  a VCF and a PLINK file of the same cohort give the same variant table.
- A missing id (``.``) becomes ``chrom:pos:ref:alt``. An id that occurs more
  than once (common after splitting multi-allelic sites, which share an rsID)
  is replaced by ``chrom:pos:ref:alt`` at every occurrence, so no record is
  favoured by its order; if that still leaves two columns with one id, the
  same variant is in the file twice, and the file is rejected (which copy's
  calls to trust cannot be decided here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clarity.errors import InputError
from clarity.genotype._dosage import DosageMatrix
from clarity.genotype._phenotypes import read_phenotypes
from clarity.genotype._plink import read_plink
from clarity.genotype._vcf import ReadReport, read_vcf, read_vcf_with_report

__all__ = [
    "ReadReport",
    "read_genotypes",
    "read_phenotypes",
    "read_plink",
    "read_vcf",
    "read_vcf_with_report",
]


_VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")


def read_genotypes(path: Path | str, **kwargs: Any) -> DosageMatrix:
    """Read a genotype file with the reader its suffix names.

    Parameters
    ----------
    path
        A ``.vcf``, ``.vcf.gz``, ``.vcf.bgz`` or ``.bcf`` (read by
        :func:`read_vcf`), or a PLINK ``.bed`` (read by :func:`read_plink`).
    **kwargs
        Passed on to the reader.

    Returns
    -------
    DosageMatrix
        What the reader returns.

    Raises
    ------
    InputError
        When the suffix is none of those, or the reader rejects the file.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(_VCF_SUFFIXES):
        return read_vcf(path, **kwargs)
    if name.endswith(".bed"):
        return read_plink(path, **kwargs)
    raise InputError(
        f"{path.name}: invalid genotype file suffix. Allowed suffixes are "
        f"{', '.join(repr(s) for s in (*_VCF_SUFFIXES, '.bed'))}."
    )
