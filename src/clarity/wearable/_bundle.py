"""A trained wearable model as one directory: scaler, one fine-tuned PAT per head, ONNX copies.

Layout of the directory (what the model registry stores)::

    wearable.json     format, PAT shape, heads, wear threshold, training record
    scaler.npz        per-minute means and SDs of the training weeks
    <head>.pt         the head's fine-tuned PATClassifier (state dict)
    <head>.onnx       the same, exported for ONNX Runtime (optional)

Scoring is batched; it runs on ONNX Runtime when the exported files are
present (checked against torch when exported) and on torch otherwise.
Attention maps always come from torch, since they are computed on request.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import pickle
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from clarity.errors import ClarityError
from clarity.wearable._explain import attention_profile
from clarity.wearable._model import MINUTES_PER_WEEK, PATClassifier, PATConfig, attended_patches
from clarity.wearable._scaler import MinuteScaler

__all__ = ["Scores", "WearableModel", "WearableModelError", "export_onnx"]

FORMAT = 1
Backend = Literal["auto", "torch", "onnx"]

SCORE_BATCH = 8
"""Windows per forward pass when scoring. On a 2-core CPU, batches of 8 score
as fast as any (``bench/wearable.py``), while batches of 64 hold 0.3-3 GB of
attention activations and ran no faster."""


class WearableModelError(ClarityError):
    """A wearable model directory is missing, damaged or of another format."""


@dataclass(frozen=True)
class Scores:
    """Risks of a batch of 7-day windows.

    Parameters
    ----------
    wear_fraction
        ``(n,)`` share of worn minutes per window.
    scored
        ``(n,)`` True where the window had enough wear to be scored.
    probabilities
        Head name to ``(n,)`` probabilities, NaN where not scored.
    """

    wear_fraction: np.ndarray
    scored: np.ndarray
    probabilities: dict[str, np.ndarray]


@dataclass
class WearableModel:
    """Fine-tuned PAT heads that share one scaler and one wear rule.

    Parameters
    ----------
    config
        PAT shape shared by the heads.
    scaler
        Per-minute standardisation of the training weeks.
    heads
        Head name (e.g. ``"depression"``) to its fine-tuned classifier.
    min_wear_fraction
        Windows worn less than this share of minutes are not scored.
    training
        What the model was trained on and how (saved with it).
    _sessions
        Internal: ONNX Runtime sessions by head name, set by :meth:`use_onnx`
        (or :meth:`load`); leave it empty to score on torch.
    """

    config: PATConfig
    scaler: MinuteScaler
    heads: dict[str, PATClassifier]
    min_wear_fraction: float = 0.7
    training: dict[str, Any] = field(default_factory=dict)
    _sessions: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.heads:
            raise ValueError("a wearable model needs at least one head")
        if not 0 <= self.min_wear_fraction <= 1:
            raise ValueError(f"min_wear_fraction must be in [0, 1]; got {self.min_wear_fraction}")
        for head in self.heads.values():
            head.eval()

    @property
    def backend(self) -> str:
        """``"onnx"`` when scoring runs on ONNX Runtime, else ``"torch"``."""
        return "onnx" if self._sessions else "torch"

    def _chunks(
        self, counts: np.ndarray, wear: np.ndarray, batch_size: int
    ) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
        for start in range(0, counts.shape[0], batch_size):
            part = slice(start, start + batch_size)
            yield part, self.scaler.transform_weeks(counts[part], wear[part]), wear[part]

    def score(
        self, counts: np.ndarray, wear: np.ndarray, *, batch_size: int = SCORE_BATCH
    ) -> Scores:
        """Score 7-day windows with every head.

        Parameters
        ----------
        counts, wear
            ``(n, 10080)`` activity counts and wear.
        batch_size
            Windows per forward pass.

        Returns
        -------
        Scores
            Per-window wear, whether scored, and each head's probability.
        """
        counts, wear = _windows(counts, wear)
        fraction = wear.mean(axis=1)
        scored = fraction >= self.min_wear_fraction
        out = {name: np.full(counts.shape[0], np.nan) for name in self.heads}
        rows = np.flatnonzero(scored)
        for part, x, w in self._chunks(counts[rows], wear[rows], batch_size):
            for name, logits in self._logits(x, w).items():
                out[name][rows[part]] = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        return Scores(wear_fraction=fraction, scored=scored, probabilities=out)

    def _logits(self, x: np.ndarray, wear: np.ndarray) -> dict[str, np.ndarray]:
        if self._sessions:
            return {
                name: session.run(None, {"x": x, "wear": wear})[0]
                for name, session in self._sessions.items()
            }
        with torch.inference_mode():
            xt, wt = torch.from_numpy(x), torch.from_numpy(wear)
            return {name: head(xt, wt).numpy() for name, head in self.heads.items()}

    def explain(
        self, counts: np.ndarray, wear: np.ndarray, head: str, *, batch_size: int = 16
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probability and per-minute attention of one head for each window.

        Parameters
        ----------
        counts, wear
            ``(n, 10080)``.
        head
            Which head's encoder to read.
        batch_size
            Windows per pass (attention is ``heads x patches^2`` per window).

        Returns
        -------
        tuple of numpy.ndarray
            ``(n,)`` probabilities and ``(n, 10080)`` attention, each row summing to 1.
        """
        if head not in self.heads:
            raise KeyError(f"no head {head!r}; this model has {sorted(self.heads)}")
        counts, wear = _windows(counts, wear)
        model = self.heads[head]
        probabilities, maps = [], []
        for _, x, w in self._chunks(counts, wear, batch_size):
            with torch.inference_mode():
                logits, weights = model.forward_with_attention(
                    torch.from_numpy(x), torch.from_numpy(w), need_weights=True
                )
            assert weights is not None
            probabilities.append(torch.sigmoid(logits).double().numpy())
            queries = attended_patches(torch.from_numpy(w), self.config.patch_size).numpy()
            maps.append(attention_profile(weights.numpy(), w, self.config.patch_size, queries))
        return np.concatenate(probabilities), np.concatenate(maps)

    # ------------------------------------------------------------------ files

    def save(self, directory: Path | str, *, onnx: bool = True) -> Path:
        """Write the model to a directory (created; existing files are replaced).

        Parameters
        ----------
        directory
            Where to write.
        onnx
            Also export each head to ONNX and check it against torch.

        Returns
        -------
        Path
            The directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.scaler.save(directory / "scaler.npz")
        files: dict[str, dict[str, str]] = {}
        for name, head in self.heads.items():
            torch.save(head.state_dict(), directory / f"{name}.pt")
            files[name] = {"torch": f"{name}.pt"}
            if onnx:
                export_onnx(head, directory / f"{name}.onnx")
                files[name]["onnx"] = f"{name}.onnx"
        meta = {
            "format": FORMAT,
            "config": self.config.to_dict(),
            "heads": files,
            "min_wear_fraction": self.min_wear_fraction,
            "training": self.training,
        }
        (directory / "wearable.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        return directory

    @classmethod
    def load(cls, directory: Path | str, *, backend: Backend = "auto") -> WearableModel:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        directory
            The model directory (e.g. from the registry).
        backend
            ``"onnx"`` to score on ONNX Runtime, ``"torch"`` for torch,
            ``"auto"`` for ONNX Runtime when every head has an ONNX file.

        Returns
        -------
        WearableModel
            The model.

        Raises
        ------
        WearableModelError
            If files are missing or of another format.
        """
        directory = Path(directory)
        try:
            meta = json.loads((directory / "wearable.json").read_text())
        except (OSError, ValueError) as error:
            raise WearableModelError(f"{directory} holds no wearable model: {error}") from error
        if meta.get("format") != FORMAT:
            raise WearableModelError(
                f"{directory}: wearable model format {meta.get('format')!r}; "
                f"this code reads format {FORMAT}"
            )
        config = PATConfig(**meta["config"])
        heads: dict[str, PATClassifier] = {}
        for name, files in meta["heads"].items():
            classifier = PATClassifier(config)
            try:
                state = torch.load(directory / files["torch"], weights_only=True)
                classifier.load_state_dict(state)
            except (OSError, RuntimeError, pickle.UnpicklingError) as error:
                raise WearableModelError(
                    f"{directory}: cannot load head {name!r}: {error}"
                ) from error
            heads[name] = classifier
        try:
            scaler = MinuteScaler.load(directory / "scaler.npz")
        except (OSError, ValueError, KeyError) as error:
            raise WearableModelError(f"{directory}: cannot load the scaler: {error}") from error
        model = cls(
            config=config,
            scaler=scaler,
            heads=heads,
            min_wear_fraction=float(meta["min_wear_fraction"]),
            training=meta.get("training", {}),
        )
        has_onnx = all("onnx" in files for files in meta["heads"].values())
        if backend == "onnx" and not has_onnx:
            raise WearableModelError(f"{directory}: not every head has an ONNX file")
        if backend == "onnx" or (backend == "auto" and has_onnx):
            try:
                model.use_onnx({n: directory / f["onnx"] for n, f in meta["heads"].items()})
            except Exception as error:  # onnxruntime raises its own, unrelated, classes
                raise WearableModelError(
                    f"{directory}: cannot open an ONNX head: {error}"
                ) from error
            model._check_onnx_agrees(directory)
        return model

    def _check_onnx_agrees(self, directory: Path, tolerance: float = 1e-4) -> None:
        """Refuse ONNX files that do not compute what the torch weights beside them do."""
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, MINUTES_PER_WEEK)).astype(np.float32)
        wear = np.ones((2, MINUTES_PER_WEEK), dtype=bool)
        on_onnx = self._logits(x, wear)
        sessions, self._sessions = self._sessions, {}
        try:
            on_torch = self._logits(x, wear)
        finally:
            self._sessions = sessions
        for name, expected in on_torch.items():
            gap = float(np.max(np.abs(on_onnx[name] - expected)))
            if gap > tolerance:
                raise WearableModelError(
                    f"{directory}: the ONNX file of head {name!r} differs from its torch "
                    f"weights (largest logit difference {gap:.2g} > {tolerance:g})"
                )

    def use_onnx(self, files: Mapping[str, Path]) -> None:
        """Score on ONNX Runtime sessions of the given exported heads.

        The sessions replace any opened before and run on the CPU; unlike
        :meth:`load`, this does not check them against the torch weights.

        Parameters
        ----------
        files
            Head name to its exported ``.onnx`` file (see :func:`export_onnx`).
            Give every head: once sessions are open, scoring reads only them.
        """
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._sessions = {
            name: onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            for name, path in files.items()
        }


