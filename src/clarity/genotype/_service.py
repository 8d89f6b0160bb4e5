"""The genotype service: each patient's genetic risk per trait, published as call sets arrive.

It reads ``ingest.genotype`` (references to VCF, BCF or PLINK call sets) as a
consumer group named for the panel's version. For every patient a new call set
arrives for, it reads that patient's genotypes at the panel's variants from
each of the patient's call sets, scores the call set with most genotypes called
there, and publishes one ``genotype.trait_risk`` per trait. Event ids derive
from the patient, the call-set record, the panel version and any covariate
values, so replay publishes nothing new, while a new panel version (a
refreshed model, whose group starts from the first record) re-scores everyone.

A call set that cannot be used (a file changed since it was referenced, one on
another genome build than the panel's, an unreadable file, no sample of that
name) is dead-lettered with the reason, without costing the patient the
results of their other call sets. A call set holding none of the panel's
variants (a pharmacogene panel) is passed over without complaint. A patient
whose record lacks a covariate the panel reads (age, sex) gets a risk per
trait that says so instead of a score, and is scored when it arrives.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clarity._utils import FileDigests, referenced_file
from clarity._version_info import __version__
from clarity.bus import Bus, Round, Rounds
from clarity.contracts import (
    Envelope,
    GenotypeCallSetRef,
    GenotypeTraitRisk,
    Producer,
    event_id_for,
)
from clarity.errors import ClarityError, InputError
from clarity.genotype._align import align_to
from clarity.genotype._dosage import MISSING, DosageMatrix
from clarity.genotype._panel import TraitPanel
from clarity.genotype._readers import read_genotypes
from clarity.store import FeatureStore

__all__ = ["GenotypeService", "GenotypeServiceReport", "patient_covariates"]

log = logging.getLogger(__name__)

Allowed = Callable[[str, str], bool]
CovariatesFn = Callable[[str], dict[str, float | None]]
_TOPIC = "ingest.genotype"
_PATIENT = "ingest.patient"
_OUT = "genotype.trait_risk"
# Whole-file reads kept at once: a patient often has several call sets (a genome-wide VCF,
# the same cohort as PLINK, a PGx panel), and patients are scored one after another.
_CACHED_FILES = 8
_FORMATS = ("vcf", "bcf", "plink_bed")


@dataclass
class GenotypeServiceReport:
    """What one :meth:`GenotypeService.run` did.

    Parameters
    ----------
    records_read
        ``ingest.genotype`` records read, skipped ones included.
    patients
        Patients whose risks were published, once per round they were
        touched in.
    risks
        ``genotype.trait_risk`` records published (a replay's duplicates not
        counted), scored or not.
    unscored
        Of those, risks with a reason instead of a score.
    rejected
        Call-set records sent to the dead letters, with the reason.
    skipped
        Records not used because ``allowed`` refused them (no consent).
    """

    records_read: int = 0
    patients: int = 0
    risks: int = 0
    unscored: int = 0
    rejected: int = 0
    skipped: int = 0


class GenotypeService:
    """Publish per-trait genetic risk as a patient's genotype call sets arrive.

    Parameters
    ----------
    panel
        The trained panel of trait models.
    lineage
        ``(model_name, model_version, run_id)`` of the panel in the registry.
    store
        Where to find a patient's earlier call sets (read in an earlier run).
    allowed
        ``allowed(patient_id, topic)``: False skips the record (no consent).
    covariates
        ``covariates(patient_id)``: the values of the panel's covariates
        besides the components (``age``, ``sex``); needed only when the panel
        has some (see :func:`patient_covariates`).
    top
        Variants listed per risk.
    max_missing
        Largest share of a model's variants a call set may lack.
    batch_size
        Records per poll.
    """

    def __init__(
        self,
        panel: TraitPanel,
        *,
        lineage: tuple[str, str, str | None] = ("genotype.traits", "local", None),
        store: FeatureStore | None = None,
        allowed: Allowed | None = None,
        covariates: CovariatesFn | None = None,
        top: int = 5,
        max_missing: float = 0.2,
        batch_size: int = 256,
    ) -> None:
        self.panel = panel
        self.store = store
        self.allowed = allowed
        self.covariates = covariates
        self.top = top
        self.max_missing = max_missing
        self.batch_size = batch_size
        name, version, run_id = lineage
        self.producer = Producer(
            service="genotype",
            model_name=name,
            model_version=version,
            run_id=run_id,
            code_version=__version__,
        )
        self._call_sets: dict[str, dict[str, Envelope]] = {}
        self._refused: dict[uuid.UUID, str] = {}
        self._digest = FileDigests()
        # Whole-file reads at the panel's positions: a cohort file is read once, not per patient.
        self._files: OrderedDict[tuple[Path, int], DosageMatrix] = OrderedDict()

    def _allowed(self, patient_id: str, topic: str) -> bool:
        return self.allowed is None or self.allowed(patient_id, topic)

    def _read(self, path: Path) -> DosageMatrix:
        key = (path.resolve(), path.stat().st_mtime_ns)
        if key not in self._files:
            try:
                self._files[key] = read_genotypes(path, positions=self.panel.positions)
            except (OSError, ValueError) as error:
                raise InputError(f"cannot be read: {error}") from error
            while len(self._files) > _CACHED_FILES:
                self._files.popitem(last=False)
        self._files.move_to_end(key)
        return self._files[key]

    def _sample(self, record: Envelope) -> DosageMatrix:
        """Return the patient's genotypes from one call set, or raise why it cannot be used."""
        ref = record.payload
        assert isinstance(ref, GenotypeCallSetRef)
        if ref.genome_build.value != self.panel.genome_build:
            raise InputError(
                f"{ref.uri}: {ref.genome_build.value} positions; the panel's are "
                f"{self.panel.genome_build}"
            )
        path = referenced_file(ref.uri, ref.sha256, digest=self._digest)
        for suffix, recorded in ((".bim", ref.bim_sha256), (".fam", ref.fam_sha256)):
            side = path.with_suffix(suffix)
            if recorded is not None and (not side.is_file() or self._digest(side) != recorded):
                raise InputError(f"{side.name}: missing or changed since it was referenced")
        matrix = self._read(path)
        if ref.sample_id not in matrix.samples:
            raise InputError(f"{path.name}: no sample named {ref.sample_id!r}")
        return matrix.subset(samples=[matrix.samples.index(ref.sample_id)])

    def remember(self, record: Envelope) -> str:
        """Add one call-set reference to its patient's state and return the patient id.

        A record refused before is not added again; a newer reference to the
        same location replaces the older.

        Parameters
        ----------
        record
            An ``ingest.genotype`` envelope.

        Returns
        -------
        str
            The record's patient id.
        """
        ref = record.payload
        assert isinstance(ref, GenotypeCallSetRef)
        state = self._call_sets.setdefault(record.patient_id, {})
        if record.event_id not in self._refused and ref.format.value in _FORMATS:
            state[ref.uri] = record
        return record.patient_id

    def _backfill(self, patient_id: str) -> None:
        if self.store is None:
            return
        known = {r.event_id for r in self._call_sets.get(patient_id, {}).values()}
        for row in self.store.timeline(patient_id, topics=[_TOPIC], limit=100_000):
            if not self._allowed(patient_id, row.topic):
                continue
            record = Envelope.model_validate(dict(row.record))
            if record.event_id not in known:
                self.remember(record)

    def results(self, patient_id: str) -> tuple[list[Envelope], dict[uuid.UUID, str]]:
        """Return the patient's ``genotype.trait_risk`` records.

        Parameters
        ----------
        patient_id
            Whose risks; only call sets that consent allows now are read.

        Returns
        -------
        tuple
            The records (none without genomic consent, or when no call set
            holds any of the panel's variants), and the call sets refused
            (event id to reason), which the caller dead-letters.
        """
        if not self._allowed(patient_id, _OUT):
            return [], {}
        refused: dict[uuid.UUID, str] = {}
        best: tuple[int, str, Envelope, DosageMatrix] | None = None
        for uri, record in sorted(self._call_sets.get(patient_id, {}).items()):
            if not self._allowed(patient_id, record.topic):
                continue
            try:
                sample = self._sample(record)
                aligned = align_to(sample, self.panel.variants).matrix
            except ClarityError as error:
                refused[record.event_id] = str(error)
                continue
            # Most called genotypes at the panel's variants wins (not merely positions: a file
            # may list them all with no call); a tie goes to the first location by name.
            called = int((np.asarray(aligned.dosages) != MISSING).sum())
            if called and (best is None or called > best[0]):
                best = (called, uri, record, sample)
        state = self._call_sets.get(patient_id, {})
        for uri in [u for u, r in state.items() if r.event_id in refused]:
            del state[uri]
        self._refused.update(refused)
        if best is None:
            return [], refused
        _, _, record, sample = best
        ref = record.payload
        assert isinstance(ref, GenotypeCallSetRef)
        covariates, lacking = self._patient_covariates(patient_id)
        if lacking:
            # The patient's record, not the call set, is incomplete: say so per trait, and score
            # again when the demographics arrive (ingest.patient touches the patient).
            risks = self.panel.unscored(
                ref.sample_id,
                f"no {' or '.join(lacking)} on the patient's record, which the model reads",
            )
        else:
            [risks] = self.panel.score(
                sample, covariates, top=self.top, max_missing=self.max_missing
            ).values()
        used = "" if covariates is None else covariates.to_json(orient="records")
        records = [
            self._envelope(
                patient_id, record, risk.model_copy(update={"sample_id": ref.sample_id}), used
            )
            for risk in risks
        ]
        return records, refused

    def _patient_covariates(self, patient_id: str) -> tuple[pd.DataFrame | None, list[str]]:
        """Return the covariates the panel reads for the patient (or None), and those lacking."""
        if not self.panel.covariates:
            return None, []
        values = self.covariates(patient_id) if self.covariates is not None else {}
        lacking = [c for c in self.panel.covariates if values.get(c) is None]
        if lacking:
            return None, lacking
        return pd.DataFrame([{c: values[c] for c in self.panel.covariates}]), []

    def _envelope(
        self, patient_id: str, record: Envelope, risk: GenotypeTraitRisk, covariates: str
    ) -> Envelope:
        # The covariate values are part of the identity: new demographics, a new result.
        return Envelope.new(
            event_id=event_id_for(
                _OUT, patient_id, str(record.event_id), self.panel.version, risk.trait, covariates
            ),
            topic=_OUT,
            patient_id=patient_id,
            observed_at=record.observed_at,
            source=f"genotype:{self.producer.model_name}:{self.producer.model_version}",
            producer=self.producer,
            inputs=[record.event_id],
            payload=risk,
        )

    def run(self, bus: Bus, *, group: str | None = None) -> GenotypeServiceReport:
        """Consume new call-set references and publish every touched patient's risks.

        Outputs are published before the offsets are committed, so a crash
        loses nothing and a rerun publishes no duplicate. The consumer group is
        named for the panel's version, so a new panel reads every call set
        again and re-scores every patient. A panel that reads age or sex also
        consumes ``ingest.patient``, and scores a patient again when their
        demographics arrive or change.

        Parameters
        ----------
        bus
            The bus to read ``ingest.genotype`` from and publish to.
        group
            Prefix of the consumer groups (``f"{group}-{topic}"``); None for
            ``genotype-`` and the first 16 characters of the panel version.

        Returns
        -------
        GenotypeServiceReport
            Counts of this run.
        """
        report = GenotypeServiceReport()
        prefix = group if group is not None else f"genotype-{self.panel.version[:16]}"
        topics = [_TOPIC, *([_PATIENT] if self.panel.covariates else [])]
        with Rounds(bus, topics, group=prefix, batch_size=self.batch_size) as rounds:
            for deliveries in rounds:
                touched: dict[str, Round] = {}
                for consumer, delivery in deliveries:
                    record = delivery.record
                    report.records_read += 1
                    if not self._allowed(record.patient_id, record.topic):
                        report.skipped += 1
                        continue
                    if record.patient_id not in self._call_sets:
                        self._backfill(record.patient_id)
                    if record.topic == _TOPIC:
                        self.remember(record)
                    touched.setdefault(record.patient_id, []).append((consumer, delivery))
                for patient_id, patient_deliveries in touched.items():
                    self._publish_patient(bus, patient_id, patient_deliveries, report)
        return report

    def _publish_patient(
        self,
        bus: Bus,
        patient_id: str,
        deliveries: Round,
        report: GenotypeServiceReport,
    ) -> None:
        try:
            out, refused = self.results(patient_id)
        except Exception as error:
            # Bad input is named; anything else is a bug. Either way this round's records are
            # dead-lettered and forgotten, so the patient's earlier call sets keep working.
            if not isinstance(error, ClarityError):
                log.exception("genotype failed on patient %s", patient_id)
            reason = str(error) if isinstance(error, ClarityError) else repr(error)
            state = self._call_sets.get(patient_id, {})
            for consumer, delivery in deliveries:
                consumer.reject(delivery, f"the service could not score it: {reason}")
                self._refused[delivery.record.event_id] = reason
                for uri in [u for u, r in state.items() if r.event_id == delivery.record.event_id]:
                    del state[uri]
            report.rejected += len(deliveries)
            return
        for consumer, delivery in deliveries:
            why = refused.get(delivery.record.event_id)
            if why is not None:
                consumer.reject(delivery, why)
                report.rejected += 1
        if not out:
            return
        published = bus.publish_batch(out)
        report.patients += 1
        for record, result in zip(out, published, strict=True):
            if result.duplicate:
                continue
            report.risks += 1
            payload = record.payload
            assert isinstance(payload, GenotypeTraitRisk)
            report.unscored += payload.score is None


def patient_covariates(store: FeatureStore, patient_id: str, *, year: int) -> dict[str, Any]:
    """Return ``age`` and ``sex`` (0 female, 1 male) of a patient from the feature store.

    Parameters
    ----------
    store
        The feature store.
    patient_id
        The patient.
    year
        The year the age is counted to.

    Returns
    -------
    dict
        ``age`` and ``sex``; a value is None when the store has none (or the
        sex is neither female nor male, which a model coded 0/1 cannot read).
    """
    latest = store.latest(patient_id, ["demographics.birth_year", "demographics.sex"])
    born = latest.get("demographics.birth_year")
    sex = latest.get("demographics.sex")
    age = year - born.value if born is not None and isinstance(born.value, int) else None
    coded = {"female": 0.0, "male": 1.0}.get(str(sex.value)) if sex is not None else None
    return {"age": None if age is None else float(age), "sex": coded}
