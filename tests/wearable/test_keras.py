"""The Keras weight converter, on files written in the official layout, against NumPy."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from clarity.wearable import (
    PAT_SIZES,
    PATClassifier,
    PATConfig,
    PATEncoder,
    WeightMismatchError,
    infer_config,
    load_keras_weights,
    read_keras_h5,
)


def keras_tensors(config: PATConfig, seed: int = 0, *, head: bool = False) -> dict[str, np.ndarray]:
    """Random weights named and shaped as the official Keras model names and shapes them."""
    rng = np.random.default_rng(seed)
    d, h, f = config.embed_dim, config.heads, config.ff_dim

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.3, shape).astype(np.float32)

    tensors = {"dense/kernel:0": w(config.patch_size, d), "dense/bias:0": w(d)}
    for i in range(1, config.layers + 1):
        p = f"encoder_layer_{i}_"
        for part in ("query", "key", "value"):
            tensors[f"{p}attention/{part}/kernel:0"] = w(d, h, d)
            tensors[f"{p}attention/{part}/bias:0"] = w(h, d)
        tensors[f"{p}attention/attention_output/kernel:0"] = w(h, d, d)
        tensors[f"{p}attention/attention_output/bias:0"] = w(d)
        for norm in ("norm1", "norm2"):
            tensors[f"{p}{norm}/gamma:0"] = 1 + w(d)
            tensors[f"{p}{norm}/beta:0"] = w(d)
        tensors[f"{p}ff1/kernel:0"], tensors[f"{p}ff1/bias:0"] = w(d, f), w(f)
        tensors[f"{p}ff2/kernel:0"], tensors[f"{p}ff2/bias:0"] = w(f, d), w(d)
    if head:
        tensors["dense_128/kernel:0"], tensors["dense_128/bias:0"] = w(d, 128), w(128)
        tensors["output/kernel:0"], tensors["output/bias:0"] = w(128, 1), w(1)
    return tensors


def _write_group(parent: h5py.Group, layer: str, tensors: dict[str, np.ndarray]) -> None:
    group = parent.create_group(layer)
    group.attrs["weight_names"] = [n.encode() for n in tensors]
    for name, array in tensors.items():
        group.create_dataset(name, data=array)


def write_weights_file(path, tensors, config: PATConfig) -> None:
    """A ``save_weights`` file of the encoder: one group per layer, nested model included."""
    with h5py.File(path, "w") as f:
        blocks = [f"encoder_layer_{i}_transformer" for i in range(1, config.layers + 1)]
        f.attrs["layer_names"] = [
            n.encode() for n in ["inputs", "reshape", "dense", "tf.__operators__.add", *blocks]
        ]
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.15.0"
        for layer in ("inputs", "reshape", "tf.__operators__.add"):
            _write_group(f, layer, {})
        _write_group(f, "dense", {k: v for k, v in tensors.items() if k.startswith("dense/")})
        for i, block in enumerate(blocks, 1):
            prefix = f"encoder_layer_{i}_"
            _write_group(f, block, {k: v for k, v in tensors.items() if k.startswith(prefix)})


def write_finetuned_model_file(path, tensors) -> None:
    """A ``model.save`` file of the fine-tuning model: encoder nested as ``encoder_model``."""
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights")
        layers = ["finetuning_inputs", "encoder_model", "global_avg_pool", "dropout", "dense_128"]
        root.attrs["layer_names"] = [n.encode() for n in [*layers, "output"]]
        for layer in ("finetuning_inputs", "global_avg_pool", "dropout"):
            _write_group(root, layer, {})
        head = ("dense_128/", "output/")
        _write_group(
            root, "encoder_model", {k: v for k, v in tensors.items() if not k.startswith(head)}
        )
        for layer in ("dense_128", "output"):
            _write_group(root, layer, {k: v for k, v in tensors.items() if k.startswith(layer)})


# ----------------------------------------------------------- an independent NumPy PAT


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * gamma + beta


def numpy_pat(t: dict[str, np.ndarray], x: np.ndarray, config: PATConfig) -> np.ndarray:
    """The Keras computation, written from the official notebooks with Keras-shaped weights."""
    batch = x.shape[0]
    n, d = config.num_patches, config.embed_dim
    h = x.reshape(batch, n, config.patch_size).astype(np.float64) @ t["dense/kernel:0"]
    h = h + t["dense/bias:0"]
    position = np.arange(n)[:, None]
    div_term = np.exp(np.arange(0, d, 2) * (-np.log(10000.0) / d))
    h = h + np.concatenate([np.sin(position * div_term), np.cos(position * div_term)], -1)
    for i in range(1, config.layers + 1):
        p = f"encoder_layer_{i}_"
        q, k, v = (
            np.einsum("btd,dhk->bthk", h, t[f"{p}attention/{part}/kernel:0"])
            + t[f"{p}attention/{part}/bias:0"]
            for part in ("query", "key", "value")
        )
        scores = np.einsum("bqhk,bthk->bhqt", q / np.sqrt(d), k)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = scores / scores.sum(-1, keepdims=True)
        context = np.einsum("bhqt,bthk->bqhk", attention, v)
        out = np.einsum("bqhk,hkd->bqd", context, t[f"{p}attention/attention_output/kernel:0"])
        out = out + t[f"{p}attention/attention_output/bias:0"]
        h = _layer_norm(h + out, t[f"{p}norm1/gamma:0"], t[f"{p}norm1/beta:0"])
        ff = np.maximum(h @ t[f"{p}ff1/kernel:0"] + t[f"{p}ff1/bias:0"], 0)
        ff = ff @ t[f"{p}ff2/kernel:0"] + t[f"{p}ff2/bias:0"]
        h = _layer_norm(h + ff, t[f"{p}norm2/gamma:0"], t[f"{p}norm2/beta:0"])
    return h


def numpy_probability(t: dict[str, np.ndarray], x: np.ndarray, config: PATConfig) -> np.ndarray:
    pooled = numpy_pat(t, x, config).mean(axis=1)
    hidden = np.maximum(pooled @ t["dense_128/kernel:0"] + t["dense_128/bias:0"], 0)
    logit = hidden @ t["output/kernel:0"] + t["output/bias:0"]
    return 1 / (1 + np.exp(-logit[:, 0]))


# ----------------------------------------------------------- tests


def test_pat_s_weights_file__loads_by_name_and_matches_numpy(tmp_path):
    config = PAT_SIZES["S"]
    tensors = keras_tensors(config)
    path = tmp_path / "PAT-S_29k_weights.h5"
    write_weights_file(path, tensors, config)
    assert infer_config(read_keras_h5(path)) == config
    encoder = load_keras_weights(PATEncoder(config), path)
    x = np.random.default_rng(1).normal(size=(2, 10_080)).astype(np.float32)
    with torch.inference_mode():
        tokens, _ = encoder.eval()(torch.from_numpy(x))
    expected = numpy_pat(tensors, x, config)
    np.testing.assert_allclose(tokens.numpy(), expected, atol=2e-4)


def test_finetuned_model_file__gives_the_numpy_probability(tmp_path):
    config = PATConfig(patch_size=144, layers=2, heads=3, embed_dim=16, ff_dim=32)
    tensors = keras_tensors(config, seed=3, head=True)
    path = tmp_path / "finetuned.h5"
    write_finetuned_model_file(path, tensors)
    found = infer_config(read_keras_h5(path))
    assert (found.patch_size, found.layers, found.heads, found.embed_dim) == (144, 2, 3, 16)
    model = load_keras_weights(PATClassifier(config), path)
    assert isinstance(model, PATClassifier)
    x = np.random.default_rng(2).normal(size=(3, 10_080)).astype(np.float32)
    with torch.inference_mode():
        probability = model.eval().predict_proba(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(probability, numpy_probability(tensors, x, config), atol=1e-5)


def test_encoder_file_into_a_classifier__leaves_the_head_to_fine_tune(tmp_path):
    config = PAT_SIZES["S"]
    tensors = keras_tensors(config)
    path = tmp_path / "w.h5"
    write_weights_file(path, tensors, config)
    model = load_keras_weights(PATClassifier(config), path)
    kernel = model.encoder.dense.weight.detach().numpy()
    np.testing.assert_array_equal(kernel, tensors["dense/kernel:0"].T)


def test_mismatches__list_missing_unexpected_and_misshapen_tensors(tmp_path):
    config = PAT_SIZES["S"]
    tensors = keras_tensors(config)
    missing = dict(tensors)
    del missing["encoder_layer_1_ff2/bias:0"]
    path = tmp_path / "missing.h5"
    write_weights_file(path, missing, config)
    with pytest.raises(WeightMismatchError, match=r"missing from the file: layers\.0\.ff2\.bias"):
        load_keras_weights(PATEncoder(config), path)

    extra = {**tensors, "encoder_layer_1_attention/query/weird:0": np.zeros(3, np.float32)}
    path = tmp_path / "extra.h5"
    write_weights_file(path, extra, config)
    with pytest.raises(WeightMismatchError, match="unexpected in the file: encoder_layer_1_atten"):
        load_keras_weights(PATEncoder(config), path)
    assert isinstance(load_keras_weights(PATEncoder(config), path, strict=False), PATEncoder)

    medium = PAT_SIZES["M"]
    path = tmp_path / "m.h5"
    write_weights_file(path, keras_tensors(medium), medium)
    with pytest.raises(WeightMismatchError) as caught:
        load_keras_weights(PATEncoder(config), path)
    message = str(caught.value)
    assert "wrong shape: layers.0.attention.attention_output.weight: file (96, 1152)" in message
    assert "unexpected in the file: encoder_layer_2_attention" in message


def test_unreadable_files__say_what_they_are(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(WeightMismatchError, match="not a readable HDF5 file"):
        read_keras_h5(junk)
    keras3 = tmp_path / "model.weights.h5"
    with h5py.File(keras3, "w") as f:
        f.create_group("layers").create_group("dense")
    with pytest.raises(WeightMismatchError, match=r"Keras 3 \(\.weights\.h5\)"):
        read_keras_h5(keras3)
    with pytest.raises(WeightMismatchError, match="No patch embedding"):
        infer_config({"output/kernel:0": np.zeros((128, 1))})
