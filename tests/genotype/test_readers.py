"""Genotype readers: VCF/BCF and PLINK into one int8 dosage matrix, checked against the truth."""

from __future__ import annotations

import importlib.resources
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarity.errors import ClarityWarning, CorruptVCF, InputError
from clarity.genotype import (
    MISSING,
    VARIANT_COLUMNS,
    read_genotypes,
    read_phenotypes,
    read_plink,
    read_vcf,
    read_vcf_with_report,
)

HEADER = [
    "##fileformat=VCFv4.2",
    "##contig=<ID=chr1,length=100000>",
    "##contig=<ID=2,length=100000>",
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
]
COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]


def write_vcf(path: Path, samples: list[str], rows: list[str]) -> Path:
    """Write a plain VCF; each row is 'CHROM POS ID REF ALT FORMAT calls...' (space separated)."""
    lines = [*HEADER, "\t".join([*COLUMNS, *samples])]
    for row in rows:
        chrom, pos, vid, ref, alt, fmt, *calls = row.split()
        lines.append("\t".join([chrom, pos, vid, ref, alt, ".", "PASS", ".", fmt, *calls]))
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def dosages_of(matrix) -> list[list[int]]:
    return np.asarray(matrix.dosages).tolist()


# ---------------------------------------------------------------- the synthetic cohort


@pytest.fixture(scope="module")
def truth(cohort: Path):
    """The cohort's genotypes recomputed from the simulation, independently of the files."""
    from clarity.synth._genetics import simulate_genotypes

    config = json.loads((cohort / "manifest.json").read_text())["config"]
    names = {
        part: [
            line.split()[1]
            for line in (cohort / "genotypes" / f"{part}.fam").read_text().splitlines()
        ]
        for part in ("cohort", "reference")
    }
    simulated = simulate_genotypes(names["cohort"] + names["reference"], config["seed"])
    haps = simulated.haplotypes.astype(np.int16)  # variants x (2 * samples), one column each
    dosage = (haps[:, 0::2] + haps[:, 1::2]).T.astype(np.int8)
    variants = pd.DataFrame(
        {
            "chrom": simulated.chrom.tolist(),
            "pos": simulated.pos.tolist(),
            "id": [
                f"{c}:{p}:{r}:{a}"
                for c, p, r, a in zip(
                    simulated.chrom, simulated.pos, simulated.ref, simulated.alt, strict=True
                )
            ],
            "ref": simulated.ref.tolist(),
            "alt": simulated.alt.tolist(),
        }
    )
    n = len(names["cohort"])
    return {
        "cohort": (names["cohort"], dosage[:n], variants),
        "reference": (names["reference"], dosage[n:], variants),
    }


@pytest.mark.parametrize("part", ["cohort", "reference"])
def test_read_vcf__vcf_and_plink_equal_the_simulated_truth(cohort, truth, part):
    samples, expected, variants = truth[part]
    from_vcf = read_vcf(cohort / "genotypes" / f"{part}.vcf.gz")
    from_plink = read_plink(cohort / "genotypes" / f"{part}.bed")
    for matrix in (from_vcf, from_plink):
        assert matrix.samples == tuple(samples)
        assert matrix.dosages.dtype == np.int8
        np.testing.assert_array_equal(matrix.dosages, expected)
        assert matrix.variants.to_dict("list") == variants.to_dict("list")
    pd.testing.assert_frame_equal(from_vcf.variants, from_plink.variants)
    assert (expected == 1).any() and (expected == 2).any()  # both alleles are exercised


