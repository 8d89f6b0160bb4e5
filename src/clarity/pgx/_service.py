"""The PGx service: calls, phenotypes and guidance for each patient on the bus.

It reads ``ingest.genotype`` (VCF call-set references), ``ingest.pgx`` (lab
panels) and ``ingest.medication`` (for phenoconversion) as consumer groups.
Whenever one of a patient's inputs changes it publishes that patient's
``pgx.phenotype`` per gene and ``pgx.guidance`` per drug. Event ids derive from
the inputs and the data versions, so replay publishes nothing new, while a new
medication (or a new table version) publishes a new result.

A VCF whose digest no longer matches its reference is refused (dead letter):
the bus promised a file, and a changed file is not that file.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from clarity._utils import FileDigests, referenced_file, sha256_file
from clarity._version_info import __version__
from clarity.bus import Bus, Round, Rounds
from clarity.contracts import (
    Envelope,
    GenotypeCallSetRef,
    MedicationStatement,
    PGxGuidance,
    PGxPanelResult,
    PGxPhenotype,
    PGxSource,
    Producer,
    ResponseEstimate,
    ResponseSource,
    event_id_for,
)
from clarity.errors import ClarityError, InputError
from clarity.pgx._advise import guidance_for
from clarity.pgx._alleles import VCF_GENES, gene_definition
from clarity.pgx._calling import (
    NO_RESULT,
    combine_sources,
    phenotype_from_call,
    phenotype_from_match,
)
from clarity.pgx._guidance import guidance_drugs
from clarity.pgx._matcher import match_gene
from clarity.pgx._outside import OUTSIDE_GENES
from clarity.pgx._phenoconversion import inhibitor_table
from clarity.pgx._vcf import PgxGenotypes, read_pgx_vcf
from clarity.store import FeatureStore

__all__ = [
    "PatientInputs",
    "PgxService",
    "PgxServiceReport",
    "clinical_features",
    "patient_results",
    "response_from_model",
]

log = logging.getLogger(__name__)

Allowed = Callable[[str, str], bool]
ResponseFn = Callable[[str, dict[str, PGxPhenotype], list[str]], dict[str, ResponseEstimate]]
_TOPICS = ("ingest.genotype", "ingest.pgx", "ingest.medication")
_CACHED_FILES = 2


@dataclass
class PatientInputs:
    """What the service knows of one patient.

    ``genotypes`` holds the patient's VCF/BCF call sets by location (a cohort
    may reference a genome-wide VCF beside a PGx panel VCF); PLINK call sets
    carry no pharmacogene loci and are not kept.

    Parameters
    ----------
    genotypes
        ``ingest.genotype`` records (call-set references) by call-set URI; a
        newer reference to the same location replaces the older.
    panels
        ``ingest.pgx`` records (lab panel results) by event id.
    medications
        ``ingest.medication`` records by FHIR id, or by ``name:started_on``
        when the statement has none; a newer statement replaces the older.
    """

    genotypes: dict[str, Envelope] = field(default_factory=dict)
    panels: dict[str, Envelope] = field(default_factory=dict)
    medications: dict[str, Envelope] = field(default_factory=dict)

    def current_medications(self, on: date | None = None) -> list[str]:
        """Return the names of the medications taken now (active, not ended).

        Parameters
        ----------
        on
            The day to judge "now" on; None means today. A medication that
            ended before this day is not current.

        Returns
        -------
        list of str
            Lower-cased medication names, sorted, each once.
        """
        names = []
        for record in self.medications.values():
            payload = record.payload
            assert isinstance(payload, MedicationStatement)
            ended = payload.ended_on is not None and payload.ended_on < (on or date.today())
            # Only what is taken now inhibits: not a drug intended, paused or stopped.
            if payload.status.value == "active" and not ended:
                names.append(payload.name.lower())
        return sorted(set(names))

    def inputs(self) -> list[Envelope]:
        """Return the records the results derive from, for lineage.

        Returns
        -------
        list of Envelope
            The call-set references by location, then the panels by observed
            time, then the medications by event id.
        """
        found = [self.genotypes[k] for k in sorted(self.genotypes)]
        found += sorted(self.panels.values(), key=lambda r: (r.observed_at, str(r.event_id)))
        return found + sorted(self.medications.values(), key=lambda r: str(r.event_id))

    def without(self, event_ids: set[uuid.UUID]) -> None:
        """Forget the given records (refused inputs).

        Parameters
        ----------
        event_ids
            Event ids of the records to drop, from any of the three tables.
        """
        for table in (self.genotypes, self.panels, self.medications):
            for key in [k for k, r in table.items() if r.event_id in event_ids]:
                del table[key]


SampleReader = Callable[[Path, str], PgxGenotypes]


def _read_sample(path: Path, sample: str) -> PgxGenotypes:
    [found] = read_pgx_vcf(path, samples=[sample])
    return found


def _checked_path(ref: GenotypeCallSetRef, digest: Callable[[Path], str]) -> Path:
    if ref.genome_build.value != "grch38":
        raise InputError(
            f"{ref.uri}: {ref.genome_build.value} coordinates; the definitions are GRCh38"
        )
    return referenced_file(ref.uri, ref.sha256, digest=digest)


def _panel_results(panels: list[Envelope], medications: list[str]) -> dict[str, PGxPhenotype]:
    """Merge every lab panel, gene by gene: the newest call wins, disagreements are kept."""
    reported: dict[str, PGxPhenotype] = {}
    for record in sorted(panels, key=lambda r: (r.observed_at, str(r.event_id))):
        panel = record.payload
        assert isinstance(panel, PGxPanelResult)
        for call in panel.calls:
            if call.gene not in OUTSIDE_GENES:
                continue  # a gene Clarity does not interpret (SLCO1B1, CYP3A5, ...)
            try:
                result = phenotype_from_call(
                    call.gene,
                    call.diplotype,
                    source=PGxSource.panel,
                    reported_phenotype=call.phenotype,
                    reported_activity=call.activity_score,
                    medications=medications,
                )
            except ClarityError as error:
                result = PGxPhenotype(
                    gene=call.gene,
                    source=PGxSource.panel,
                    called=False,
                    phenotype=NO_RESULT,
                    adjusted_phenotype=NO_RESULT,
                    messages=(f"{panel.lab} {panel.panel}: {error}",),
                )
            earlier = reported.get(call.gene)
            if earlier is not None and earlier.diplotypes != result.diplotypes:
                result = result.model_copy(
                    update={
                        "conflicts": (
                            *result.conflicts,
                            f"{call.gene}: an earlier panel reported "
                            f"{', '.join(earlier.diplotypes) or earlier.phenotype}; "
                            f"{panel.lab} {panel.panel} ({record.observed_at.date()}) reports "
                            f"{call.diplotype}; the newer is used.",
                        )
                    }
                )
            reported[call.gene] = result
    return reported


def patient_results(
    inputs: PatientInputs,
    *,
    reader: SampleReader = _read_sample,
    digest: Callable[[Path], str] = sha256_file,
) -> tuple[dict[str, PGxPhenotype], dict[uuid.UUID, str]]:
    """Return a patient's gene results from their VCF call sets and lab panels.

    Each gene is called from the call set that has most of its loci; a call
    set with none of them (a genome-wide array) contributes nothing. A call
    set that cannot be used is left out and named, not allowed to block the
    patient's other results.

    Parameters
    ----------
    inputs
        The patient's records.
    reader
        ``reader(path, sample)``: genotypes at the PGx loci (cached by the service).
    digest
        SHA-256 of a file (cached by the service).

    Returns
    -------
    tuple
        Gene to result, and the refused genotype records (event id to reason:
        missing or changed since referenced, GRCh37, unreadable).
    """
    medications = inputs.current_medications()
    best: dict[str, tuple[int, PGxPhenotype]] = {}
    refused: dict[uuid.UUID, str] = {}
    for uri in sorted(inputs.genotypes):
        record = inputs.genotypes[uri]
        ref = record.payload
        assert isinstance(ref, GenotypeCallSetRef)
        try:
            sample = reader(_checked_path(ref, digest), ref.sample_id)
        except ClarityError as error:
            refused[record.event_id] = str(error)
            continue
        for gene in VCF_GENES:
            calls = sample.calls[gene]
            if not calls:
                continue
            match = match_gene(gene_definition(gene), calls)
            if gene not in best or len(calls) > best[gene][0]:
                result = phenotype_from_match(match, sample.issues_of(gene), medications)
                best[gene] = (len(calls), result)
    notes = tuple(f"Not used: {reason}" for reason in refused.values())
    vcf = {
        gene: result.model_copy(update={"messages": (*result.messages, *notes)})
        for gene, (_, result) in best.items()
    }
    reported = _panel_results(list(inputs.panels.values()), medications)
    return combine_sources(vcf, reported), refused


@dataclass
class PgxServiceReport:
    """What one :meth:`PgxService.run` did.

    Parameters
    ----------
    records_read
        Input records read from the three topics, skipped ones included.
    patients
        Patients whose results were published, once per round they were
        touched in.
    phenotypes
        ``pgx.phenotype`` records published (duplicates of a replay not counted).
    guidance
        ``pgx.guidance`` records published (duplicates of a replay not counted).
    rejected
        Input records sent to the dead letters, with the reason.
    skipped
        Input records not used because ``allowed`` refused them (no consent).
    """

    records_read: int = 0
    patients: int = 0
    phenotypes: int = 0
    guidance: int = 0
    rejected: int = 0
    skipped: int = 0


class PgxService:
    """Publish PGx phenotypes and CPIC guidance as a patient's inputs arrive.

    Parameters
    ----------
    response
        ``response(patient_id, phenotypes, drugs)``: the drug-response model's
        estimates per drug, or None to publish guidance without them.
    response_lineage
        ``(model_name, model_version, run_id)`` of the response model.
    store
        Where to find a patient's earlier inputs (read in an earlier run).
    allowed
        ``allowed(patient_id, topic)``: False skips the record (no consent).
    batch_size
        Records per poll.
    """

    def __init__(
        self,
        *,
        response: ResponseFn | None = None,
        response_lineage: tuple[str, str, str | None] = ("pgx.cpic", "tables", None),
        store: FeatureStore | None = None,
        allowed: Allowed | None = None,
        batch_size: int = 256,
    ) -> None:
        self.response = response
        self.store = store
        self.allowed = allowed
        self.batch_size = batch_size
        name, version, run_id = response_lineage
        self.producer = Producer(
            service="pgx",
            model_name=name,
            model_version=version,
            run_id=run_id,
            code_version=__version__,
        )
        self._patients: dict[str, PatientInputs] = {}
        self._refused: dict[uuid.UUID, str] = {}
        self._digest = FileDigests()
        # Whole-file reads of recent call sets: a cohort VCF is read once, not per patient.
        self._files: OrderedDict[tuple[Path, float], dict[str, PgxGenotypes]] = OrderedDict()

    def _read_sample(self, path: Path, sample: str) -> PgxGenotypes:
        key = (path.resolve(), path.stat().st_mtime)
        if key not in self._files:
            self._files[key] = {s.sample: s for s in read_pgx_vcf(path)}
            while len(self._files) > _CACHED_FILES:
                self._files.popitem(last=False)
        self._files.move_to_end(key)
        found = self._files[key].get(sample)
        if found is None:
            raise InputError(f"{path.name}: no sample column named {sample!r}")
        return found

    def _versions(self) -> list[str]:
        from clarity.pgx._guidance import guidance_version
        from clarity.pgx._phenotype import cyp2d6_activity_table

        # Any new table, definition, model or code version publishes a new result set.
        return [
            *(gene_definition(g).version for g in VCF_GENES),
            str(cyp2d6_activity_table()["version"]),
            str(inhibitor_table()["version"]),
            guidance_version(),
            self.producer.model_name,
            self.producer.model_version,
            self.producer.code_version,
        ]

    def _allowed(self, patient_id: str, topic: str) -> bool:
        return self.allowed is None or self.allowed(patient_id, topic)

    def remember(self, record: Envelope) -> str:
        """Add one input record to its patient's state and return the patient id.

        A record refused before is not added again, and a PLINK call-set
        reference is not kept.

        Parameters
        ----------
        record
            An ``ingest.genotype``, ``ingest.pgx`` or ``ingest.medication``
            envelope.

        Returns
        -------
        str
            The record's patient id.
        """
        state = self._patients.setdefault(record.patient_id, PatientInputs())
        if record.event_id in self._refused:
            return record.patient_id
        if record.topic == "ingest.genotype":
            ref = record.payload
            assert isinstance(ref, GenotypeCallSetRef)
            if ref.format.value in ("vcf", "bcf"):
                state.genotypes[ref.uri] = record
        elif record.topic == "ingest.pgx":
            state.panels[str(record.event_id)] = record
        elif record.topic == "ingest.medication":
            payload = record.payload
            assert isinstance(payload, MedicationStatement)
            key = payload.fhir_id or f"{payload.name}:{payload.started_on}"
            state.medications[key] = record
        return record.patient_id

    def _backfill(self, patient_id: str) -> None:
        if self.store is None:
            return
        seen = {r.event_id for r in self._patients.get(patient_id, PatientInputs()).inputs()}
        for row in self.store.timeline(patient_id, topics=_TOPICS, limit=100_000):
            if not self._allowed(patient_id, row.topic):
                continue  # consent is checked here too, not only on live records
            record = Envelope.model_validate(dict(row.record))
            if record.event_id not in seen:
                self.remember(record)

    def _consented(self, patient_id: str) -> PatientInputs:
        """Return the patient's inputs that consent allows now (it may have been withdrawn)."""
        state = self._patients.get(patient_id, PatientInputs())
        return PatientInputs(
            genotypes={
                k: r for k, r in state.genotypes.items() if self._allowed(patient_id, r.topic)
            },
            panels={k: r for k, r in state.panels.items() if self._allowed(patient_id, r.topic)},
            medications={
                k: r for k, r in state.medications.items() if self._allowed(patient_id, r.topic)
            },
        )

    def results(self, patient_id: str) -> tuple[list[Envelope], dict[uuid.UUID, str]]:
        """Return the patient's ``pgx.phenotype`` and ``pgx.guidance`` records.

        Parameters
        ----------
        patient_id
            Whose results; only the inputs that consent allows now are used.

        Returns
        -------
        tuple
            The records (none without genomic consent), and the inputs refused
            (event id to reason), which the caller dead-letters.
        """
        if not self._allowed(patient_id, "pgx.phenotype"):
            return [], {}
        state = self._consented(patient_id)
        phenotypes, refused = patient_results(state, reader=self._read_sample, digest=self._digest)
        state.without(set(refused))
        self._patients.get(patient_id, PatientInputs()).without(set(refused))
        self._refused.update(refused)
        drugs = list(guidance_drugs())
        responses: dict[str, ResponseEstimate] = {}
        if self.response is not None:
            try:
                responses = self.response(patient_id, phenotypes, drugs)
            except Exception:
                # Research-grade estimates must never cost the patient the CPIC guidance.
                log.exception("pgx response model failed for patient %s", patient_id)
        guidance = guidance_for(phenotypes, responses=responses)
        inputs = state.inputs()
        observed = max((r.observed_at for r in inputs), default=None)
        if observed is None:
            return [], refused
        identity = [patient_id, *self._versions(), *(str(r.event_id) for r in inputs)]
        records = [
            self._envelope("pgx.phenotype", patient_id, observed, inputs, p, [*identity, gene])
            for gene, p in sorted(phenotypes.items())
        ]
        records += [
            self._envelope("pgx.guidance", patient_id, observed, inputs, g, [*identity, g.drug])
            for g in guidance
        ]
        return records, refused

    def _envelope(
        self,
        topic: str,
        patient_id: str,
        observed: datetime,
        inputs: Iterable[Envelope],
        payload: PGxPhenotype | PGxGuidance,
        identity: list[str],
    ) -> Envelope:
        return Envelope.new(
            event_id=event_id_for(topic, *identity),
            topic=topic,
            patient_id=patient_id,
            observed_at=observed,
            source=f"pgx:{self.producer.model_name}:{self.producer.model_version}",
            producer=self.producer,
            inputs=[r.event_id for r in inputs],
            payload=payload,
        )

    def run(self, bus: Bus, *, group: str = "pgx") -> PgxServiceReport:
        """Consume new inputs and publish every touched patient's results.

        Each round reads a batch from all three input topics before computing,
        so a patient whose VCF, panel and medications arrive together gets one
        result, not three partial ones. A patient whose inputs cannot be used
        (a changed VCF, an unreadable file) has the records that triggered the
        round dead-lettered with the reason; other patients are published.
        Outputs are published before the offsets are committed.

        Parameters
        ----------
        bus
            The bus to read the input topics from and publish to.
        group
            Prefix of the consumer groups, one per input topic
            (``f"{group}-{topic}"``), whose committed offsets say what is new.

        Returns
        -------
        PgxServiceReport
            Counts of this run.
        """
        report = PgxServiceReport()
        with Rounds(bus, _TOPICS, group=group, batch_size=self.batch_size) as rounds:
            for deliveries in rounds:
                touched: dict[str, Round] = {}
                for consumer, delivery in deliveries:
                    record = delivery.record
                    report.records_read += 1
                    if self.allowed is not None and not self.allowed(
                        record.patient_id, record.topic
                    ):
                        report.skipped += 1
                        continue
                    if record.patient_id not in self._patients:
                        self._backfill(record.patient_id)
                    patient = self.remember(record)
                    touched.setdefault(patient, []).append((consumer, delivery))
                for patient_id, patient_deliveries in touched.items():
                    self._publish_patient(bus, patient_id, patient_deliveries, report)
        return report

    def _publish_patient(
        self,
        bus: Bus,
        patient_id: str,
        deliveries: Round,
        report: PgxServiceReport,
    ) -> None:
        try:
            out, refused = self.results(patient_id)
        except Exception as error:
            # A bug, not bad input: dead-letter this round's records of the patient and
            # forget them, so the patient's earlier inputs keep working.
            log.exception("pgx failed on patient %s", patient_id)
            for consumer, delivery in deliveries:
                consumer.reject(delivery, f"the service failed on it: {error!r}")
            failed = {d.record.event_id for _, d in deliveries}
            self._patients.get(patient_id, PatientInputs()).without(failed)
            self._refused.update(dict.fromkeys(failed, "service error"))
            report.rejected += len(deliveries)
            return
        for consumer, delivery in deliveries:
            reason = refused.get(delivery.record.event_id)
            if reason is not None:
                consumer.reject(delivery, reason)
                report.rejected += 1
        if not out:
            return
        published = bus.publish_batch(out)
        report.patients += 1
        for record, result in zip(out, published, strict=True):
            if result.duplicate:
                continue
            if record.topic == "pgx.phenotype":
                report.phenotypes += 1
            else:
                report.guidance += 1


