"""The genotype service on the bus: risks per trait, the best call set, replay, consent, refusals.

Call sets are real files (a bgzipped VCF and a PLINK fileset) written from the
simulated patients of ``_simulated.panel_and_patients``, referenced on the bus
as ingest references them.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clarity._utils import sha256_file
from clarity.bus import Bus, MemoryTransport
from clarity.contracts import (
    Envelope,
    GenotypeCallSetRef,
    GenotypeTraitRisk,
    PatientDemographics,
    Producer,
)
from clarity.genotype import DosageMatrix, GenotypeService, patient_covariates, train_panel
from clarity.store import FeatureValue, SqliteFeatureStore, materialize
from clarity.synth._files import write_plink, write_vcf
from tests.genotype._simulated import PANEL_TRAITS, panel_and_patients, simulated

WHEN = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
INGEST = Producer(service="ingest", model_name="test", model_version="1", code_version="0")
PATIENTS = 4
COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]


def _vcf(path: Path, matrix: DosageMatrix) -> Path:
    codes = np.array(["0/0", "0/1", "1/1"])
    header = [
        "##fileformat=VCFv4.2",
        *(f"##contig=<ID={c},length=250000000>" for c in ("chr1", "chr2", "chr3")),
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join([*COLUMNS, *matrix.samples]),
    ]
    rows = []
    dosages = np.asarray(matrix.dosages)
    for j, v in matrix.variants.iterrows():
        calls = "\t".join(codes[dosages[:, j]])
        rows.append(f"{v.chrom}\t{v.pos}\t{v.id}\t{v.ref}\t{v.alt}\t.\tPASS\t.\tGT\t{calls}")
    write_vcf(path, header, rows)
    return path


def _plink(prefix: Path, matrix: DosageMatrix) -> Path:
    v = matrix.variants
    write_plink(
        prefix,
        list(matrix.samples),
        v["chrom"].to_numpy(),
        v["pos"].to_numpy(),
        v["id"].to_numpy(),
        v["ref"].to_numpy(),
        v["alt"].to_numpy(),
        np.asarray(matrix.dosages),
    )
    return prefix.with_suffix(".bed")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A PLINK set with every variant, a VCF lacking a tenth of the panel's, a VCF with none."""
    panel, patients = panel_and_patients()
    root = tmp_path_factory.mktemp("genotype-service")
    some = patients.subset(samples=np.arange(PATIENTS))
    wanted = set(panel.variants["id"])
    ids = list(some.variants["id"])
    panel_columns = [i for i, v in enumerate(ids) if v in wanted]
    dropped = set(panel_columns[::10])
    vcf_columns = [i for i in range(len(ids)) if i not in dropped]
    unrelated = [i for i, v in enumerate(ids) if v not in wanted][:50]
    return {
        "bed": _plink(root / "cohort", some),
        "vcf": _vcf(root / "cohort.vcf.gz", some.subset(variants=vcf_columns)),
        "pgx": _vcf(root / "pgx.vcf.gz", some.subset(variants=unrelated)),
        "samples": some.samples,
        "matrix": some,
    }


def _ref(path: Path, sample: str, patient: str, *, fmt: str = "vcf", build: str = "grch38"):
    sides = {}
    if fmt == "plink_bed":  # as ingest references a PLINK fileset: its side files too
        sides = {
            "bim_sha256": sha256_file(path.with_suffix(".bim")),
            "fam_sha256": sha256_file(path.with_suffix(".fam")),
        }
    ref = GenotypeCallSetRef(
        uri=path.resolve().as_uri(),
        format=fmt,
        sample_id=sample,
        genome_build=build,
        sha256=sha256_file(path),
        n_variants=1,
        **sides,
    )
    return Envelope.new(
        topic="ingest.genotype",
        patient_id=patient,
        observed_at=WHEN,
        source="test",
        producer=INGEST,
        payload=ref,
    )


def _refs(files, *, kinds=("bed", "vcf", "pgx")) -> list[Envelope]:
    out = []
    for k, sample in enumerate(files["samples"]):
        for kind in kinds:
            fmt = "plink_bed" if kind == "bed" else "vcf"
            out.append(_ref(files[kind], sample, f"pat-{k}", fmt=fmt))
    return out


def _risks(bus: Bus) -> list[Envelope]:
    return [d.record for d in bus.replay("genotype.trait_risk")]


