"""Per-trait genetic risk models, their intervals, files and explanations (issue 8, stage 3).

The metric tests use a cohort twice the size of ``_simulated.py``'s (2,000 people,
the same seed and genome length; 1,500 train, 500 test): at 750 training samples
XGBoost trailed the elastic net on the additive trait by 0.1 of R² and no model
found the epistasis trait. Measured values are quoted next to each threshold.
"""

from __future__ import annotations

import itertools
import json
import zipfile
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pytest

from clarity.errors import InputError, NotFittedError
from clarity.genotype import (
    KINDS,
    VARIANT_COLUMNS,
    DosageMatrix,
    PcaModel,
    SequentialTreeSelector,
    SnpSet,
    TraitModel,
    contributions,
    evaluate,
    fit_trait_models,
    principal_components,
    top_contributions,
)
from clarity.genotype._dosage import MISSING
from clarity.synth._genetics import TraitTruth
from tests.genotype._simulated import LENGTH, SEED, build

# One thread: on a shared 2-core runner OpenMP threads slow each other down, and results do
# not depend on it (nthread is not even part of a model's version).
XGB = {"nthread": 1}
# The selector's own settings, faster than its defaults (learning rate 0.3, shrinking by 4
# each round): measured on this cohort, 5-7 s instead of 12-27 s a trait, and XGBoost's
# held-out R² on its SNPs within 0.015 of the default's for dominance and epistasis.
SELECTOR = {
    "n_keep": 50,
    "prescreen": None,
    "shrink": 0.25,
    "xgb_params": {**XGB, "learning_rate": 0.3},
}
BOOTSTRAP = 10
N_SAMPLES = 2_000
N_TRAIN = 1_500
N_PCS = 4


@dataclass(frozen=True)
class Cohort:
    train: DosageMatrix
    test: DosageMatrix
    train_cov: pd.DataFrame
    test_cov: pd.DataFrame
    pcs: np.ndarray
    pca: PcaModel
    truth: TraitTruth
    train_rows: np.ndarray
    test_rows: np.ndarray

    def y(self, trait: str, part: str = "train") -> np.ndarray:
        rows = self.train_rows if part == "train" else self.test_rows
        return self.truth.values[trait][rows]


def _matrix(dosages: np.ndarray, ids: list[str], chrom: object = "chr1") -> DosageMatrix:
    variants = pd.DataFrame(
        {
            "chrom": chrom,
            "pos": np.arange(1, len(ids) + 1, dtype=np.int64) * 1_000_000,
            "id": ids,
            "ref": "A",
            "alt": "G",
        },
        columns=list(VARIANT_COLUMNS),
    )
    samples = tuple(f"s{i}" for i in range(len(dosages)))
    return DosageMatrix(np.ascontiguousarray(dosages, dtype=np.int8), samples, variants)


def _covariates(pcs: np.ndarray, seed: int) -> pd.DataFrame:
    """Age, sex and genotype PCs; the simulated traits depend on none of them."""
    rng = np.random.default_rng(seed)
    n = len(pcs)
    frame = pd.DataFrame({"age": rng.uniform(18, 80, n), "sex": rng.integers(0, 2, n)})
    for i in range(pcs.shape[1]):
        frame[f"pc{i + 1}"] = pcs[:, i]
    return frame


@cache
def cohort() -> Cohort:
    simulation = build(N_SAMPLES, seed=SEED, length=LENGTH)
    matrix, truth = simulation.matrix, simulation.truth
    order = np.random.default_rng(0).permutation(N_SAMPLES)
    train_rows, test_rows = np.sort(order[:N_TRAIN]), np.sort(order[N_TRAIN:])
    train, test = matrix.subset(samples=train_rows), matrix.subset(samples=test_rows)
    pcs, pca = principal_components(train, N_PCS)
    return Cohort(
        train=train,
        test=test,
        train_cov=_covariates(pcs, 1),
        test_cov=_covariates(pca.transform(test), 2),
        pcs=pcs,
        pca=pca,
        truth=truth,
        train_rows=train_rows,
        test_rows=test_rows,
    )


