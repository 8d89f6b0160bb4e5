"""VCF and PLINK files: checked end to end, referenced per sample, refused whole when broken."""

from __future__ import annotations

import gzip
import shutil

import pytest

from clarity._utils import sha256_file
from clarity.errors import InputError
from clarity.ingest import detect_format
from tests.ingest.conftest import dead_letters, records, run

HEADER = [
    "##fileformat=VCFv4.2",
    "##contig=<ID=chr1,length=248956422>",
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS-1\tS-2",
]


def _vcf(path, rows, header=HEADER):
    path.write_text("\n".join([*header, *rows]) + "\n")
    return path


def test_vcf__a_good_file_references_each_sample(bus, cohort):
    report = run(bus, cohort / "genotypes" / "cohort.vcf.gz")
    assert report.ok and report.accepted == 8
    refs = records(bus)
    assert {r.payload.genome_build for r in refs} == {"grch38"}
    assert len({r.payload.sha256 for r in refs}) == 1 and refs[0].payload.n_variants > 1000
    assert refs[0].payload.uri.startswith("file://")


def test_vcf__plain_text_with_build_from_contig_lengths(bus, tmp_path):
    path = _vcf(
        tmp_path / "x.vcf",
        [
            "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1",
            "chr1\t200\t.\tC\tT\t.\tPASS\t.\tGT\t0/0\t0/1",
        ],
    )
    report = run(bus, path)
    assert report.accepted == 2 and records(bus)[0].payload.n_variants == 2


@pytest.mark.parametrize(
    ("rows", "header", "reason"),
    [
        (
            [
                "chr1\t200\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1",
                "chr1\t100\t.\tC\tT\t.\tPASS\t.\tGT\t0/0\t0/1",
            ],
            HEADER,
            "not sorted",
        ),
        (
            ["chr1\t100\t.\tA\tG\t.\tPASS\t.\tDP\t3\t4"],
            [*HEADER[:2], '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="d">', HEADER[3]],
            "has no GT field",
        ),
        (
            ["chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1"],
            ["##fileformat=VCFv4.2", "##contig=<ID=chr1>", *HEADER[2:]],
            "does not say its genome build",
        ),
        (
            [],
            [*HEADER[:3], "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"],
            "has no sample columns",
        ),
    ],
)
def test_vcf__a_broken_file_is_refused_whole(bus, tmp_path, rows, header, reason):
    report = run(bus, _vcf(tmp_path / "x.vcf", rows, header))
    assert (report.accepted, report.rejected) == (0, 1)
    assert reason in dead_letters(bus)[0].reason


def test_vcf__a_truncated_bgzip_file_is_refused(bus, cohort, tmp_path):
    path = tmp_path / "cut.vcf.gz"
    data = (cohort / "genotypes" / "cohort.vcf.gz").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    report = run(bus, path)
    assert (report.accepted, report.rejected) == (0, 1)
    assert "BGZF end-of-file block is missing" in dead_letters(bus)[0].reason


def test_vcf__a_plain_gzip_file_without_bgzf_is_refused(bus, tmp_path):
    path = tmp_path / "x.vcf.gz"
    path.write_bytes(
        gzip.compress(
            ("\n".join([*HEADER, "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1"]) + "\n").encode()
        )
    )
    report = run(bus, path)
    assert report.rejected == 1


def test_plink__a_fileset_references_each_individual(bus, cohort):
    report = run(bus, cohort / "genotypes" / "cohort.bed")
    assert report.ok and report.accepted == 8
    assert {r.payload.format.value for r in records(bus)} == {"plink_bed"}
    # The side files are fingerprinted too: they say whose genotypes the .bed holds.
    ref = records(bus)[0].payload
    assert ref.fam_sha256 == sha256_file(cohort / "genotypes" / "cohort.fam")
    assert ref.bim_sha256 == sha256_file(cohort / "genotypes" / "cohort.bim")


@pytest.mark.parametrize("damage", ["truncate", "no_fam", "magic"])
def test_plink__a_damaged_fileset_is_refused(bus, cohort, tmp_path, damage):
    for suffix in (".bed", ".bim", ".fam"):
        shutil.copy(cohort / "genotypes" / f"cohort{suffix}", tmp_path / f"g{suffix}")
    bed = tmp_path / "g.bed"
    if damage == "truncate":
        bed.write_bytes(bed.read_bytes()[:-10])
    elif damage == "no_fam":
        (tmp_path / "g.fam").unlink()
    else:
        bed.write_bytes(b"\x00\x00\x00" + bed.read_bytes()[3:])
    report = run(bus, bed)
    assert (report.accepted, report.rejected) == (0, 1)
    assert {
        "truncate": "truncated or mismatched",
        "no_fam": "missing g.fam",
        "magic": "not a variant-major",
    }[damage] in dead_letters(bus)[0].reason


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("b.json", "{}", "fhir"),
        ("g.vcf.gz", "", "vcf"),
        ("g.bed", "", "plink"),
        ("a.csv", "timestamp,date,activity\n", "actigraphy"),
        ("p.csv", "patient_id,gene,diplotype,activity_score\n", "pgx_panel"),
        ("r.csv", "timestamp,rr_ms\n", "rr"),
        ("e.csv", "# sampling_rate_hz=130\ntimestamp,ecg_uv\n", "ecg"),
        ("m.csv", "participant_id,date,mood\n", "mood"),
        ("polar.txt", "Phone timestamp;RR-interval [ms]\n", "rr"),
    ],
)
def test_detect_format__by_name_and_header(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    assert detect_format(path) == expected


def test_detect_format__unknown_files_are_an_input_error(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("name,comment\n")
    with pytest.raises(InputError, match="Cannot tell the format"):
        detect_format(path)
    with pytest.raises(InputError, match="Cannot tell the format"):
        detect_format(tmp_path / "image.png")
