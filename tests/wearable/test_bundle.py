"""The model bundle: scaler, scoring rules, save/load, ONNX against torch, attention maps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from clarity.wearable import (
    MinuteScaler,
    PATClassifier,
    WearableModel,
    WearableModelError,
    attention_profile,
    export_onnx,
)
from tests.wearable.conftest import TINY, week_arrays


def test_scaler__standardises_each_minute_over_worn_weeks_only():
    rng = np.random.default_rng(0)
    counts = rng.gamma(2.0, 50.0, (40, 10_080))
    wear = rng.random((40, 10_080)) > 0.2
    counts[~wear] = 0.0
    scaler = MinuteScaler.fit(counts, wear)
    minute = 777
    worn = counts[wear[:, minute], minute]
    assert scaler.mean[minute] == pytest.approx(worn.mean(), rel=1e-5)
    assert scaler.scale[minute] == pytest.approx(worn.std(), rel=1e-4)
    x = scaler.transform_weeks(counts, wear)
    assert x.dtype == np.float32 and np.all(x[~wear] == 0)
    assert abs(float(x[wear[:, minute], minute].mean())) < 1e-5
    logged = MinuteScaler.fit(counts, wear, transform="log1p")
    assert logged.mean[minute] == pytest.approx(np.log1p(worn).mean(), rel=1e-5)
    # A minute where every wearer was still cannot blow movement up to thousands of SDs.
    counts[:, minute] = 0.0
    still = MinuteScaler.fit(counts, wear)
    assert still.scale[minute] == pytest.approx(0.01 * counts[wear].std(), rel=1e-3)


def test_scaler__round_trips_and_refuses_bad_input(tmp_path):
    counts, wear = np.ones((3, 10_080)), np.ones((3, 10_080), dtype=bool)
    wear[:, :60] = False  # nobody wore the first hour: it gets the overall mean
    scaler = MinuteScaler.fit(counts, wear, transform="log1p")
    scaler.save(tmp_path / "scaler.npz")
    back = MinuteScaler.load(tmp_path / "scaler.npz")
    assert back.transform == "log1p" and np.array_equal(back.mean, scaler.mean)
    assert back.mean[0] == pytest.approx(np.log1p(1.0))
    with pytest.raises(ValueError, match="both be \\(weeks, minutes\\)"):
        MinuteScaler.fit(counts[:, :100], wear)
    with pytest.raises(ValueError, match="finite and non-negative"):
        MinuteScaler.fit(-counts, wear)
    with pytest.raises(ValueError, match="no weeks"):
        MinuteScaler.fit(counts[:0], wear[:0])
    with pytest.raises(ValueError, match="transform must be"):
        MinuteScaler.fit(counts, wear, transform="sqrt")  # type: ignore[arg-type]


def test_score__leaves_low_wear_windows_unscored(tiny_model):
    rng = np.random.default_rng(1)
    good, thin = week_arrays(rng), week_arrays(rng, worn=0.6)
    scores = tiny_model.score(np.stack([good[0], thin[0]]), np.stack([good[1], thin[1]]))
    assert scores.scored.tolist() == [True, False]
    assert scores.wear_fraction[1] == pytest.approx(0.6, abs=1e-3)
    assert 0 < scores.probabilities["depression"][0] < 1
    assert np.isnan(scores.probabilities["poor_sleep"][1])
    with pytest.raises(ValueError, match="expected \\(n, 10080\\)"):
        tiny_model.score(good[0][None, :100], good[1][None, :100])


def test_save_load__onnx_scores_equal_torch_at_any_batch_size(tiny_model, tmp_path):
    rng = np.random.default_rng(2)
    weeks = [week_arrays(rng, low=bool(i % 2), worn=0.9) for i in range(5)]
    counts, wear = np.stack([w[0] for w in weeks]), np.stack([w[1] for w in weeks])
    folder = tiny_model.save(tmp_path / "model", onnx=True)
    meta = json.loads((folder / "wearable.json").read_text())
    assert meta["heads"]["depression"] == {"torch": "depression.pt", "onnx": "depression.onnx"}
    on_torch = WearableModel.load(folder, backend="torch")
    on_onnx = WearableModel.load(folder)
    assert (on_torch.backend, on_onnx.backend) == ("torch", "onnx")
    expected = tiny_model.score(counts, wear).probabilities
    for model, batch in ((on_torch, 5), (on_onnx, 2), (on_onnx, 5)):
        got = model.score(counts, wear, batch_size=batch).probabilities
        for head in expected:
            np.testing.assert_allclose(got[head], expected[head], atol=1e-6)


def test_load__damaged_or_foreign_directories_are_clear_errors(tiny_model, tmp_path):
    with pytest.raises(WearableModelError, match="holds no wearable model"):
        WearableModel.load(tmp_path)
    folder = tiny_model.save(tmp_path / "m", onnx=False)
    with pytest.raises(WearableModelError, match="not every head has an ONNX file"):
        WearableModel.load(folder, backend="onnx")
    (folder / "depression.pt").write_bytes(b"not a state dict")
    with pytest.raises(WearableModelError, match="cannot load head 'depression'"):
        WearableModel.load(folder)
    meta = json.loads((folder / "wearable.json").read_text())
    (folder / "wearable.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(WearableModelError, match="format 99; this code reads format 1"):
        WearableModel.load(folder)


def test_load__a_missing_scaler_or_mismatched_onnx_file_is_refused(tiny_model, tmp_path):
    folder = tiny_model.save(tmp_path / "m")
    other = tiny_model.save(tmp_path / "other")
    (folder / "depression.onnx").write_bytes((other / "poor_sleep.onnx").read_bytes())
    with pytest.raises(WearableModelError, match="ONNX file of head 'depression' differs"):
        WearableModel.load(folder)
    assert WearableModel.load(folder, backend="torch").backend == "torch"
    (folder / "depression.onnx").write_bytes(b"not onnx")
    with pytest.raises(WearableModelError, match="cannot open an ONNX head"):
        WearableModel.load(folder)
    (folder / "scaler.npz").unlink()
    with pytest.raises(WearableModelError, match="cannot load the scaler"):
        WearableModel.load(folder, backend="torch")


def test_export_onnx__refuses_a_model_it_cannot_reproduce(monkeypatch, tmp_path):
    model = PATClassifier(TINY)
    assert export_onnx(model, tmp_path / "ok.onnx").is_file()
    import onnxruntime

    real = onnxruntime.InferenceSession

    class Skewed(real):  # type: ignore[misc, valid-type]
        def run(self, *args, **kwargs):
            return [out + 1.0 for out in super().run(*args, **kwargs)]

    monkeypatch.setattr(onnxruntime, "InferenceSession", Skewed)
    with pytest.raises(WearableModelError, match="differs from torch"):
        export_onnx(model, tmp_path / "skewed.onnx")


def test_explain__attention_received_per_patch_spread_to_worn_minutes(tiny_model):
    rng = np.random.default_rng(3)
    counts, wear = week_arrays(rng)
    wear[144:288] = False
    probability, minutes = tiny_model.explain(counts[None], wear[None], "depression")
    assert minutes.shape == (1, 10_080) and minutes.sum() == pytest.approx(1.0)
    assert np.all(minutes[0, 144:288] == 0)
    # Constant within a patch (the paper spreads a patch's attention over its minutes).
    assert np.ptp(minutes[0, 288:432]) == 0
    assert probability[0] == pytest.approx(
        tiny_model.score(counts[None], wear[None]).probabilities["depression"][0], abs=1e-5
    )
    with pytest.raises(KeyError, match="no head 'mania'"):
        tiny_model.explain(counts[None], wear[None], "mania")


def test_attention_profile__sums_over_queries_then_averages_heads():
    weights = np.zeros((1, 2, 3, 3))
    weights[0, 0] = [[1, 0, 0], [1, 0, 0], [0, 1, 0]]  # head 0: patch 0 receives 2, patch 1 one
    weights[0, 1] = [[0, 0, 1], [0, 0, 1], [0, 0, 1]]  # head 1: patch 2 receives everything
    wear = np.ones((1, 6), dtype=bool)
    profile = attention_profile(weights, wear, patch_size=2)
    np.testing.assert_allclose(profile[0], np.array([2, 2, 1, 1, 3, 3]) / 12)
    # The third patch is not pooled: its row of attention is left out.
    pooled = attention_profile(weights, wear, 2, queries=np.array([[True, True, False]]))
    np.testing.assert_allclose(pooled[0], np.array([2, 2, 0, 0, 2, 2]) / 8)
    with pytest.raises(ValueError, match="batch, heads, patches, patches"):
        attention_profile(weights[0], wear, 2)


def test_model__needs_heads_and_a_sane_threshold(tiny_model):
    with pytest.raises(ValueError, match="at least one head"):
        WearableModel(config=TINY, scaler=tiny_model.scaler, heads={})
    with pytest.raises(ValueError, match="min_wear_fraction"):
        WearableModel(
            config=TINY,
            scaler=tiny_model.scaler,
            heads={"x": PATClassifier(TINY)},
            min_wear_fraction=1.5,
        )
    assert not any(m.training for m in tiny_model.heads.values())
    assert torch.is_inference_mode_enabled() is False