def response_from_model(model: Any, features_of: Callable[[str], dict[str, Any]]) -> ResponseFn:
    """Adapt a fitted drug-response model to the service's ``response`` hook.

    Parameters
    ----------
    model
        A fitted ``DrugResponseModel``.
    features_of
        ``features_of(patient_id)``: the clinical covariates the model reads
        (age, sex, baseline PHQ-9, history); phenotypes are added here.
    """

    def estimate(
        patient_id: str, phenotypes: dict[str, PGxPhenotype], drugs: list[str]
    ) -> dict[str, ResponseEstimate]:
        from clarity.pgx._response import PHENOTYPE_LABELS, RESPONSE_DRUGS

        features = dict(features_of(patient_id))
        # The model knows the five metaboliser classes; anything else (Indeterminate,
        # "Likely ...") enters as unknown rather than as a guess.
        features["phenotypes"] = {}
        for g, p in phenotypes.items():
            if g not in VCF_GENES:
                continue
            label = p.adjusted_phenotype.removeprefix("Likely ")
            usable = label in PHENOTYPE_LABELS and not p.provisional
            features["phenotypes"][g] = label if usable else None
        features["activity_scores"] = {
            g: None if p.provisional else p.adjusted_activity_score
            for g, p in phenotypes.items()
            if g in VCF_GENES
        }
        wanted = [d for d in drugs if d in RESPONSE_DRUGS]
        result = {}
        for prediction in model.predict(features, drugs=wanted):
            result[prediction.drug] = ResponseEstimate(
                response_probability=prediction.response_probability,
                adverse_event_probability=prediction.adverse_event_probability,
                source=ResponseSource(prediction.source),
                note=prediction.note,
            )
        return result

    return estimate