def oracle_set(trait: str) -> SnpSet:
    """The causal SNPs of a trait as a SNP set: a perfect selection, from the simulation."""
    data = cohort()
    columns = sorted({i for name, i, _, _ in data.truth.causal if name == trait})
    ids = data.train.variants["id"].to_numpy()[columns]
    return SnpSet(trait, tuple(ids), (1.0,) * len(ids), "simulation truth", {}, "")


@cache
def fitted(trait: str) -> dict[str, TraitModel]:
    """All four models of a trait.

    XGBoost reads the selector's SNP set for the dominance trait and the causal SNPs for
    the epistasis trait (see its test); otherwise its own screen.
    """
    data = cohort()
    snp_set = None
    if trait == "dominance":
        selector = SequentialTreeSelector(**SELECTOR).fit(
            data.train, data.y(trait), covariates=data.train_cov.to_numpy(), trait=trait
        )
        snp_set = selector.snp_set_
    elif trait == "epistasis":
        snp_set = oracle_set(trait)
    return fit_trait_models(
        data.train,
        data.y(trait),
        covariates=data.train_cov,
        snp_set=snp_set,
        n_bootstrap=BOOTSTRAP if trait == "additive" else 0,
        xgb_params=XGB,
        trait=trait,
    )


@cache
def scores(trait: str) -> dict[str, dict[str, float]]:
    data = cohort()
    return {
        kind: evaluate(model, data.test, data.y(trait, "test"), data.test_cov)
        for kind, model in fitted(trait).items()
    }


# --- held-out accuracy by architecture ---------------------------------------------------


def test_fit_trait_models__additive_trait_xgboost_does_not_lose_to_the_linear_score():
    r2 = {kind: s["r2"] for kind, s in scores("additive").items()}
    # Measured: prs_ct 0.325, elastic_net 0.436, xgboost 0.391, ensemble 0.438 (the truth
    # explains 0.5). XGBoost beats the classical score and trails the elastic net by 0.045;
    # the ensemble is as good as its better part.
    assert r2["prs_ct"] > 0.2
    assert r2["xgboost"] >= r2["prs_ct"]
    assert r2["xgboost"] >= r2["elastic_net"] - 0.08
    assert r2["ensemble"] >= max(r2["elastic_net"], r2["xgboost"]) - 0.02
    assert max(r2.values()) < 0.55


def test_fit_trait_models__dominance_trait_boosted_models_beat_the_linear_ones():
    r2 = {kind: s["r2"] for kind, s in scores("dominance").items()}
    # Measured: prs_ct 0.130, elastic_net 0.176, xgboost 0.365, ensemble 0.364 (XGBoost on
    # the sequential selector's 50 SNPs; on its own screen of clumped p-values it reached
    # only 0.22 on the 3,000-person cohort, as heterozygote effects barely show in p-values).
    best_linear = max(r2["prs_ct"], r2["elastic_net"])
    assert r2["xgboost"] >= best_linear + 0.1
    assert r2["ensemble"] >= best_linear + 0.1


def test_fit_trait_models__epistasis_trait_boosted_models_beat_the_linear_ones():
    # The interacting pairs have no marginal effects, so no screen by p-value finds them,
    # and the sequential selector finds too few of them for the gain to clear noise: with
    # its 50 SNPs XGBoost scored held-out R² 0.010, 0.001 and 0.043 on three splits of this
    # cohort (best linear model -0.018, -0.003, 0.025), and 0.052, 0.033, 0.050 on the
    # 3,000-person one (best linear 0.017-0.021). Given the causal SNPs (a perfect stage 2),
    # the boosted models must win clearly; the linear ones cannot, whichever SNPs they read.
    r2 = {kind: s["r2"] for kind, s in scores("epistasis").items()}
    # Measured: prs_ct -0.033, elastic_net -0.018, xgboost 0.216, ensemble 0.214.
    best_linear = max(r2["prs_ct"], r2["elastic_net"])
    assert best_linear < 0.05
    assert r2["xgboost"] >= best_linear + 0.12
    assert r2["ensemble"] >= best_linear + 0.12


