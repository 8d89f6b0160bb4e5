"""Notes throughput: redaction, crisis rules and retrieval indexing; summary latency.

A synthetic cohort's progress notes (templated SOAP notes with names, dates,
record numbers, phones, e-mails and addresses) go through the notes service's
per-note path: PHI redaction (Presidio + spaCy + our recognisers), the crisis
rules, and indexing of the redacted note for retrieval (chunking, MiniLM
embeddings, the SQLite vector table). The baseline, in the same run on the same
notes, is plain Presidio analysis with its default recognisers over the same
spaCy model: the part of our path that every Presidio user pays.

Then, per patient, the latency of a summary with the extractive backend:
retrieval for each heading, drafting, and the fact check with semantic support.

Run with ``make bench`` (or ``python bench/notes.py --help``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from clarity.notes import (
    ExtractiveBackend,
    PhiRedactor,
    SourceNote,
    SqliteNoteIndex,
    assess_crisis,
    load_embedder,
    retrieve_for_summary,
    summarise,
)
from clarity.synth import CohortConfig, generate_cohort


def _presidio() -> Any:
    """Presidio with its predefined recognisers only, over the same spaCy model as ours."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from clarity.notes._phi import _MODEL

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": _MODEL}],
        }
    )
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"])
    return AnalyzerEngine(
        nlp_engine=provider.create_engine(), registry=registry, supported_languages=["en"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--json", type=Path, default=Path("bench/results/notes.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clarity-bench-notes-") as tmp:
        generate_cohort(
            CohortConfig(patients=args.patients, days=args.days, seed=11, ecg_seconds=5),
            Path(tmp) / "cohort",
        )
        notes = pq.read_table(Path(tmp) / "cohort" / "truth" / "notes.parquet").to_pandas()
        texts = list(
            zip(notes["source_id"], notes["note_id"], notes["date"], notes["text"], strict=True)
        )
        chars = sum(len(t[3]) for t in texts)

        analyzer = _presidio()
        analyzer.analyze(text="warm up", language="en")
        start = time.perf_counter()
        for _, _, _, text in texts:
            analyzer.analyze(text=text, language="en")
        baseline = time.perf_counter() - start

        redactor = PhiRedactor(b"bench-key-0123456789abcdef")
        redactor.redact("warm up", "p")
        embedder = load_embedder()
        index = SqliteNoteIndex(Path(tmp) / "index.sqlite3", embedder)
        stages = dict.fromkeys(("redact", "crisis", "index"), 0.0)
        patients: dict[str, list[SourceNote]] = {}
        for patient, note_id, day, text in texts:
            t0 = time.perf_counter()
            redacted = redactor.redact(text, patient).text
            t1 = time.perf_counter()
            assess_crisis(text)
            t2 = time.perf_counter()
            note = SourceNote(note_id, day, redacted)
            index.add(patient, note)
            t3 = time.perf_counter()
            stages["redact"] += t1 - t0
            stages["crisis"] += t2 - t1
            stages["index"] += t3 - t2
            patients.setdefault(patient, []).append(note)
        total = sum(stages.values())

        latencies = []
        backend = ExtractiveBackend()
        for patient, its_notes in patients.items():
            t0 = time.perf_counter()
            passages = retrieve_for_summary(index, patient)
            summarise(its_notes, backend, passages=passages, encoder=embedder)
            latencies.append(time.perf_counter() - t0)
        index.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    n = len(texts)
    ours, base = n / total, n / baseline
    print(f"{n:,} notes ({chars / n:,.0f} characters each), {len(patients)} patients")
    print(f"{'stage':<10}{'seconds':>9}{'share':>8}")
    for stage, seconds in stages.items():
        print(f"{stage:<10}{seconds:>9.2f}{seconds / total:>8.0%}")
    print(
        f"\nClarity redact + crisis + index: {ours:,.1f} notes/s ({total:.2f} s)"
        f"\nPresidio analysis alone:        {base:,.1f} notes/s ({baseline:.2f} s)"
        f"\nratio (Clarity / Presidio alone): {ours / base:.3f}"
        f"\nextractive summary per patient ({statistics.mean(len(v) for v in patients.values()):.1f}"
        f" notes): median {statistics.median(latencies) * 1000:,.0f} ms, max "
        f"{max(latencies) * 1000:,.0f} ms (retrieval, draft, semantic fact check)"
        f"\nprocess peak RSS {peak / 2**20:,.0f} MiB"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "notes": n,
                "patients": len(patients),
                "stages_s": stages,
                "clarity_notes_per_s": ours,
                "presidio_notes_per_s": base,
                "ratio": ours / base,
                "summary_median_ms": statistics.median(latencies) * 1000,
                "summary_max_ms": max(latencies) * 1000,
                "peak_rss_mib": peak / 2**20,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
