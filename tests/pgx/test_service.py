"""The PGx service on the bus: outputs, phenoconversion, replay, consent, refusals."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from clarity._utils import sha256_file
from clarity.bus import Bus, MemoryTransport
from clarity.contracts import (
    Envelope,
    GeneCall,
    GenotypeCallSetRef,
    MedicationStatement,
    PGxGuidance,
    PGxPanelResult,
    PGxPhenotype,
    Producer,
)
from clarity.pgx import PgxService
from tests.conftest import needs

EXAMPLE = (
    Path(__file__).resolve().parents[3] / "shared/reference/pharmcat/examples/pharmcat.example.vcf"
)
needs_example = needs(EXAMPLE)
WHEN = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
INGEST = Producer(service="ingest", model_name="test", model_version="1", code_version="0")


def _record(topic: str, payload, patient: str = "pat-1", when: datetime = WHEN) -> Envelope:
    return Envelope.new(
        topic=topic,
        patient_id=patient,
        observed_at=when,
        source="test",
        producer=INGEST,
        payload=payload,
    )


def _genotype(path: Path, patient: str = "pat-1") -> Envelope:
    ref = GenotypeCallSetRef(
        uri=str(path),
        format="vcf",
        sample_id="Sample_1",
        genome_build="grch38",
        sha256=sha256_file(path),
        n_variants=1202,
    )
    return _record("ingest.genotype", ref, patient)


def _panel(patient: str = "pat-1") -> Envelope:
    calls = (
        GeneCall(gene="CYP2D6", diplotype="*1/*3"),
        GeneCall(gene="HLA-B", diplotype="*15:02/*57:01"),
    )
    return _record("ingest.pgx", PGxPanelResult(lab="L", panel="P", calls=calls), patient)


def _medication(name: str, status: str = "active", ended: date | None = None) -> Envelope:
    payload = MedicationStatement(
        rxnorm="32937",
        name=name,
        status=status,
        started_on=date(2024, 2, 1),
        ended_on=ended,
        fhir_id=f"med-{name}",
    )
    return _record("ingest.medication", payload)


def _outputs(bus: Bus, topic: str, group: str) -> list[Envelope]:
    with bus.subscribe(topic, group=group) as consumer:
        return [d.record for d in consumer.poll(max_records=1000)]


@pytest.fixture
def vcf(tmp_path: Path) -> Path:
    target = tmp_path / "sample.vcf"
    shutil.copy(EXAMPLE, target)
    return target


@needs_example
def test_run__publishes_phenotypes_and_guidance_with_phenoconversion(vcf: Path):
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch([_genotype(vcf), _panel(), _medication("paroxetine")])
    report = PgxService().run(bus)
    phenotypes = {
        r.payload.gene: r.payload
        for r in _outputs(bus, "pgx.phenotype", "t1")
        if isinstance(r.payload, PGxPhenotype)
    }
    assert set(phenotypes) == {"CYP2B6", "CYP2C19", "CYP2C9", "CYP2D6", "HLA-B"}
    cyp2d6 = phenotypes["CYP2D6"]
    assert cyp2d6.source.value == "panel" and cyp2d6.diplotypes == ("*1/*3",)
    assert cyp2d6.phenotype == "Intermediate Metabolizer"
    assert cyp2d6.adjusted_phenotype == "Poor Metabolizer"
    guidance = {
        r.payload.drug: r
        for r in _outputs(bus, "pgx.guidance", "t2")
        if isinstance(r.payload, PGxGuidance)
    }
    paroxetine = guidance["paroxetine"].payload
    assert isinstance(paroxetine, PGxGuidance)
    assert paroxetine.phenoconverted and paroxetine.phenotypes["CYP2D6"] == "Poor Metabolizer"
    carbamazepine = guidance["carbamazepine"].payload
    assert isinstance(carbamazepine, PGxGuidance)
    assert carbamazepine.recommendations[0].action.value == "avoid"
    # Lineage: every output names the inputs it came from.
    assert len(guidance["paroxetine"].inputs) == 3
    assert report.rejected == 0 and report.patients >= 1


@needs_example
def test_run__replay_publishes_nothing_new_but_a_stopped_drug_does(vcf: Path):
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch([_genotype(vcf), _panel(), _medication("paroxetine")])
    first = PgxService().run(bus)
    service = PgxService()
    again = service.run(bus, group="pgx-replay")
    assert first.phenotypes > 0 and again.phenotypes == 0 and again.guidance == 0
    bus.publish(_medication("paroxetine", status="stopped", ended=date(2024, 2, 20)))
    later = service.run(bus, group="pgx-replay")
    assert later.records_read == 1 and later.phenotypes == 5
    latest = [
        r.payload
        for r in _outputs(bus, "pgx.phenotype", "t3")
        if isinstance(r.payload, PGxPhenotype) and r.payload.gene == "CYP2D6"
    ]
    assert [p.adjusted_phenotype for p in latest] == [
        "Poor Metabolizer",
        "Intermediate Metabolizer",
    ]


@needs_example
def test_run__a_changed_vcf_is_refused_with_the_reason(vcf: Path):
    bus = Bus(transport=MemoryTransport())
    bus.publish(_genotype(vcf))
    vcf.write_text(vcf.read_text().replace("0/0", "0/1", 1))
    report = PgxService().run(bus)
    assert report.rejected == 1
    with bus.subscribe_dead_letters(group="dl") as consumer:
        [letter] = [d.record for d in consumer.poll()]
    assert "changed since it was referenced" in letter.reason
    assert _outputs(bus, "pgx.phenotype", "t4") == []


@needs_example
def test_run__skips_patients_without_consent(vcf: Path):
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch([_genotype(vcf, "pat-1"), _genotype(vcf, "pat-2")])
    report = PgxService(allowed=lambda patient, _topic: patient != "pat-2").run(bus)
    assert report.skipped == 1
    assert {r.patient_id for r in _outputs(bus, "pgx.phenotype", "t5")} == {"pat-1"}


def test_run__panel_only_patient_gets_partial_guidance():
    bus = Bus(transport=MemoryTransport())
    calls = (GeneCall(gene="CYP2C19", diplotype="*2/*2"),)
    bus.publish(_record("ingest.pgx", PGxPanelResult(lab="L", panel="P", calls=calls)))
    PgxService().run(bus)
    guidance = {
        r.payload.drug: r.payload
        for r in _outputs(bus, "pgx.guidance", "t6")
        if isinstance(r.payload, PGxGuidance)
    }
    assert guidance["escitalopram"].status.value == "complete"
    assert guidance["amitriptyline"].status.value == "partial"
    assert guidance["amitriptyline"].missing_genes == ("CYP2D6",)
    assert guidance["paroxetine"].status.value == "no_recommendation"


@needs_example
def test_run__a_restarted_service_finds_earlier_inputs_in_the_store(vcf: Path, tmp_path: Path):
    from clarity.store import SqliteFeatureStore, materialize

    bus = Bus(transport=MemoryTransport())
    bus.publish_batch([_genotype(vcf), _panel()])
    store = SqliteFeatureStore(tmp_path / "store.sqlite3")
    try:
        PgxService(store=store).run(bus)
        materialize(bus, store, group="history")
        bus.publish(_medication("paroxetine"))
        # A new process: no memory of the VCF or the panel, only the store.
        report = PgxService(store=store).run(bus)
        assert report.records_read == 1 and report.phenotypes == 5
        latest = [
            r.payload
            for r in _outputs(bus, "pgx.phenotype", "t7")
            if isinstance(r.payload, PGxPhenotype) and r.payload.gene == "CYP2D6"
        ]
        assert latest[-1].adjusted_phenotype == "Poor Metabolizer"
        assert latest[-1].diplotypes == ("*1/*3",)
    finally:
        store.close()


def test_clinical_features__come_from_the_store(tmp_path: Path):
    from clarity.pgx._service import clinical_features
    from clarity.store import SqliteFeatureStore, materialize
    from clarity.testing import example_patient_records

    bus = Bus(transport=MemoryTransport())
    records = example_patient_records(0)
    bus.publish_batch(records)
    store = SqliteFeatureStore(tmp_path / "store.sqlite3")
    try:
        materialize(bus, store, group="history")
        features = clinical_features(store, records[0].patient_id, today=date(2026, 1, 1))
    finally:
        store.close()
    assert features["sex"] in ("female", "male")
    assert 0 <= features["age"] <= 120 and 0 <= features["baseline_phq9"] <= 27
    assert features["prior_nonresponse"] is None


@needs_example
def test_run__guidance_carries_research_grade_response_estimates(vcf: Path, pgx_cohort: Path):
    from clarity.pgx._response import DrugResponseModel, training_frame
    from clarity.pgx._service import response_from_model

    model = DrugResponseModel().fit(training_frame(pgx_cohort))
    service = PgxService(
        response=response_from_model(model, lambda _patient: {"age": 40}),
        response_lineage=("pgx.response", "7", None),
    )
    bus = Bus(transport=MemoryTransport())
    no_pgx = _medication("sertraline")
    no_pgx = no_pgx.model_copy(update={"patient_id": "pat-9"})
    bus.publish_batch([_genotype(vcf), _panel(), no_pgx])
    service.run(bus)
    guidance = {
        (r.patient_id, r.payload.drug): r
        for r in _outputs(bus, "pgx.guidance", "t8")
        if isinstance(r.payload, PGxGuidance)
    }
    with_pgx = guidance["pat-1", "escitalopram"]
    assert with_pgx.producer.model_name == "pgx.response" and with_pgx.producer.model_version == "7"
    estimate = with_pgx.payload.response
    assert estimate is not None and estimate.source.value == "model" and estimate.research_grade
    # Without any PGx data: the drug's population prior, and no CPIC recommendation.
    fallback = guidance["pat-9", "escitalopram"].payload
    assert fallback.status.value == "no_recommendation"
    assert fallback.response is not None and fallback.response.source.value == "population_prior"
    assert fallback.response.response_probability == pytest.approx(
        model.priors()["escitalopram"][0]
    )
    # Carbamazepine is not a drug the response model knows: guidance only.
    assert guidance["pat-1", "carbamazepine"].payload.response is None