def test_fit_trait_models__binary_trait_gives_calibrated_probabilities():
    data = cohort()
    y_test = data.y("depression_liability", "test")
    prevalence = data.y("depression_liability").mean()
    prior_brier = float(np.mean((prevalence - y_test) ** 2))
    models = fitted("depression_liability")
    # Measured (prs_ct, elastic_net, xgboost, ensemble): AUC 0.729, 0.785, 0.772, 0.787;
    # Brier 0.151, 0.139, 0.142, 0.138 against 0.167 for the training prevalence (0.196);
    # calibration slope 0.86, 1.12, 1.21, 1.14; mean probability 0.183-0.195.
    for kind, s in scores("depression_liability").items():
        assert models[kind].binary
        assert s["auc"] > 0.68, kind
        assert s["brier"] < prior_brier - 0.008, kind
        assert 0.6 < s["calibration_slope"] < 1.6, kind
        p = models[kind].predict(data.test, data.test_cov)
        assert np.all((p > 0) & (p < 1))
        assert abs(p.mean() - prevalence) < 0.03, kind


# --- bootstrap intervals ----------------------------------------------------------------


def test_interval__contains_the_prediction_and_is_ordered():
    data = cohort()
    for kind, model in fitted("additive").items():
        assert model.n_bootstrap == BOOTSTRAP
        point = model.predict(data.test, data.test_cov)
        lower, upper = model.interval(data.test, data.test_cov)
        assert np.all(np.isfinite(lower) & np.isfinite(upper)), kind
        assert np.all(lower <= point) and np.all(point <= upper), kind
        assert np.mean(upper - lower) > 0, kind
        wide_lower, wide_upper = model.interval(data.test, data.test_cov, level=0.99)
        assert np.all(wide_lower <= lower) and np.all(upper <= wide_upper), kind


def test_interval__narrows_with_more_training_data():
    # Measured, mean width with half the training samples over the width with all of them:
    # prs_ct 1.53, elastic_net 1.39, xgboost 1.40, ensemble 1.35 (1/sqrt(1/2) is 1.41).
    data = cohort()
    half = np.arange(0, data.train.n_samples, 2)
    small = fit_trait_models(
        data.train.subset(samples=half),
        data.y("additive")[half],
        covariates=data.train_cov.iloc[half].reset_index(drop=True),
        n_bootstrap=BOOTSTRAP,
        xgb_params=XGB,
    )
    for kind, model in small.items():
        lower, upper = model.interval(data.test, data.test_cov)
        full_lower, full_upper = fitted("additive")[kind].interval(data.test, data.test_cov)
        assert np.mean(upper - lower) > 1.15 * np.mean(full_upper - full_lower), kind


def test_interval__coverage_of_the_true_genetic_value_of_the_additive_trait():
    # The bootstrap interval claims estimation uncertainty only (tuning and SNP selection
    # fixed) and cannot see a model's bias: the additive models explain 0.33-0.44 of the 0.5
    # of variance that is genetic. Measured coverage of the true expected trait at nominal
    # 50 / 90 / 99 %: prs_ct 0.19 / 0.37 / 0.44, elastic_net 0.28 / 0.56 / 0.63, xgboost
    # 0.21 / 0.45 / 0.53, ensemble 0.29 / 0.57 / 0.61. Checked: coverage grows with the
    # level and stays in a tolerant band around those values (the undercoverage is
    # documented on TraitModel.interval).
    data = cohort()
    # The expected trait given the genotype: the simulation scales the genetic value to
    # variance h2 = 0.5 and adds noise of variance 0.5.
    truth = np.sqrt(0.5) * data.truth.genetic["additive"][data.test_rows]
    for kind, low in (("prs_ct", 0.25), ("elastic_net", 0.4), ("xgboost", 0.3), ("ensemble", 0.4)):
        model = fitted("additive")[kind]
        coverage = []
        for level in (0.5, 0.9, 0.99):
            lower, upper = model.interval(data.test, data.test_cov, level=level)
            coverage.append(np.mean((lower <= truth) & (truth <= upper)))
        assert coverage[0] < coverage[1] <= coverage[2], kind
        assert low < coverage[1] < 0.9, kind