def test_read_vcf__chunk_size_and_memmap_do_not_change_the_result(cohort, tmp_path):
    path = cohort / "genotypes" / "cohort.vcf.gz"
    whole = read_vcf(path, chunk_variants=10_000)
    out = tmp_path / "dosages.i8"
    chunked = read_vcf(path, chunk_variants=7, out=out)
    assert isinstance(chunked.dosages, np.memmap)
    assert Path(chunked.dosages.filename) == out
    assert out.stat().st_size == whole.n_samples * whole.n_variants
    assert whole.n_variants % 7 != 0  # the last chunk is a partial one
    np.testing.assert_array_equal(chunked.dosages, whole.dosages)
    pd.testing.assert_frame_equal(chunked.variants, whole.variants)
    # The raw file is variant-major int8 without a header, as documented.
    raw = np.fromfile(out, dtype=np.int8).reshape(whole.n_variants, whole.n_samples)
    np.testing.assert_array_equal(raw.T, whole.dosages)
    with pytest.raises(ValueError, match="read-only"):
        chunked.dosages[0, 0] = 1


def test_read_plink__chunk_size_and_memmap_do_not_change_the_result(cohort, tmp_path):
    path = cohort / "genotypes" / "reference.bed"
    whole = read_plink(path)
    out = tmp_path / "reference.i8"
    chunked = read_plink(path, chunk_variants=7, out=out)
    assert isinstance(chunked.dosages, np.memmap)
    assert Path(chunked.dosages.filename) == out
    np.testing.assert_array_equal(chunked.dosages, whole.dosages)
    raw = np.fromfile(out, dtype=np.int8).reshape(whole.n_variants, whole.n_samples)
    np.testing.assert_array_equal(raw.T, whole.dosages)


def test_read_vcf__samples_are_returned_in_the_requested_order(cohort, truth):
    samples, expected, _ = truth["cohort"]
    wanted = [samples[5], samples[0], samples[3]]
    for matrix in (
        read_vcf(cohort / "genotypes" / "cohort.vcf.gz", samples=wanted, chunk_variants=100),
        read_plink(cohort / "genotypes" / "cohort.bed", samples=wanted, chunk_variants=100),
    ):
        assert matrix.samples == tuple(wanted)
        np.testing.assert_array_equal(matrix.dosages, expected[[5, 0, 3]])


def test_read_genotypes__positions_read_only_those_variants(cohort, truth):
    samples, expected, variants = truth["cohort"]
    picked = [3, 40, 41, 500, len(variants) - 1]
    # Asked by position, in any order, with a chromosome as a VCF may spell it ('1').
    wanted = [(variants["chrom"][i].removeprefix("chr"), int(variants["pos"][i])) for i in picked]
    wanted = [*wanted[::-1], ("chr1", 1)]  # a position no file has is simply not found
    for suffix in ("vcf.gz", "bed"):
        matrix = read_genotypes(
            cohort / "genotypes" / f"cohort.{suffix}",
            positions=wanted,
            samples=[samples[2], samples[0]],
            chunk_variants=2,
        )
        assert list(matrix.variants["id"]) == [variants["id"][i] for i in picked]
        np.testing.assert_array_equal(matrix.dosages, expected[[2, 0]][:, picked])
    _, report = read_vcf_with_report(cohort / "genotypes" / "cohort.vcf.gz", positions=wanted)
    assert (report.kept, report.not_wanted) == (5, len(variants) - 5)
    with pytest.raises(ValueError, match=r"'positions' parameter must hold \(chrom, pos\) pairs"):
        read_plink(cohort / "genotypes" / "cohort.bed", positions=[("chr1",)])
    with pytest.raises(ValueError, match=r"'positions' parameter must be a collection"):
        read_vcf(cohort / "genotypes" / "cohort.vcf.gz", positions="chr1:5")


@pytest.mark.parametrize("suffix", ["vcf.gz", "bed"])
def test_read_genotypes__unknown_sample_is_named(cohort, suffix):
    with pytest.raises(InputError, match=r"no sample named 'NOBODY'"):
        read_genotypes(cohort / "genotypes" / f"cohort.{suffix}", samples=["SYN-00000", "NOBODY"])