def test_run__publishes_each_trait_from_the_call_set_with_most_panel_variants(files):
    panel, _ = panel_and_patients()
    bus = Bus(transport=MemoryTransport())
    refs = _refs(files)
    bus.publish_batch(refs)
    service = GenotypeService(panel, lineage=("genotype.traits", "3", "run-1"))
    report = service.run(bus)
    assert (report.records_read, report.patients, report.rejected) == (12, 4, 0)
    assert (report.risks, report.unscored) == (8, 0)
    risks = _risks(bus)
    expected = panel.score(files["matrix"])
    plink_refs = {r.patient_id: r.event_id for r in refs if r.payload.format == "plink_bed"}
    for record in risks:
        payload = record.payload
        assert isinstance(payload, GenotypeTraitRisk)
        # The PLINK set holds every panel variant; the VCF lacks a tenth; the PGx VCF none.
        assert list(record.inputs) == [plink_refs[record.patient_id]]
        assert payload.snps_missing == 0
        k = int(record.patient_id.removeprefix("pat-"))
        want = next(r for r in expected[files["samples"][k]] if r.trait == payload.trait)
        assert payload.score == pytest.approx(want.score)
        assert payload.sample_id == files["samples"][k]
        assert record.producer.model_version == "3" and record.producer.run_id == "run-1"
    assert {r.payload.trait for r in risks} == set(PANEL_TRAITS)
    # Nothing new on a second run, nor when a fresh service replays the same records.
    assert service.run(bus).risks == 0
    replayed = GenotypeService(panel, lineage=("genotype.traits", "3", "run-1"))
    assert replayed.run(bus, group="again").risks == 0
    assert len(_risks(bus)) == 8
    # A new panel (another version) reads every call set again and re-scores every patient.
    refreshed = dataclasses.replace(panel, settings={**panel.settings, "refit": "2024-06"})
    assert refreshed.version != panel.version
    rescored = GenotypeService(refreshed, lineage=("genotype.traits", "4", "run-2")).run(bus)
    assert (rescored.patients, rescored.risks) == (4, 8)
    assert {r.payload.panel_version for r in _risks(bus)} == {panel.version, refreshed.version}


def test_run__each_file_is_read_once_for_all_its_patients(files, monkeypatch):
    import clarity.genotype._service as module

    panel, _ = panel_and_patients()
    reads: list[str] = []
    original = module.read_genotypes

    def counting(path, **kwargs):
        reads.append(Path(path).name)
        return original(path, **kwargs)

    monkeypatch.setattr(module, "read_genotypes", counting)
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch(_refs(files))  # three call sets for each of the four patients
    GenotypeService(panel).run(bus)
    assert sorted(reads) == ["cohort.bed", "cohort.vcf.gz", "pgx.vcf.gz"]


def test_run__a_changed_or_foreign_call_set_is_dead_lettered_and_the_others_used(files, tmp_path):
    panel, _ = panel_and_patients()
    sample = files["samples"][0]
    copies = {}
    for name in ("changed", "grch37", "nobody"):
        copies[name] = tmp_path / f"{name}.vcf.gz"
        copies[name].write_bytes(files["vcf"].read_bytes())
    changed = _ref(copies["changed"], sample, "pat-0")
    copies["changed"].write_bytes(copies["changed"].read_bytes() + b"\n")
    # Each refused reference names its own file: a newer reference to one location replaces
    # the older, so three claims about one file would leave only the last.
    refs = [
        changed,
        _ref(copies["grch37"], sample, "pat-0", build="grch37"),
        _ref(copies["nobody"], "NOBODY", "pat-0"),
        _ref(files["vcf"], sample, "pat-0"),
    ]
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch(refs)
    report = GenotypeService(panel).run(bus)
    assert (report.rejected, report.risks) == (3, 2)
    reasons = sorted(d.record.reason for d in bus.subscribe_dead_letters(group="ops").poll())
    assert any("missing or changed since it was referenced" in r for r in reasons)
    assert any("grch37 positions; the panel's are grch38" in r for r in reasons)
    assert any("no sample named 'NOBODY'" in r for r in reasons)
    risks = _risks(bus)
    assert {tuple(r.inputs) for r in risks} == {(refs[3].event_id,)}
    # The VCF lacks a tenth of the panel's variants: scored, and the gaps are counted.
    assert all(r.payload.snps_missing > 0 and r.payload.score is not None for r in risks)


def test_run__a_plink_set_whose_fam_changed_is_refused(files, tmp_path):
    panel, _ = panel_and_patients()
    for suffix in (".bed", ".bim", ".fam"):
        shutil.copy(files["bed"].with_suffix(suffix), tmp_path / f"set{suffix}")
    sample = files["samples"][0]
    ref = _ref(tmp_path / "set.bed", sample, "pat-0", fmt="plink_bed")
    # The same people listed in another order: the .bed's rows would be someone else's.
    fam = (tmp_path / "set.fam").read_text().splitlines()
    (tmp_path / "set.fam").write_text("\n".join(fam[::-1]) + "\n")
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch([ref])
    report = GenotypeService(panel).run(bus)
    assert (report.rejected, report.risks) == (1, 0)
    [letter] = bus.subscribe_dead_letters(group="ops").poll()
    assert "set.fam: missing or changed since it was referenced" in letter.record.reason