def test_interval__refuses_a_model_without_replicates():
    data = cohort()
    with pytest.raises(NotFittedError, match="n_bootstrap=0"):
        fitted("dominance")["xgboost"].interval(data.test, data.test_cov)
    with pytest.raises(ValueError, match="'level'"):
        fitted("additive")["prs_ct"].interval(data.test, data.test_cov, level=1.0)


# --- principal components ---------------------------------------------------------------


def test_principal_components__transform_of_the_training_samples_is_the_components():
    data = cohort()
    assert data.pcs.shape == (data.train.n_samples, N_PCS)
    assert np.array_equal(data.pca.transform(data.train), data.pcs)
    assert np.array_equal(data.train_cov["pc1"].to_numpy(), data.pcs[:, 0])
    # The components are (nearly: a randomized SVD) uncorrelated, in decreasing variance.
    variances = data.pcs.var(axis=0)
    assert np.all(np.diff(variances) < 0)
    assert np.allclose(np.corrcoef(data.pcs.T), np.eye(N_PCS), atol=0.01)


def test_principal_components__a_new_sample_is_projected_in_the_reference_pcs():
    rng = np.random.default_rng(3)
    # Three populations with different allele frequencies: two real components.
    freq = rng.uniform(0.1, 0.9, size=(3, 400))
    dosages = np.vstack([rng.binomial(2, freq[g], size=(100, 400)) for g in range(3)])
    ids = [f"v{i}" for i in range(400)]
    matrix = _matrix(dosages, ids)
    pcs, model = principal_components(matrix, 3)

    # Against an exact SVD of the same standardisation: the two real components agree up
    # to sign (the third lies in noise, where the randomized SVD only approximates).
    p = dosages.mean(axis=0) / 2
    z = (dosages - 2 * p) / np.sqrt(2 * p * (1 - p))
    u, s, _ = np.linalg.svd(z, full_matrices=False)
    for k in range(2):
        assert abs(np.corrcoef(pcs[:, k], u[:, k])[0, 1]) > 0.999
    assert np.allclose(model.singular_values[:2], s[:2], rtol=1e-4)
    assert model.singular_values[2] <= s[2] * (1 + 1e-9)

    # One sample alone, its variants in another order, with extra variants and a no-call.
    order = rng.permutation(400)
    patient = np.hstack([dosages[[7]][:, order], [[1]]]).astype(np.int8)
    single = _matrix(patient, [ids[i] for i in order] + ["extra"])
    assert np.allclose(model.transform(single), pcs[[7]])
    patient[0, 0] = MISSING  # ids[order[0]] is now uncalled: it counts as the reference mean
    expected = pcs[7] - z[7, order[0]] * model.loadings[:, order[0]]
    uncalled = _matrix(patient, single.variants["id"].tolist())
    assert np.allclose(model.transform(uncalled), expected)


def test_principal_components__refuses_too_many_components_and_unknown_variants():
    matrix = _matrix(
        np.random.default_rng(0).binomial(2, 0.4, size=(20, 30)), [f"v{i}" for i in range(30)]
    )
    with pytest.raises(InputError, match="21 components"):
        principal_components(matrix, 21)
    with pytest.raises(ValueError, match="'n'"):
        principal_components(matrix, 0)
    with pytest.raises(InputError, match="lacks"):
        principal_components(matrix, 2, variants=["v1", "nope"])


# --- explanations -----------------------------------------------------------------------


@cache
def constructed() -> tuple[DosageMatrix, np.ndarray, pd.DataFrame]:
    """Forty independent SNPs, one with a huge effect, and two covariates."""
    rng = np.random.default_rng(11)
    n = 600
    dosages = rng.binomial(2, rng.uniform(0.2, 0.5, 40), size=(n, 40))
    dosages[:, 17] = rng.binomial(2, 0.3, n)  # |dosage - 0.6| >= 0.4 for every sample
    effects = rng.normal(0, 0.05, 40)
    effects[17] = 3.0
    covariates = pd.DataFrame({"age": rng.uniform(20, 70, n), "sex": rng.integers(0, 2, n)})
    y = dosages @ effects + 0.01 * covariates["age"].to_numpy() + rng.normal(0, 0.5, n)
    return _matrix(dosages, [f"rs{i}" for i in range(40)]), y, covariates