def _windows(counts: np.ndarray, wear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.asarray(counts, dtype=np.float64)
    wear = np.asarray(wear, dtype=bool)
    if counts.ndim != 2 or counts.shape[1] != MINUTES_PER_WEEK or counts.shape != wear.shape:
        raise ValueError(
            f"expected (n, {MINUTES_PER_WEEK}) counts and wear; got {counts.shape} and {wear.shape}"
        )
    return counts, wear


def export_onnx(model: PATClassifier, path: Path | str, *, tolerance: float = 1e-4) -> Path:
    """Export a classifier to ONNX (dynamic batch) and check ONNX Runtime against torch.

    Parameters
    ----------
    model
        The classifier; inputs ``x`` (standardised, float32) and ``wear``
        (bool), output the logit.
    path
        The ``.onnx`` file to write.
    tolerance
        Largest absolute difference of logits allowed on a check batch.

    Returns
    -------
    Path
        The file.

    Raises
    ------
    WearableModelError
        If ONNX Runtime disagrees with torch.
    """
    import onnxruntime

    path = Path(path)
    model.eval()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, MINUTES_PER_WEEK, generator=generator)
    wear = torch.rand(3, MINUTES_PER_WEEK, generator=generator) > 0.2
    wear[1, : MINUTES_PER_WEEK // 2] = False
    batch = torch.export.Dim("batch", min=1, max=65_536)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # "torchvision is not installed" is not our concern
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # the exporter's progress chatter and deprecations
            program = torch.onnx.export(
                model,
                (x, wear),
                dynamo=True,
                dynamic_shapes={"x": {0: batch}, "wear": {0: batch}},
                input_names=["x", "wear"],
                output_names=["logit"],
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    assert program is not None
    program.save(str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 3):
        with torch.inference_mode():
            expected = model(x[:n], wear[:n]).numpy()
        got = session.run(None, {"x": x[:n].numpy(), "wear": wear[:n].numpy()})[0]
        error = float(np.abs(expected - got).max())
        if error > tolerance:
            raise WearableModelError(
                f"ONNX Runtime differs from torch by {error:.2e} (> {tolerance:g}) at batch {n}"
            )
    return path