def test_run__a_patient_without_genomic_consent_is_skipped(files):
    panel, _ = panel_and_patients()
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch(_refs(files, kinds=("bed",)))
    report = GenotypeService(panel, allowed=lambda patient, _: patient != "pat-1").run(bus)
    assert (report.skipped, report.patients) == (1, 3)
    assert "pat-1" not in {r.patient_id for r in _risks(bus)}
    # Consent to the inputs but not to the output topic: read, never published.
    bus2 = Bus(transport=MemoryTransport())
    bus2.publish_batch(_refs(files, kinds=("bed",)))
    out = GenotypeService(panel, allowed=lambda _, topic: topic != "genotype.trait_risk").run(bus2)
    assert (out.records_read, out.risks, out.skipped) == (4, 0, 0)


def test_run__a_restarted_service_reads_earlier_call_sets_from_the_store(files, tmp_path):
    panel, _ = panel_and_patients()
    bus = Bus(transport=MemoryTransport())
    store = SqliteFeatureStore(tmp_path / "store.sqlite3")
    sample = files["samples"][0]
    vcf = _ref(files["vcf"], sample, "pat-0")
    bus.publish_batch([vcf])
    GenotypeService(panel, store=store).run(bus)
    materialize(bus, store, group="store")
    first = {r.payload.trait: r for r in _risks(bus)}
    assert all(list(r.inputs) == [vcf.event_id] for r in first.values())
    # After a restart the PLINK set arrives: compared with the VCF the store remembers, it wins.
    plink = _ref(files["bed"], sample, "pat-0", fmt="plink_bed")
    bus.publish_batch([plink])
    report = GenotypeService(panel, store=store).run(bus)
    assert report.risks == 2
    newest = [r for r in _risks(bus) if list(r.inputs) == [plink.event_id]]
    assert {r.payload.trait for r in newest} == set(PANEL_TRAITS)
    assert all(r.payload.snps_missing == 0 for r in newest)
    store.close()


def test_run__a_panel_with_age_and_sex_reads_them_per_patient(files, tmp_path):
    data = simulated()
    reference = data.matrix.subset(samples=np.arange(300))
    rng = np.random.default_rng(0)
    covariates = pd.DataFrame(
        {"age": rng.uniform(20, 70, 300), "sex": rng.integers(0, 2, 300).astype(float)},
        index=list(reference.samples),
    )
    phenotypes = pd.DataFrame({"additive": data.trait("additive")[:300]}, index=covariates.index)
    panel = train_panel(
        reference,
        phenotypes,
        covariates=covariates,
        n_pcs=0,
        kind="xgboost",
        selector={"n_keep": 10, "prescreen": 100, "shrink": 0.25, "xgb_params": {"nthread": 1}},
        n_bootstrap=0,
        xgb_params={"nthread": 1},
    )
    assert panel.covariates == ("age", "sex")
    known = {"pat-0": {"age": 41.0, "sex": 1.0}, "pat-1": {"age": None, "sex": 0.0}}
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch(_refs(files, kinds=("bed",))[:2])
    service = GenotypeService(panel, covariates=lambda patient: known[patient])
    report = service.run(bus)
    # The record lacks pat-1's age: the call set is fine, so nothing is dead-lettered; the risk
    # says why it has no score.
    assert (report.risks, report.unscored, report.rejected) == (2, 1, 0)
    unscored = next(r.payload for r in _risks(bus) if r.patient_id == "pat-1")
    assert unscored.score is None
    assert unscored.reason == "no age on the patient's record, which the model reads"
    # The age arrives (ingest.patient): pat-1 is scored without a new call set.
    known["pat-1"]["age"] = 35.0
    demographics = PatientDemographics(sex="female", birth_year=1989, ancestry="european")
    bus.publish_batch(
        [
            Envelope.new(
                topic="ingest.patient",
                patient_id="pat-1",
                observed_at=WHEN,
                source="test",
                producer=INGEST,
                payload=demographics,
            )
        ]
    )
    again = service.run(bus)
    assert (again.risks, again.unscored) == (1, 0)
    scored = [r.payload for r in _risks(bus) if r.patient_id == "pat-1" and r.payload.score]
    assert len(scored) == 1
    # patient_covariates reads them from the store's demographics.
    store = SqliteFeatureStore(tmp_path / "store.sqlite3")
    source = _refs(files)[0].event_id
    store.put(
        [
            FeatureValue("pat-0", "demographics.birth_year", 1980, WHEN, source, {}),
            FeatureValue("pat-0", "demographics.sex", "male", WHEN, source, {}),
        ]
    )
    assert patient_covariates(store, "pat-0", year=2024) == {"age": 44.0, "sex": 1.0}
    assert patient_covariates(store, "pat-9", year=2024) == {"age": None, "sex": None}
    store.close()