def clinical_features(
    store: FeatureStore, patient_id: str, *, today: date | None = None
) -> dict[str, Any]:
    """Return the response model's clinical covariates from the feature store.

    Age (from the birth year), sex, the latest PHQ-9 as the baseline, and the
    number of earlier antidepressant courses (statements completed or stopped).
    Earlier non-response is not recorded as a feature, so it is left unknown
    rather than guessed.

    Parameters
    ----------
    store
        The feature store.
    patient_id
        The patient.
    today
        The reference day for age; today when omitted.

    Returns
    -------
    dict
        Keys the model reads; a value is None when the store has none.
    """
    from clarity.pgx._response import RESPONSE_DRUGS

    latest = store.latest(patient_id)
    born = latest.get("demographics.birth_year")
    sex = latest.get("demographics.sex")
    phq9 = latest.get("phq9.total")
    year = (today or date.today()).year
    age = year - int(born.value) if born is not None and isinstance(born.value, int) else None
    courses = sum(
        1
        for drug in RESPONSE_DRUGS
        if (value := latest.get(f"medication.{drug}.status")) is not None
        and value.value in ("completed", "stopped")
    )
    return {
        "age": age if age is not None and 0 <= age <= 120 else None,
        "sex": sex.value if sex is not None and sex.value in ("female", "male") else None,
        "baseline_phq9": phq9.value if phq9 is not None and isinstance(phq9.value, int) else None,
        "prior_courses": courses,
        "prior_nonresponse": None,
    }