@cache
def constructed_models() -> dict[str, TraitModel]:
    matrix, y, covariates = constructed()
    return fit_trait_models(matrix, y, covariates=covariates, n_bootstrap=3, xgb_params=XGB)


def test_top_contributions__a_huge_effect_snp_is_every_samples_top_snp():
    matrix, _, covariates = constructed()
    for kind, model in constructed_models().items():
        top = top_contributions(model, matrix, covariates, k=3)
        assert len(top) == matrix.n_samples
        assert all(row[0][0] == "rs17" for row in top), kind
        assert all(len(row) == min(3, len(model.snp_ids)) for row in top), kind
        assert all(abs(a[1]) >= abs(b[1]) for row in top for a, b in itertools.pairwise(row)), kind
        assert all(name not in ("age", "sex", "bias") for row in top for name, _ in row)
        # The huge SNP raises carriers of more alt alleles.
        dosage = matrix.dosages[:, 17]
        signs = np.array([np.sign(row[0][1]) for row in top])
        assert np.all(signs[dosage == 2] > 0) and np.all(signs[dosage == 0] < 0), kind


def test_contributions__add_up_to_the_margin():
    matrix, _, covariates = constructed()
    for kind, model in constructed_models().items():
        table = contributions(model, matrix, covariates)
        assert list(table.columns) == [*model.snp_ids, "age", "sex", "bias"]
        margin = model.decision_function(matrix, covariates)
        assert np.allclose(table.sum(axis=1), margin, atol=1e-4), kind
        assert np.allclose(model.predict(matrix, covariates), margin)  # continuous trait


def test_contributions__linear_models_give_beta_times_centred_dosage():
    matrix, _, covariates = constructed()
    model = constructed_models()["elastic_net"]
    table = contributions(model, matrix, covariates)
    pipeline = model.part.pipeline  # type: ignore[attr-defined]
    column = model.snp_ids.index("rs17")
    beta = pipeline[-1].coef_[column] / pipeline[0].scale_[column]
    dosage = matrix.dosages[:, 17].astype(float)
    assert np.allclose(table["rs17"], beta * (dosage - dosage.mean()))
    assert abs(beta - 3.0) < 0.1


def test_contributions__xgboost_matches_pred_contribs_on_the_raw_margin():
    import xgboost

    data = cohort()
    model = fitted("additive")["xgboost"]
    rows = data.test.subset(samples=np.arange(20))
    cov = data.test_cov.iloc[:20].reset_index(drop=True)
    table = contributions(model, rows, cov)
    features = np.hstack(
        [rows.to_float([rows.variants["id"].tolist().index(v) for v in model.snp_ids]), cov]
    )
    booster = model.part.booster  # type: ignore[attr-defined]
    expected = booster.predict(xgboost.DMatrix(features), pred_contribs=True)
    assert np.allclose(table.to_numpy(), expected, atol=1e-5)
    margin = booster.predict(xgboost.DMatrix(features), output_margin=True)
    assert np.allclose(table.sum(axis=1), margin, atol=1e-4)


# --- files and versions -----------------------------------------------------------------


def test_save_load__round_trip_predicts_identically(tmp_path):
    data = cohort()
    for kind, model in [*fitted("additive").items(), *fitted("depression_liability").items()]:
        path = tmp_path / f"{model.trait}-{kind}.zip"
        model.save(path)
        loaded = TraitModel.load(path, version=model.version)
        assert loaded.version == model.version
        assert (loaded.kind, loaded.trait, loaded.binary) == (model.kind, model.trait, model.binary)
        assert loaded.snp_ids == model.snp_ids and loaded.covariates == model.covariates
        assert np.array_equal(
            loaded.predict(data.test, data.test_cov), model.predict(data.test, data.test_cov)
        )
        if model.n_bootstrap:
            for ours, theirs in zip(
                loaded.interval(data.test, data.test_cov),
                model.interval(data.test, data.test_cov),
                strict=True,
            ):
                assert np.array_equal(ours, theirs)
        with zipfile.ZipFile(path) as archive:
            assert not any(name.endswith((".pkl", ".pickle")) for name in archive.namelist())


