"""Reading delimited text: opening (plain or gzip), sniffing the delimiter, locating rows."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["open_text", "read_rows"]


def open_text(path: Path) -> IO[str]:
    """Open a text file, transparently decompressing ``.gz``."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str], str]]:
    """Yield ``(line number, row by lower-case column, raw text)`` of a CSV/TSV file.

    Lines starting with ``#`` before the header are comments. The delimiter
    (comma, semicolon or tab) is taken from the header line. Quoted fields may
    span lines; the line number is where the row starts.

    Parameters
    ----------
    path
        The file.

    Yields
    ------
    tuple
        The 1-based line number, the row, and the row as written.
    """
    with open_text(path) as handle:
        number = 0
        header_line = ""
        for header_line in handle:
            number += 1
            if not header_line.startswith("#") and header_line.strip():
                break
        delimiter = max((",", ";", "\t"), key=header_line.count)
        columns = [c.strip().lower() for c in next(csv.reader([header_line], delimiter=delimiter))]
        reader = csv.reader(handle, delimiter=delimiter)
        consumed = 0
        for values in reader:
            start = number + consumed + 1
            consumed = reader.line_num
            if not values or (len(values) == 1 and not values[0].strip()):
                continue  # a blank line
            raw = delimiter.join(values)
            yield start, dict(zip(columns, (v.strip() for v in values), strict=False)), raw