def test_read_genotypes__dispatches_on_the_suffix(cohort, tmp_path):
    from_vcf = read_genotypes(cohort / "genotypes" / "cohort.vcf.gz")
    from_plink = read_genotypes(cohort / "genotypes" / "cohort.bed")
    np.testing.assert_array_equal(from_vcf.dosages, from_plink.dosages)
    other = tmp_path / "cohort.pgen"
    other.write_bytes(b"")
    with pytest.raises(InputError, match=r"cohort\.pgen: invalid genotype file suffix"):
        read_genotypes(other)


def test_read_vcf__memory_stays_bounded_by_the_chunk(tmp_path):
    # 4,000 samples x 1,000 variants is 4 MB of dosages; streaming into a memmap in
    # chunks of 8 variants must never hold a large part of it in Python memory.
    rng = np.random.default_rng(0)
    n, m = 4000, 1000
    samples = [f"S{i}" for i in range(n)]
    codes = np.array(["0/0", "0|1", "1/0", "1|1"])
    genotypes = rng.integers(0, 4, size=(m, n))
    path = tmp_path / "wide.vcf"
    with path.open("w", encoding="ascii") as handle:
        handle.write("\n".join([*HEADER, "\t".join([*COLUMNS, *samples])]) + "\n")
        for j in range(m):
            handle.write(
                f"chr1\t{j + 1}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(codes[genotypes[j]])
            )
            handle.write("\n")
    tracemalloc.start()
    try:
        matrix = read_vcf(path, out=tmp_path / "wide.i8", chunk_variants=8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * m / 4, f"peak {peak} bytes for a {n * m}-byte matrix"
    expected = np.array([0, 1, 1, 2])[genotypes].T
    np.testing.assert_array_equal(matrix.dosages, expected)


# ---------------------------------------------------------------- hand-written VCFs


def test_read_vcf__calls_phasing_and_missing_ids(tmp_path):
    path = write_vcf(
        tmp_path / "small.vcf",
        ["a", "b", "c"],
        [
            "chr1 10 rs1 A G GT 0/0 0/1 1/1",
            "chr1 20 . C T GT 0|1 1|0 1|1",
            "chr1 30 rs3 G A GT ./. 0/. .|1",
            "2 40 . T C GT:DP 1/1:5 0/1:. 0/0:7",
        ],
    )
    matrix, report = read_vcf_with_report(path)
    assert matrix.samples == ("a", "b", "c")
    assert dosages_of(matrix) == [[0, 1, -127, 2], [1, 1, -127, 1], [2, 2, -127, 0]]
    assert MISSING == -127
    assert list(matrix.variants.columns) == list(VARIANT_COLUMNS)
    assert matrix.variants.to_dict("list") == {
        "chrom": ["chr1", "chr1", "chr1", "chr2"],
        "pos": [10, 20, 30, 40],
        "id": ["rs1", "chr1:20:C:T", "rs3", "chr2:40:T:C"],
        "ref": ["A", "C", "G", "T"],
        "alt": ["G", "T", "A", "C"],
    }
    assert report.records == report.kept == report.variants == 4
    assert report.skipped_multiallelic == report.skipped_other == report.renamed_ids == 0


def test_read_vcf__multiallelic_and_empty_records_are_skipped_and_counted(tmp_path):
    path = write_vcf(
        tmp_path / "multi.vcf",
        ["a", "b"],
        [
            "chr1 10 rs1 A G GT 0/1 1/1",
            "chr1 20 rs2 C T,G GT 0/2 1/2",
            "chr1 30 rs3 G . GT 0/0 0/0",
            "chr1 40 rs4 T C DP 3 4",
            "chr1 50 rs5 A C GT 1/1 0/0",
        ],
    )
    matrix, report = read_vcf_with_report(path)
    assert list(matrix.variants["id"]) == ["rs1", "rs5"]
    assert dosages_of(matrix) == [[1, 2], [2, 0]]
    assert (report.records, report.kept, report.skipped_multiallelic, report.skipped_other) == (
        5,
        2,
        1,
        2,
    )
    with pytest.warns(ClarityWarning, match=r"skipped 3 of 5 records \(1 multi-allelic, 2 "):
        plain = read_vcf(path)
    np.testing.assert_array_equal(plain.dosages, matrix.dosages)


def test_read_vcf__multiallelic_records_split_when_asked(tmp_path):
    path = write_vcf(
        tmp_path / "multi.vcf",
        ["a", "b", "c"],
        ["chr1 20 rs2 C T,G GT 0/2 1/2 ./1", "chr1 30 rs3 A G GT 0/1 0/0 1/1"],
    )
    matrix, report = read_vcf_with_report(path, biallelic_only=False)
    # Each ALT gets a column counting its own copies; the shared rsID is replaced.
    assert matrix.variants.to_dict("list") == {
        "chrom": ["chr1"] * 3,
        "pos": [20, 20, 30],
        "id": ["chr1:20:C:T", "chr1:20:C:G", "rs3"],
        "ref": ["C", "C", "A"],
        "alt": ["T", "G", "G"],
    }
    assert dosages_of(matrix) == [[0, 1, 1], [1, 1, 0], [-127, -127, 2]]
    assert (report.records, report.kept, report.variants, report.renamed_ids) == (2, 2, 3, 2)


def test_read_vcf__repeated_ids_are_replaced_and_repeated_variants_rejected(tmp_path):
    path = write_vcf(
        tmp_path / "dup.vcf",
        ["a"],
        ["chr1 10 rs1 A G GT 0/1", "chr1 20 rs1 C T GT 1/1", "chr1 30 rs2 C T GT 0/0"],
    )
    matrix, report = read_vcf_with_report(path)
    assert list(matrix.variants["id"]) == ["chr1:10:A:G", "chr1:20:C:T", "rs2"]
    assert report.renamed_ids == 2
    twice = write_vcf(
        tmp_path / "twice.vcf",
        ["a"],
        ["chr1 10 rs1 A G GT 0/1", "chr1 20 rs2 C T GT 1/1", "chr1 20 rs2 C T GT 0/1"],
    )
    with pytest.raises(CorruptVCF, match=r"twice\.vcf: variant chr1:20:C:T appears 2 times"):
        read_vcf(twice)


def test_read_vcf__haploid_and_polyploid_calls_are_refused(tmp_path):
    haploid = write_vcf(
        tmp_path / "x.vcf", ["f", "m"], ["chr1 10 rs1 A G GT 0/1 1/1", "chr1 20 rs2 C T GT 0/1 1"]
    )
    with pytest.raises(InputError, match=r"record 2 \(chr1:20\): sample 'm' has 1 allele"):
        read_vcf(haploid)
    # Asked for in another order, the sample named is still the one with the haploid call.
    with pytest.raises(InputError, match=r"sample 'm' has 1 allele"):
        read_vcf(haploid, samples=["m", "f"])
    all_haploid = write_vcf(tmp_path / "y.vcf", ["m1", "m2"], ["chr1 10 rs1 A G GT 0 1"])
    with pytest.raises(InputError, match=r"sample 'm1' has 1 allele.*only diploid"):
        read_vcf(all_haploid)
    triploid = write_vcf(tmp_path / "t.vcf", ["a", "b"], ["chr1 10 rs1 A G GT 0/1 0/1/1"])
    with pytest.raises(InputError, match=r"sample 'b' has 3 allele"):
        read_vcf(triploid)


def test_read_vcf__malformed_record_is_named(tmp_path):
    path = write_vcf(
        tmp_path / "bad.vcf", ["a", "b"], ["chr1 10 rs1 A G GT 0/1 1/1", "chr1 20 rs2 C T GT 0/1"]
    )
    with pytest.raises(CorruptVCF, match=r"bad\.vcf: record 2 \(after chr1:10\) cannot be parsed"):
        read_vcf(path)
    out = tmp_path / "partial.i8"
    with pytest.raises(CorruptVCF):
        read_vcf(path, out=out)
    assert not out.exists()  # a partial memmap is not left behind


def test_read_vcf__missing_file_and_not_a_vcf(tmp_path):
    with pytest.raises(InputError, match=r"absent\.vcf: no such file"):
        read_vcf(tmp_path / "absent.vcf")
    text = tmp_path / "notes.vcf"
    text.write_text("hello\nworld\n")
    with pytest.raises(CorruptVCF, match=r"notes\.vcf: cannot be opened as VCF/BCF"):
        read_vcf(text)


def test_read_vcf__bcf_reads_like_the_vcf(tmp_path):
    import pysam

    path = write_vcf(
        tmp_path / "small.vcf",
        ["a", "b"],
        ["chr1 10 rs1 A G GT 0/1 1|1", "chr1 20 . C T GT ./. 0/0"],
    )
    bcf = tmp_path / "small.bcf"
    with (
        pysam.VariantFile(str(path)) as source,
        pysam.VariantFile(str(bcf), "wb", header=source.header) as sink,
    ):
        for record in source:
            sink.write(record)
    from_vcf, from_bcf = read_vcf(path), read_genotypes(bcf)
    np.testing.assert_array_equal(from_bcf.dosages, from_vcf.dosages)
    pd.testing.assert_frame_equal(from_bcf.variants, from_vcf.variants)


def test_read_vcf__parameters_are_checked(tmp_path):
    path = write_vcf(tmp_path / "small.vcf", ["a", "b"], ["chr1 10 rs1 A G GT 0/1 1/1"])
    with pytest.raises(ValueError, match=r"'chunk_variants' parameter of read_vcf .* Got 0"):
        read_vcf(path, chunk_variants=0)
    with pytest.raises(ValueError, match="not a single str"):
        read_vcf(path, samples="a")
    with pytest.raises(ValueError, match="names 'a' more than once"):
        read_vcf(path, samples=["a", "a"])
    with pytest.raises(ValueError, match="names no sample"):
        read_vcf(path, samples=[])


_CALLS = st.sampled_from(["0/0", "0/1", "1/0", "1/1", "0|0", "0|1", "1|0", "1|1", "./.", "./1"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    calls=st.integers(1, 6).flatmap(
        lambda n: st.lists(st.lists(_CALLS, min_size=n, max_size=n), min_size=0, max_size=12)
    ),
    chunk=st.integers(1, 5),
)
def test_read_vcf__any_diploid_calls_round_trip(tmp_path_factory, calls, chunk):
    width = len(calls[0]) if calls else 2
    samples = [f"s{i}" for i in range(width)]
    rows = [f"chr1 {j + 1} . A C GT {' '.join(row)}" for j, row in enumerate(calls)]
    path = write_vcf(tmp_path_factory.mktemp("prop") / "p.vcf", samples, rows)
    matrix = read_vcf(path, chunk_variants=chunk)
    value = {"0": 0, "1": 1}
    expected = [
        [
            -127 if "." in call else value[call[0]] + value[call[2]]
            for call in (row[i] for row in calls)
        ]
        for i in range(width)
    ]
    assert matrix.dosages.shape == (width, len(calls))
    assert dosages_of(matrix) == (expected if calls else [[], []])


# ---------------------------------------------------------------- PLINK


def decode_bed(path: Path, n_samples: int, n_variants: int) -> np.ndarray:
    """Decode a variant-major PLINK .bed by its specification, counting allele 1."""
    raw = np.fromfile(path, dtype=np.uint8)
    assert raw[:3].tolist() == [0x6C, 0x1B, 0x01]
    per_variant = -(-n_samples // 4)
    body = raw[3:].reshape(n_variants, per_variant)
    # Two bits per sample, low bits first: 00 = A1/A1, 01 = missing, 10 = A1/A2, 11 = A2/A2.
    codes = np.stack([(body >> shift) & 3 for shift in (0, 2, 4, 6)], axis=2)
    codes = codes.reshape(n_variants, per_variant * 4)[:, :n_samples]
    return np.array([2, -127, 1, 0], dtype=np.int8)[codes].T


def test_read_plink__missing_calls_and_orientation_follow_the_format(tmp_path):
    from bed_reader import to_bed

    values = np.array([[0, 1, 2], [2, -127, 0], [1, 1, -127], [0, 0, 2], [2, 2, 1]], dtype=np.int8)
    bed = tmp_path / "small.bed"
    to_bed(
        bed,
        values,
        properties={
            "iid": ["p1", "p2", "p3", "p4", "p5"],
            "sid": ["rs1", ".", "rs3"],
            "chromosome": ["1", "23", "26"],
            "bp_position": [100, 200, 300],
            "allele_1": ["G", "T", "C"],
            "allele_2": ["A", "C", "A"],
        },
        count_A1=True,
    )
    matrix = read_plink(bed)
    np.testing.assert_array_equal(matrix.dosages, values)
    np.testing.assert_array_equal(decode_bed(bed, 5, 3), values)
    assert matrix.samples == ("p1", "p2", "p3", "p4", "p5")
    assert matrix.variants.to_dict("list") == {
        "chrom": ["chr1", "chrX", "chrM"],
        "pos": [100, 200, 300],
        "id": ["rs1", "chrX:200:C:T", "rs3"],
        "ref": ["A", "C", "A"],
        "alt": ["G", "T", "C"],
    }


def test_read_plink__incomplete_or_damaged_filesets_are_refused(cohort, tmp_path):
    source = cohort / "genotypes"
    bed = tmp_path / "set.bed"
    bed.write_bytes((source / "cohort.bed").read_bytes())
    with pytest.raises(InputError, match=r"set\.bed: set\.bim and set\.fam not found beside it"):
        read_plink(bed)
    (tmp_path / "set.bim").write_bytes((source / "cohort.bim").read_bytes())
    (tmp_path / "set.fam").write_bytes((source / "cohort.fam").read_bytes())
    assert read_plink(bed).n_samples == 8
    bed.write_bytes((source / "cohort.bed").read_bytes()[:-5])
    with pytest.raises(InputError, match=r"set\.bed: has \d+ bytes; \d+ variants x 8 .*need"):
        read_plink(bed)
    bed.write_bytes(b"\x00\x01\x02" + (source / "cohort.bed").read_bytes()[3:])
    with pytest.raises(InputError, match=r"not a variant-major PLINK 1 \.bed"):
        read_plink(bed)
    with pytest.raises(InputError, match=r"nothing\.bed: no such file"):
        read_plink(tmp_path / "nothing.bed")


def test_read_plink__repeated_individual_ids_are_refused(tmp_path):
    from bed_reader import to_bed

    bed = tmp_path / "twins.bed"
    to_bed(
        bed,
        np.zeros((2, 1), dtype=np.int8),
        properties={"fid": ["f1", "f2"], "iid": ["x", "x"]},
    )
    with pytest.raises(InputError, match=r"twins\.fam: individual id 'x' appears 2 times"):
        read_plink(bed)


# ---------------------------------------------------------------- fastlmm's example data

EXAMPLES = importlib.resources.files("fastlmm") / "feature_selection" / "examples"


def test_read_plink__fastlmm_toydata_with_phenotypes_and_covariates():
    bed = Path(str(EXAMPLES / "toydata.5chrom.bed"))
    matrix = read_plink(bed, chunk_variants=3000)
    assert (matrix.n_samples, matrix.n_variants) == (500, 10_000)
    np.testing.assert_array_equal(matrix.dosages, decode_bed(bed, 500, 10_000))
    assert set(np.unique(matrix.dosages)) <= {0, 1, 2, -127}
    assert matrix.variants["id"].is_unique
    assert sorted(matrix.variants["chrom"].unique()) == [f"chr{i}" for i in range(1, 6)]

    phenotype = read_phenotypes(Path(str(EXAMPLES / "toydata.phe")))
    covariate = read_phenotypes(Path(str(EXAMPLES / "toydata.cov")))
    for table in (phenotype, covariate):
        assert list(table.columns) == ["PHENO1"]
        assert set(table.index) == set(matrix.samples)
        aligned = table.loc[list(matrix.samples), "PHENO1"]
        assert aligned.notna().all() and aligned.dtype == np.float64
    assert phenotype.loc["per0", "PHENO1"] == pytest.approx(0.2306)
    assert covariate.loc["per1", "PHENO1"] == pytest.approx(1.7340)

    train = read_phenotypes(Path(str(EXAMPLES / "toydataTrain.phe")))
    test = read_phenotypes(Path(str(EXAMPLES / "toydataTest.phe")))
    assert set(train.index).isdisjoint(test.index)
    assert set(train.index) | set(test.index) <= set(matrix.samples)
    assert len(train) > 200 and len(test) > 200
    np.testing.assert_array_equal(
        train["PHENO1"].to_numpy(), phenotype.loc[train.index, "PHENO1"].to_numpy()
    )


# ---------------------------------------------------------------- phenotype files


def test_read_phenotypes__the_synthetic_cohort_csv(cohort):
    table = read_phenotypes(cohort / "genotypes" / "phenotypes.tsv")
    assert table.index.name == "IID"
    assert list(table.columns) == ["additive", "depression_liability", "dominance", "epistasis"]
    assert set(table["depression_liability"]) <= {0.0, 1.0}
    assert table.index[0] == "SYN-00000"


def test_read_phenotypes__headers_separators_and_missing_codes(tmp_path):
    whitespace = tmp_path / "a.phe"
    whitespace.write_text("f1 i1 1.5 -9\nf2\ti2\tNA 2\n\nf3 i3 -9.0 .\n")
    table = read_phenotypes(whitespace)
    assert list(table.columns) == ["PHENO1", "PHENO2"]
    assert table.index.tolist() == ["i1", "i2", "i3"]
    assert table["PHENO1"].tolist()[0] == 1.5
    assert table.isna().to_numpy().tolist() == [[False, True], [True, False], [True, True]]

    plink2 = tmp_path / "b.phe"
    plink2.write_text("#FID\tIID\tbmi\nf1\ti1\t22.5\n")
    assert read_phenotypes(plink2).to_dict("index") == {"i1": {"bmi": 22.5}}
    iid_only = tmp_path / "c.phe"
    iid_only.write_text("#IID age\ni1 40\ni2 NA\n")
    assert read_phenotypes(iid_only)["age"].tolist()[0] == 40.0


def test_read_phenotypes__bad_files_are_refused(tmp_path):
    word = tmp_path / "word.phe"
    word.write_text("FID,IID,sex\nf1,i1,1\nf2,i2,male\n")
    with pytest.raises(InputError, match=r"column 'sex' holds 'male' for 'i2' \(data row 3\)"):
        read_phenotypes(word)
    twice = tmp_path / "twice.phe"
    twice.write_text("f1 i1 1\nf2 i1 2\n")
    with pytest.raises(InputError, match=r"individual id 'i1' appears more than once"):
        read_phenotypes(twice)
    narrow = tmp_path / "narrow.phe"
    narrow.write_text("f1 i1\n")
    with pytest.raises(InputError, match=r"needs FID, IID and at least one value column"):
        read_phenotypes(narrow)
    empty = tmp_path / "empty.phe"
    empty.write_text("\n")
    with pytest.raises(InputError, match="the file is empty"):
        read_phenotypes(empty)
    with pytest.raises(InputError, match="no such file"):
        read_phenotypes(tmp_path / "absent.phe")