def _rewrite(path, name, change):
    """Rewrite one member of a saved model's zip file."""
    with zipfile.ZipFile(path) as archive:
        contents = {n: archive.read(n) for n in archive.namelist()}
    contents[name] = change(contents[name])
    with zipfile.ZipFile(path, "w") as archive:
        for n, data in contents.items():
            archive.writestr(n, data)


def test_load__refuses_a_tampered_or_unexpected_file(tmp_path):
    model = constructed_models()["ensemble"]
    path = tmp_path / "model.zip"
    model.save(path)

    def edit_manifest(change):
        def rewrite(raw):
            manifest = json.loads(raw)
            change(manifest)
            return json.dumps(manifest).encode()

        return rewrite

    cases = {
        "booster": ("boosters/final.boosted.json", lambda raw: raw.replace(b'"', b"'", 1)),
        "weights": ("manifest.json", edit_manifest(lambda m: m["part"].update(weights=[1, 1]))),
        "skops": ("estimators.skops", lambda raw: raw[:-1] + b"x"),
        "format": ("manifest.json", edit_manifest(lambda m: m.update(format="other/2"))),
    }
    for case, (member, change) in cases.items():
        copy = tmp_path / f"{case}.zip"
        copy.write_bytes(path.read_bytes())
        _rewrite(copy, member, change)
        with pytest.raises(InputError):
            TraitModel.load(copy)

    # A manifest whose checksum was recomputed after an edit still fails the version check.
    def forged(manifest):
        from clarity.genotype._trait_model import _hash

        manifest["params"]["n_bootstrap"] = 99
        manifest.pop("checksum")
        manifest["checksum"] = _hash(manifest)

    copy = tmp_path / "forged.zip"
    copy.write_bytes(path.read_bytes())
    _rewrite(copy, "manifest.json", edit_manifest(forged))
    with pytest.raises(InputError, match="hashes to version"):
        TraitModel.load(copy)
    with pytest.raises(InputError, match="not the expected"):
        TraitModel.load(path, version="0" * 64)
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError):
        TraitModel.load(tmp_path / "junk.zip")


def test_version__changes_with_data_or_params_only():
    matrix, y, covariates = constructed()
    kinds = ("prs_ct", "xgboost")

    quick = {**XGB, "num_boost_round": 40}

    def fit(y=y, **kwargs):
        options = {"covariates": covariates, "kinds": kinds, "n_bootstrap": 0, "xgb_params": quick}
        return fit_trait_models(matrix, y, **{**options, **kwargs})

    base = fit()
    again = fit(xgb_params={**quick, "nthread": 2})
    assert {k: m.version for k, m in base.items()} == {k: m.version for k, m in again.items()}
    assert np.array_equal(
        base["xgboost"].predict(matrix, covariates), again["xgboost"].predict(matrix, covariates)
    )
    other_data = fit(y=y + 0.01)
    assert all(other_data[k].version != base[k].version for k in kinds)
    deeper = fit(xgb_params={**quick, "max_depth": 2})
    assert deeper["xgboost"].version != base["xgboost"].version
    assert deeper["prs_ct"].version == base["prs_ct"].version
    assert fit(random_state=1)["prs_ct"].version != base["prs_ct"].version


# --- inputs -----------------------------------------------------------------------------


def test_fit_trait_models__refuses_bad_inputs():
    matrix, y, covariates = constructed()
    with pytest.raises(ValueError, match="'kinds'"):
        fit_trait_models(matrix, y, kinds=("lasso",))
    with pytest.raises(ValueError, match="'n_bootstrap'"):
        fit_trait_models(matrix, y, n_bootstrap=-1)
    with pytest.raises(InputError, match="0/1"):
        fit_trait_models(matrix, y, binary=True)
    with pytest.raises(InputError, match="missing or infinite"):
        fit_trait_models(matrix, y, covariates=covariates.assign(age=np.nan))
    with pytest.raises(InputError, match="not numeric"):
        fit_trait_models(matrix, y, covariates=covariates.assign(sex="F"))
    with pytest.raises(InputError, match="rows"):
        fit_trait_models(matrix, y, covariates=covariates.iloc[:10])


