"""PAT inference on CPU: patient-weeks per second and peak memory, eager vs the served path.

For PAT-S, -M and -L (random weights; speed does not depend on them):

- **eager** (the baseline): plain torch, one week at a time, under ``no_grad``,
  as a notebook would score a cohort;
- **served, torch**: :meth:`WearableModel.score` on torch: standardisation,
  batches of ``SCORE_BATCH`` (8), ``inference_mode``;
- **served, ONNX Runtime**: the same with the exported model on ONNX Runtime
  (what the service uses when the ONNX files are present).

Each measurement runs in its own process; "peak MB" is the rise of its peak
resident memory while scoring (the batch's activations and copies), above the
loaded model and data. Ratios are against eager in the same run.
Run with ``make bench`` (or ``python bench/wearable.py --help``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

WEEKS = {"S": 128, "M": 64, "L": 16}


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets the peak resident size (VmHWM) to the current one.
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _measure(size: str, path: str, weeks: int, batch: int, folder: str, out: dict) -> None:
    import numpy as np
    import torch

    from clarity.wearable import MinuteScaler, PATClassifier, PATConfig, WearableModel

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    counts = rng.gamma(1.5, 120, (weeks, 10_080)).round()
    wear = rng.random((weeks, 10_080)) > 0.05
    config = PATConfig.size(size)
    model = WearableModel(
        config=config,
        scaler=MinuteScaler.fit(counts, wear),
        heads={"depression": PATClassifier(config).eval()},
    )
    if path == "onnx":
        model = WearableModel.load(folder, backend="onnx")
    x = torch.from_numpy(model.scaler.transform_weeks(counts, wear))
    w = torch.from_numpy(wear)
    head = model.heads["depression"]

    def run() -> None:
        if path == "eager":
            with torch.no_grad():
                for i in range(weeks):
                    head(x[i : i + 1], w[i : i + 1])
        else:
            model.score(counts, wear, batch_size=batch)

    run_small = weeks // 8 or 1  # warm up (allocator, ONNX Runtime's first run)
    if path == "eager":
        with torch.no_grad():
            head(x[:1], w[:1])
    else:
        model.score(counts[:run_small], wear[:run_small], batch_size=batch)
    _reset_peak()
    before = _status_mb("VmRSS")
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    out.update(weeks_per_s=weeks / seconds, peak_mb=_status_mb("VmHWM") - before)


def _in_process(*args: object) -> dict:
    with multiprocessing.Manager() as manager:
        out = manager.dict()
        process = multiprocessing.get_context("spawn").Process(target=_measure, args=(*args, out))
        process.start()
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"measurement {args[:2]} failed with exit code {process.exitcode}")
        return dict(out)


def _export(size: str, folder: Path) -> None:
    import numpy as np
    import torch

    from clarity.wearable import MinuteScaler, PATClassifier, PATConfig, WearableModel

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    counts = rng.gamma(1.5, 120, (8, 10_080)).round()
    wear = rng.random((8, 10_080)) > 0.05
    config = PATConfig.size(size)
    WearableModel(
        config=config,
        scaler=MinuteScaler.fit(counts, wear),
        heads={"depression": PATClassifier(config).eval()},
    ).save(folder, onnx=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="S,M,L")
    parser.add_argument("--batch", type=int, default=8, help="Windows per batch (served default).")
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply the weeks scored.")
    parser.add_argument("--json", type=Path, default=Path("bench/results/wearable.json"))
    args = parser.parse_args()
    results = {}
    print(f"{'model':<7}{'path':<16}{'weeks/s':>10}{'x eager':>10}{'peak MB':>10}")
    with tempfile.TemporaryDirectory(prefix="clarity-bench-") as tmp:
        for size in args.sizes.split(","):
            weeks = max(4, int(WEEKS[size] * args.scale))
            folder = Path(tmp) / size
            _export(size, folder)
            row = {}
            for path in ("eager", "torch", "onnx"):
                row[path] = _in_process(size, path, weeks, args.batch, str(folder))
                ratio = row[path]["weeks_per_s"] / row["eager"]["weeks_per_s"]
                row[path]["ratio"] = ratio
                label = {"eager": "eager", "torch": "served, torch", "onnx": "served, ONNX RT"}
                print(
                    f"PAT-{size:<3}{label[path]:<16}{row[path]['weeks_per_s']:>10.1f}"
                    f"{ratio:>10.2f}{row[path]['peak_mb']:>10.0f}",
                    flush=True,
                )
            results[f"PAT-{size}"] = {"weeks": weeks, "batch": args.batch, **row}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
