"""Load the official PAT Keras weight files (``PAT-S_29k_weights.h5`` ...) into PyTorch.

The published files are Keras 2 HDF5 weight files: a group per layer
(``dense``, ``encoder_layer_1_transformer``, ...) whose ``weight_names``
attribute lists the tensors, e.g. ``encoder_layer_1_attention/query/kernel:0``
of shape ``(96, heads, 96)``. Files saved with the whole model keep the same
groups under ``model_weights``; fine-tuned models hold the encoder in a group
``encoder_model`` beside the head (``dense_128``, ``output``).

Tensors are matched by name, never by order, and any name left over on either
side is an error that lists it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clarity.errors import ClarityError
from clarity.wearable._model import PATClassifier, PATConfig, PATEncoder

__all__ = [
    "WeightMismatchError",
    "infer_config",
    "keras_to_torch",
    "load_keras_weights",
    "read_keras_h5",
]

_LAYER = re.compile(r"^encoder_layer_(\d+)_(attention|norm1|norm2|ff1|ff2)(?:/(\w+))?/(\w+):\d+$")
_KINDS = {"kernel": "weight", "gamma": "weight", "bias": "bias", "beta": "bias"}


class WeightMismatchError(ClarityError):
    """A weight file does not fit the model: tensors missing, unexpected, or of the wrong shape."""


def read_keras_h5(path: Path | str) -> dict[str, np.ndarray]:
    """Read every weight tensor of a Keras 2 HDF5 file by its variable name.

    Parameters
    ----------
    path
        ``.h5`` file written by ``model.save_weights`` or ``model.save``.

    Returns
    -------
    dict
        ``{"dense/kernel:0": array, ...}``; tensors of a nested model are named
        as Keras names them (``encoder_layer_1_attention/query/kernel:0``),
        and the encoder of a fine-tuned model gets the prefix ``encoder_model/``.

    Raises
    ------
    WeightMismatchError
        If the file is not a Keras 2 weight file.
    """
    import h5py

    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise WeightMismatchError(f"{path} is not a readable HDF5 file: {error}") from error
    with handle:
        root: Any = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" not in root.attrs:
            layout = "Keras 3 (.weights.h5)" if "layers" in root else "an unknown layout"
            raise WeightMismatchError(
                f"{path} is not a Keras 2 weight file (no 'layer_names' attribute; it looks like "
                f"{layout}). Save the weights with TF-Keras 2 (`model.save_weights('x.h5')`)."
            )
        tensors: dict[str, np.ndarray] = {}
        for raw in root.attrs["layer_names"]:
            layer = raw.decode() if isinstance(raw, bytes) else str(raw)
            group = root[layer]
            for raw_name in group.attrs.get("weight_names", []):
                name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
                key = f"encoder_model/{name}" if layer == "encoder_model" else name
                tensors[key] = np.asarray(group[name])
    return tensors


def _target(name: str, prefix: str) -> tuple[str, str] | None:
    """Find the torch key of a Keras tensor and how to reshape it (None when unknown)."""
    if name in ("dense/kernel:0", "dense/bias:0"):
        kind = "kernel" if "kernel" in name else "vector"
        return f"{prefix}dense.{'weight' if kind == 'kernel' else 'bias'}", kind
    match = _LAYER.match(name)
    if match is None:
        return None
    layer, part, sub, variable = match.groups()
    block = f"{prefix}layers.{int(layer) - 1}"
    if variable not in _KINDS:
        return None
    if part == "attention":
        if sub not in ("query", "key", "value", "attention_output"):
            return None
        if variable == "kernel":
            return (
                f"{block}.attention.{sub}.weight",
                f"attention_{'out' if sub == 'attention_output' else 'in'}",
            )
        return f"{block}.attention.{sub}.bias", "flat"
    if sub is not None:
        return None
    if part in ("ff1", "ff2"):
        return f"{block}.{part}.{_KINDS[variable]}", "kernel" if variable == "kernel" else "vector"
    return f"{block}.{part}.{_KINDS[variable]}", "vector"


def _convert(array: np.ndarray, kind: str) -> np.ndarray:
    if kind == "kernel":  # Dense kernels are (in, out); torch stores (out, in)
        return array.T
    if kind == "attention_in":  # (dim, heads, key_dim) -> (heads*key_dim, dim)
        return array.reshape(array.shape[0], -1).T
    if kind == "attention_out":  # (heads, key_dim, dim) -> (dim, heads*key_dim)
        return array.reshape(-1, array.shape[-1]).T
    if kind == "flat":  # (heads, key_dim) -> (heads*key_dim,)
        return array.reshape(-1)
    return array


def keras_to_torch(
    tensors: dict[str, np.ndarray], *, classifier: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, str], list[str]]:
    """Translate Keras tensor names and layouts to a PyTorch state dict.

    Parameters
    ----------
    tensors
        From :func:`read_keras_h5`.
    classifier
        Map onto a :class:`PATClassifier` (``encoder.`` prefix and the head)
        rather than a bare :class:`PATEncoder`.

    Returns
    -------
    tuple
        The state dict; the Keras name of each of its keys; and the Keras
        names that match no PAT tensor at all.
    """
    prefix = "encoder." if classifier else ""
    state: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unknown: list[str] = []
    for name, array in tensors.items():
        keras_name = name.removeprefix("encoder_model/")
        layer, variable = keras_name.split("/")[0], keras_name.split("/")[-1]
        target: tuple[str, str] | None
        if layer in ("dense_128", "output") and variable in ("kernel:0", "bias:0"):
            kernel = variable == "kernel:0"
            target = f"{layer}.{'weight' if kernel else 'bias'}", "kernel" if kernel else "vector"
        else:
            target = _target(keras_name, prefix)
        if target is None:
            unknown.append(name)
            continue
        key, kind = target
        state[key] = torch.from_numpy(np.ascontiguousarray(_convert(array, kind))).float()
        origin[key] = name
    return state, origin, unknown


def infer_config(tensors: dict[str, np.ndarray], **overrides: Any) -> PATConfig:
    """Read a model's shape off its tensors: patch size, blocks, heads, widths.

    Parameters
    ----------
    tensors
        From :func:`read_keras_h5`.
    **overrides
        Fields to set regardless (e.g. ``dropout``).

    Returns
    -------
    PATConfig
        The configuration the weights fit.
    """
    names = {n.removeprefix("encoder_model/"): a for n, a in tensors.items()}
    if "dense/kernel:0" not in names:
        raise WeightMismatchError(
            "No patch embedding 'dense/kernel:0' in the file; is it a PAT encoder? Tensors: "
            + ", ".join(sorted(tensors)[:10])
        )
    patch, dim = names["dense/kernel:0"].shape
    blocks = sorted({int(m.group(1)) for n in names if (m := _LAYER.match(n))})
    query = names.get("encoder_layer_1_attention/query/kernel:0")
    ff1 = names.get("encoder_layer_1_ff1/kernel:0")
    if not blocks or query is None or ff1 is None:
        raise WeightMismatchError("No transformer block 'encoder_layer_1_*' in the file.")
    head = names.get("dense_128/kernel:0")
    fields: dict[str, Any] = dict(
        patch_size=int(patch),
        layers=len(blocks),
        heads=int(query.shape[1]),
        embed_dim=int(dim),
        ff_dim=int(ff1.shape[1]),
    )
    if head is not None:
        fields["head_units"] = int(head.shape[1])
    fields.update(overrides)
    return PATConfig(**fields)


def load_keras_weights(
    model: PATEncoder | PATClassifier, path: Path | str, *, strict: bool = True
) -> PATEncoder | PATClassifier:
    """Load an official PAT ``.h5`` file into a model, by tensor name.

    Parameters
    ----------
    model
        A :class:`PATEncoder`, or a :class:`PATClassifier` whose encoder (and,
        for a fine-tuned file, head) to fill.
    path
        The Keras weight file.
    strict
        Refuse tensors of the file that the model has no place for (e.g. the
        decoder of a pretraining checkpoint). Tensors the model needs but the
        file lacks are always refused, except a classifier's head when the
        file holds only an encoder.

    Returns
    -------
    PATEncoder or PATClassifier
        The same model, loaded.

    Raises
    ------
    WeightMismatchError
        Listing the missing, unexpected and wrongly shaped tensors.
    """
    tensors = read_keras_h5(path)
    classifier = isinstance(model, PATClassifier)
    state, origin, unknown = keras_to_torch(tensors, classifier=classifier)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    if classifier and all(k.startswith(("dense_128.", "output.")) for k in missing):
        missing = []  # an encoder-only file: the head stays to be fine-tuned
    wrong = sorted(
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    )
    extra = sorted(unknown + [origin[k] for k in state if k not in own])
    problems = []
    if missing:
        problems.append(f"missing from the file: {', '.join(missing)}")
    if wrong:
        problems.append(f"wrong shape: {'; '.join(wrong)}")
    if extra and strict:
        problems.append(f"unexpected in the file: {', '.join(extra)}")
    if problems:
        raise WeightMismatchError(
            f"{Path(path).name} does not fit {type(model).__name__}"
            f"(patch {model.config.patch_size}, {model.config.layers} layers, "
            f"{model.config.heads} heads): " + "; ".join(problems)
        )
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return model
