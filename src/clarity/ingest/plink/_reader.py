"""PLINK 1 binary genotypes (``.bed`` with ``.bim`` and ``.fam``), referenced per sample."""

from __future__ import annotations

from collections.abc import Iterator

from clarity._utils import sha256_file
from clarity.contracts import GenotypeCallSetRef
from clarity.errors import FieldError
from clarity.ingest._core import Accepted, Item, ReadContext, Rejected

__all__ = ["read_plink"]

_MAGIC = bytes([0x6C, 0x1B, 0x01])


def read_plink(context: ReadContext) -> Iterator[Item]:
    """Check a PLINK fileset and reference each individual's call set.

    The ``.bed`` size must match the individuals in ``.fam`` and the variants in
    ``.bim`` (variant-major mode); the genome build comes from the context,
    since PLINK files do not record it.

    Parameters
    ----------
    context
        The ``.bed`` file; ``.bim`` and ``.fam`` lie beside it.

    Yields
    ------
    Accepted or Rejected
        One reference per individual, or one rejection for the fileset.
    """
    bed = context.path.with_suffix(".bed")
    bim, fam = bed.with_suffix(".bim"), bed.with_suffix(".fam")

    def refuse(reason: str) -> Rejected:
        return Rejected(
            location="fileset",
            reason=reason,
            original=bed.name.encode(),
            topic="ingest.genotype",
            errors=(FieldError("file", reason, "corrupt_plink"),),
        )

    missing = [p.name for p in (bed, bim, fam) if not p.is_file()]
    if missing:
        yield refuse(f"missing {', '.join(missing)} beside {bed.name}")
        return
    individuals = [line.split() for line in fam.read_text().splitlines() if line.strip()]
    variants = sum(1 for line in bim.read_text().splitlines() if line.strip())
    if any(len(fields) < 6 for fields in individuals):
        yield refuse(f"{fam.name} needs six columns per individual")
        return
    with bed.open("rb") as handle:
        magic = handle.read(3)
    if magic != _MAGIC:
        yield refuse(f"{bed.name} is not a variant-major PLINK .bed (magic bytes {magic.hex()})")
        return
    expected = 3 + variants * -(-len(individuals) // 4)
    size = bed.stat().st_size
    if size != expected:
        yield refuse(
            f"{bed.name} has {size} bytes; {variants} variants x {len(individuals)} individuals "
            f"need {expected} (truncated or mismatched .bim/.fam)"
        )
        return
    digest = sha256_file(bed)
    # The .bed alone does not say whose genotypes it holds: a reordered .fam would hand one
    # person's calls to another. Both side files are fingerprinted too.
    sidecars = {suffix: sha256_file(bed.with_suffix(suffix)) for suffix in (".bim", ".fam")}
    for fields in individuals:
        sample = fields[1]
        yield Accepted(
            context.envelope(
                reader="plink",
                topic="ingest.genotype",
                source_patient=sample,
                observed_at=context.now,
                locator=f"individual {sample}",
                identity=(digest, sample),
                payload=GenotypeCallSetRef(
                    uri=bed.resolve().as_uri(),
                    format="plink_bed",
                    sample_id=sample,
                    genome_build=context.genome_build,
                    sha256=digest,
                    n_variants=variants,
                    bim_sha256=sidecars[".bim"],
                    fam_sha256=sidecars[".fam"],
                ),
            )
        )
