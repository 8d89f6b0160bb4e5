"""The genotype service's model: one trait model per trait, with what scoring a patient needs.

A :class:`TraitPanel` holds, for each trait, the model the service serves (by
default the linear + boosted ensemble), the SNP set it was trained on, every
kind's held-out metrics, and the served model's scores of the held-out
reference samples, which place a patient's score on a percentile. It also holds
the :class:`~clarity.genotype.PcaModel` of the reference cohort, since every
model reads genotype principal components as covariates, and the table of every
variant any part reads, so that a patient's file is read at those positions
only and aligned by position and alleles (:func:`~clarity.genotype.align_to`).

:meth:`TraitPanel.score` turns a patient's genotypes into
:class:`~clarity.contracts.GenotypeTraitRisk` payloads; :meth:`~TraitPanel.save`
writes a directory (the unit the model registry versions) and
:meth:`~TraitPanel.load` refuses one whose files changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clarity.contracts import GenotypeModelKind, GenotypeTraitRisk, SnpContribution
from clarity.errors import InputError
from clarity.genotype._align import align_to
from clarity.genotype._dosage import MISSING, VARIANT_COLUMNS, DosageMatrix
from clarity.genotype._explain import top_contributions
from clarity.genotype._features import variant_columns
from clarity.genotype._pca import PcaModel
from clarity.genotype._select import SnpSet
from clarity.genotype._trait_model import TraitModel

__all__ = ["PC_PREFIX", "TraitPanel"]

_FORMAT = "clarity.genotype.TraitPanel/1"
PC_PREFIX = "pc"
"""Covariate names of the principal components: ``pc1``, ``pc2``, ..."""
_METRIC = {False: "r2", True: "auc"}


def _percentile(reference: np.ndarray, score: float) -> float:
    """Return the mid-rank percentile of ``score`` among the sorted reference scores."""
    below = np.searchsorted(reference, score, side="left")
    equal = np.searchsorted(reference, score, side="right") - below
    return float(100.0 * (below + 0.5 * equal) / len(reference))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _content_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, eq=False)
class TraitPanel:
    """Trained genetic risk models of several traits, and what scoring a patient needs.

    Built by :func:`~clarity.genotype.train_panel` or :meth:`load`.

    Parameters
    ----------
    models
        Trait to the model served for it.
    snp_sets
        Trait to the selected SNP set its model was trained on (absent for a
        model trained without one).
    pca
        The reference cohort's principal components (``pc1`` ... covariates
        of every model); None when the models read no components.
    reference_scores
        Trait to the served model's predictions for the held-out reference
        samples, sorted: the distribution a percentile is read from.
    metrics
        Trait to kind to held-out metric (``r2``; or ``auc``, ``brier``,
        ``calibration_slope`` for a binary trait), for every kind compared.
    variants
        Table (:data:`~clarity.genotype.VARIANT_COLUMNS`) of every variant a
        model or the PCA reads.
    covariates
        Covariates besides the principal components that the models read
        (e.g. ``age``, ``sex``); the caller of :meth:`score` supplies them.
    genome_build
        Build of the variant positions, e.g. ``"grch38"``.
    settings
        How the panel was trained (JSON values): selector and model
        parameters, split, seed, quality-control counts.

    Attributes
    ----------
    version : str
        SHA-256 of every model version, SNP set version, the PCA version, the
        reference scores, metrics, variants and settings.
    """

    models: Mapping[str, TraitModel]
    snp_sets: Mapping[str, SnpSet]
    pca: PcaModel | None
    reference_scores: Mapping[str, np.ndarray]
    metrics: Mapping[str, Mapping[str, Mapping[str, float]]]
    variants: pd.DataFrame
    covariates: tuple[str, ...]
    genome_build: str
    settings: Mapping[str, Any]
    version: str = field(init=False)

    def __post_init__(self) -> None:
        if set(self.reference_scores) != set(self.models):
            raise ValueError("A TraitPanel needs reference scores for exactly its traits.")
        for trait, scores in self.reference_scores.items():
            if len(scores) == 0:
                raise ValueError(f"The reference scores of {trait!r} are empty.")
        object.__setattr__(
            self,
            "reference_scores",
            {t: np.sort(np.asarray(s, dtype=np.float64)) for t, s in self.reference_scores.items()},
        )
        object.__setattr__(self, "settings", json.loads(json.dumps(self.settings)))
        object.__setattr__(self, "version", _content_hash(self._identity()))

    def _identity(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "models": {t: m.version for t, m in sorted(self.models.items())},
            "snp_sets": {t: s.version for t, s in sorted(self.snp_sets.items())},
            "pca": None if self.pca is None else self.pca.version,
            "reference_scores": {t: s.tolist() for t, s in sorted(self.reference_scores.items())},
            "metrics": self.metrics,
            "variants": self.variants[list(VARIANT_COLUMNS)].astype(str).values.tolist(),
            "covariates": list(self.covariates),
            "genome_build": self.genome_build,
            "settings": self.settings,
        }

    def __repr__(self) -> str:
        return (
            f"TraitPanel(traits={list(self.traits)}, variants={len(self.variants)}, "
            f"pcs={0 if self.pca is None else self.pca.n_components}, "
            f"version={self.version[:12]!r})"
        )

    @property
    def traits(self) -> tuple[str, ...]:
        """The traits, sorted."""
        return tuple(sorted(self.models))

    @property
    def positions(self) -> list[tuple[str, int]]:
        """``(chrom, pos)`` of every variant the panel reads, for a reader's ``positions``."""
        pairs = zip(self.variants["chrom"], self.variants["pos"], strict=True)
        return [(str(c), int(p)) for c, p in pairs]

    def _pc_frame(self, matrix: DosageMatrix) -> pd.DataFrame:
        if self.pca is None:
            return pd.DataFrame(index=range(matrix.n_samples))
        pcs = self.pca.transform(matrix)
        names = [f"{PC_PREFIX}{i + 1}" for i in range(pcs.shape[1])]
        return pd.DataFrame(pcs, columns=names)

    def score(
        self,
        matrix: DosageMatrix,
        covariates: pd.DataFrame | None = None,
        *,
        top: int = 5,
        level: float = 0.9,
        max_missing: float = 0.2,
    ) -> dict[str, list[GenotypeTraitRisk]]:
        """Score patients on every trait of the panel.

        Parameters
        ----------
        matrix
            The patients' genotypes, with any variant ids and order; they are
            aligned to the panel's variants by position and alleles.
        covariates
            One row per sample (in the matrix's order) with the columns of
            :attr:`covariates`; None when the panel needs none.
        top
            Variants listed per risk, largest absolute contribution first.
        level
            Nominal level of the bootstrap interval.
        max_missing
            Largest share of a model's variants (or of the PCA's) that may be
            missing for a patient, in [0, 1); a patient missing more is not
            scored on that trait, and the record says why.

        Returns
        -------
        dict
            Sample id to one payload per trait, in :attr:`traits` order.

        Raises
        ------
        ValueError
            If ``max_missing`` or ``level`` is out of range, or ``top`` is not
            a positive int.
        InputError
            If the covariates do not fit the matrix or lack a column.
        """
        if not 0 <= max_missing < 1:
            raise ValueError(
                "The 'max_missing' parameter of TraitPanel.score must be a float in the range "
                f"[0, 1). Got {max_missing!r} instead."
            )
        aligned = align_to(matrix, self.variants).matrix
        extra = self._covariates(covariates, matrix.n_samples)
        frame = pd.concat([self._pc_frame(aligned), extra], axis=1)
        pca_missing = np.zeros(matrix.n_samples, dtype=np.int64)
        if self.pca is not None:
            columns = variant_columns(aligned, self.pca.variants)
            pca_missing = (np.asarray(aligned.dosages[:, columns]) == MISSING).sum(axis=1)
        out: dict[str, list[GenotypeTraitRisk]] = {s: [] for s in matrix.samples}
        for trait in self.traits:
            for sample, risk in zip(
                matrix.samples,
                self._score_trait(trait, aligned, frame, pca_missing, top, level, max_missing),
                strict=True,
            ):
                out[sample].append(risk)
        return out

    def _covariates(self, covariates: pd.DataFrame | None, n: int) -> pd.DataFrame:
        if not self.covariates:
            return pd.DataFrame(index=range(n))
        if covariates is None:
            raise InputError(f"The panel's models need the covariates {list(self.covariates)}.")
        lacking = [c for c in self.covariates if c not in covariates.columns]
        if lacking or len(covariates) != n:
            raise InputError(
                f"The covariates must have {n} rows and the columns {list(self.covariates)}; "
                f"got {len(covariates)} rows, lacking {lacking}."
            )
        return covariates[list(self.covariates)].reset_index(drop=True)

    def _score_trait(
        self,
        trait: str,
        aligned: DosageMatrix,
        frame: pd.DataFrame,
        pca_missing: np.ndarray,
        top: int,
        level: float,
        max_missing: float,
    ) -> list[GenotypeTraitRisk]:
        model = self.models[trait]
        columns = variant_columns(aligned, model.snp_ids)
        calls = np.asarray(aligned.dosages[:, columns])
        missing = (calls == MISSING).sum(axis=1)
        n_pca = 0 if self.pca is None else len(self.pca.variants)
        usable = (missing <= max_missing * len(columns)) & (pca_missing <= max_missing * n_pca)
        common = self._common(trait, level)
        results: list[GenotypeTraitRisk | None] = [None] * aligned.n_samples
        for row in np.flatnonzero(~usable):
            reason = (
                f"the call set lacks {int(missing[row])} of the model's {len(columns)} variants"
                if missing[row] > max_missing * len(columns)
                else f"the call set lacks {int(pca_missing[row])} of the {n_pca} variants of "
                "the principal components"
            )
            results[row] = GenotypeTraitRisk(
                **common,
                snps_missing=int(missing[row]),
                sample_id=aligned.samples[row],
                reason=f"{reason}; at most {max_missing:.0%} may be missing",
            )
        rows = np.flatnonzero(usable)
        if len(rows):
            subset = aligned.subset(samples=rows)
            cov = frame.iloc[rows].reset_index(drop=True)
            cov = cov if len(cov.columns) else None
            scores = model.predict(subset, cov)
            lower: np.ndarray | None = None
            upper: np.ndarray | None = None
            if model.n_bootstrap:
                lower, upper = model.interval(subset, cov, level=level)
            tops = top_contributions(model, subset, cov, k=top)
            position = {v: i for i, v in enumerate(model.snp_ids)}
            table = self.variants.set_index("id")
            for k, row in enumerate(rows):
                snps = []
                for variant, value in tops[k]:
                    dosage = int(calls[row, position[variant]])
                    snps.append(
                        SnpContribution(
                            variant_id=variant,
                            chrom=str(table.at[variant, "chrom"]),
                            pos=int(table.at[variant, "pos"]),
                            effect_allele=str(table.at[variant, "alt"]),
                            dosage=None if dosage == MISSING else dosage,
                            contribution=float(value),
                        )
                    )
                score = float(scores[k])
                results[row] = GenotypeTraitRisk(
                    **common,
                    score=score,
                    interval_lower=None if lower is None else min(float(lower[k]), score),
                    interval_upper=None if upper is None else max(float(upper[k]), score),
                    percentile=_percentile(self.reference_scores[trait], score),
                    top_snps=tuple(snps),
                    snps_missing=int(missing[row]),
                    sample_id=aligned.samples[row],
                )
        return [r for r in results if r is not None]

    def _common(self, trait: str, level: float) -> dict[str, Any]:
        """Return the fields of a trait's risk that do not depend on the patient."""
        model = self.models[trait]
        metric = _METRIC[model.binary]
        snp_set = self.snp_sets.get(trait)
        return {
            "trait": trait,
            "model_kind": GenotypeModelKind(model.kind),
            "binary": model.binary,
            "interval_level": level,
            "reference_size": len(self.reference_scores[trait]),
            "n_snps": len(model.snp_ids),
            "held_out_metric": metric,
            "held_out_value": self.metrics[trait][model.kind].get(metric),
            "baseline_held_out_value": self.metrics[trait].get("prs_ct", {}).get(metric),
            "model_version": model.version,
            "snp_set_version": None if snp_set is None else snp_set.version,
            "panel_version": self.version,
        }

    def unscored(self, sample_id: str, reason: str) -> list[GenotypeTraitRisk]:
        """Return one risk per trait that says why the sample was not scored.

        Parameters
        ----------
        sample_id
            The sample.
        reason
            Why (e.g. a covariate the models read is unknown).

        Returns
        -------
        list of GenotypeTraitRisk
            One per trait, in :attr:`traits` order, with ``reason`` and no score.
        """
        return [
            GenotypeTraitRisk(**self._common(t, 0.9), sample_id=sample_id, reason=reason)
            for t in self.traits
        ]

    def save(self, directory: Path | str) -> None:
        """Write the panel to a directory: a manifest, the models, SNP sets and the PCA.

        ``panel.json`` holds the description and the SHA-256 of every other
        file; ``models/<trait>.zip`` are :meth:`TraitModel.save
        <clarity.genotype.TraitModel.save>` files, ``snp_sets/<trait>.json``
        :meth:`SnpSet.save <clarity.genotype.SnpSet.save>` files and
        ``pca.npz`` the :meth:`PcaModel.save <clarity.genotype.PcaModel.save>`
        file.

        Parameters
        ----------
        directory
            Where to write; created if needed. Files of the same names are
            replaced.
        """
        root = Path(directory)
        (root / "models").mkdir(parents=True, exist_ok=True)
        (root / "snp_sets").mkdir(exist_ok=True)
        files: list[str] = []
        for trait, model in sorted(self.models.items()):
            model.save(root / "models" / f"{trait}.zip")
            files.append(f"models/{trait}.zip")
        for trait, snp_set in sorted(self.snp_sets.items()):
            snp_set.save(root / "snp_sets" / f"{trait}.json")
            files.append(f"snp_sets/{trait}.json")
        if self.pca is not None:
            self.pca.save(root / "pca.npz")
            files.append("pca.npz")
        manifest = {
            **self._identity(),
            "version": self.version,
            "files": {name: _sha256(root / name) for name in files},
        }
        (root / "panel.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path | str) -> TraitPanel:
        """Read a panel written by :meth:`save`, refusing changed or missing files.

        Parameters
        ----------
        directory
            A directory written by :meth:`save`.

        Returns
        -------
        TraitPanel
            The panel, scoring exactly as the saved one did.

        Raises
        ------
        InputError
            If the manifest is missing or not of this format, a file is
            missing or changed, or the content no longer hashes to the
            recorded version.
        """
        root = Path(directory)
        try:
            manifest = json.loads((root / "panel.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"{root} holds no readable panel.json: {error}") from error
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            raise InputError(f"{root}/panel.json is not a {_FORMAT} manifest.")
        for name, digest in manifest["files"].items():
            path = root / name
            if not path.is_file() or _sha256(path) != digest:
                raise InputError(f"Refusing {root}: {name} is missing or changed.")
        models = {
            t: TraitModel.load(root / "models" / f"{t}.zip", version=v)
            for t, v in manifest["models"].items()
        }
        snp_sets = {t: SnpSet.load(root / "snp_sets" / f"{t}.json") for t in manifest["snp_sets"]}
        for trait, snp_set in snp_sets.items():
            if snp_set.version != manifest["snp_sets"][trait]:
                raise InputError(f"Refusing {root}: the SNP set of {trait!r} is not the one saved.")
        pca = PcaModel.load(root / "pca.npz") if manifest["pca"] is not None else None
        variants = pd.DataFrame(manifest["variants"], columns=list(VARIANT_COLUMNS))
        variants["pos"] = variants["pos"].astype(np.int64)
        panel = cls(
            models=models,
            snp_sets=snp_sets,
            pca=pca,
            reference_scores={t: np.array(s) for t, s in manifest["reference_scores"].items()},
            metrics=manifest["metrics"],
            variants=variants,
            covariates=tuple(manifest["covariates"]),
            genome_build=manifest["genome_build"],
            settings=manifest["settings"],
        )
        if panel.version != manifest["version"]:
            raise InputError(
                f"Refusing {root}: its content hashes to {panel.version}, not to the version "
                f"it records ({manifest['version']})."
            )
        return panel