def test_fit_trait_models__reselect_chooses_each_folds_snps_without_its_held_out_rows(
    monkeypatch,
):
    from tests.genotype._simulated import simulated

    data = simulated()
    matrix = data.matrix.subset(samples=np.arange(400), variants=np.arange(0, 4_000, 4))
    y = data.trait("dominance")[:400]
    selector = SequentialTreeSelector(n_keep=10, prescreen=100, shrink=0.25, xgb_params=XGB)
    snp_set = selector.fit(matrix, y, trait="dominance").snp_set_
    seen: list[set[str]] = []
    original = SequentialTreeSelector.fit

    def recording(self, m, *args, **kwargs):
        seen.append(set(m.samples))
        return original(self, m, *args, **kwargs)

    monkeypatch.setattr(SequentialTreeSelector, "fit", recording)
    models = fit_trait_models(
        matrix, y, snp_set=snp_set, reselect=selector, n_bootstrap=0, xgb_params=XGB
    )
    # One selection per fold, each on that fold's training rows only: 4/5 of the samples.
    assert len(seen) == 5
    assert all(len(rows) == 320 for rows in seen)
    assert set().union(*(set(matrix.samples) - rows for rows in seen)) == set(matrix.samples)
    # The final model reads the given set; the choice is part of the models' parameters.
    assert models["xgboost"].snp_ids == snp_set.variants
    assert models["ensemble"].params["xgboost"]["screen"] == "snp_set, reselected per fold"
    plain = fit_trait_models(matrix, y, snp_set=snp_set, kinds=("xgboost",), n_bootstrap=0)
    assert plain["xgboost"].version != models["xgboost"].version
    with pytest.raises(ValueError, match="'reselect' parameter"):
        fit_trait_models(matrix, y, reselect=selector)


def test_fit_trait_models__binary_trait_without_covariates():
    matrix, y, _ = constructed()
    case = (y > np.quantile(y, 0.7)).astype(float)
    models = fit_trait_models(matrix, case, n_bootstrap=2, xgb_params=XGB, trait="case")
    for kind, model in models.items():
        assert model.binary and model.covariates == () and model.trait == "case"
        p = model.predict(matrix, None)
        assert np.all((p > 0) & (p < 1)), kind
        assert evaluate(model, matrix, case)["auc"] > 0.9, kind  # in-sample, rs17 decides
        lower, upper = model.interval(matrix)
        assert np.all((lower <= p) & (p <= upper) & (lower > 0) & (upper < 1)), kind
        table = contributions(model, matrix)
        assert list(table.columns) == [*model.snp_ids, "bias"]
        assert np.allclose(table.sum(axis=1), model.decision_function(matrix), atol=1e-4), kind
        assert all(row[0][0] == "rs17" for row in top_contributions(model, matrix, k=1)), kind


def test_predict__refuses_missing_snps_or_covariates_and_fills_no_calls():
    matrix, _, covariates = constructed()
    model = constructed_models()["xgboost"]
    with pytest.raises(InputError, match="lacks"):
        model.predict(matrix.subset(variants=np.arange(10)), covariates)
    with pytest.raises(InputError, match="lack the columns"):
        model.predict(matrix, covariates[["age"]])
    with pytest.raises(InputError, match="got None"):
        model.predict(matrix, None)
    # A patient's no-call counts as the training mean, so it contributes nothing to a
    # linear model, whatever this patient (or any other in the matrix) carries.
    first = matrix.subset(samples=[0])
    uncalled = first.dosages.copy()
    uncalled[0, 17] = MISSING
    patient = DosageMatrix(uncalled, first.samples, first.variants)
    linear = constructed_models()["elastic_net"]
    assert contributions(linear, patient, covariates.iloc[:1])["rs17"].iloc[0] == pytest.approx(0)
    assert contributions(linear, first, covariates.iloc[:1])["rs17"].iloc[0] != pytest.approx(0)
    assert np.isfinite(model.predict(patient, covariates.iloc[:1])).all()


def test_kinds__lists_the_four_models_in_fit_order():
    assert KINDS == ("prs_ct", "elastic_net", "xgboost", "ensemble")
    assert list(constructed_models()) == list(KINDS)
