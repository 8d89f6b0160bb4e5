"""PLINK-style phenotype and covariate files, indexed by individual id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clarity.errors import InputError

__all__ = ["read_phenotypes"]
_MISSING_VALUES = {"", "NA", "NAN", "N/A", "."}


def read_phenotypes(path: Path | str) -> pd.DataFrame:
    """Read a PLINK-style phenotype or covariate file, indexed by individual id.

    Columns are family id, individual id, then one or more values. A header is
    recognised when the first line starts with ``FID IID`` (or plink2's
    ``#FID IID``); a file with ``IID`` or ``#IID`` first has no family column.
    Without a header the values are named ``PHENO1``, ``PHENO2``, ... (as
    plink2 names them). Fields are separated by commas when the first line has
    one, else by whitespace. The family id is dropped: samples are identified
    by individual id throughout, as in :class:`~clarity.genotype.DosageMatrix`.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    pandas.DataFrame
        Float columns, one per value, indexed by ``IID`` (str); ``-9``, ``NA``,
        ``NaN``, ``.`` and empty fields are NaN (PLINK's missing codes).

    Raises
    ------
    InputError
        When the file is missing or empty, has fewer than three columns (two
        with an ``IID``-first header), repeats an individual id, or holds a
        value that is not a number.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with path.open(encoding="utf-8") as handle:
        first = next((line for line in handle if line.strip()), None)
    if first is None:
        raise InputError(f"{path.name}: the file is empty")
    comma = "," in first
    fields = [f.strip() for f in first.split(",")] if comma else first.split()
    head = [f.lstrip("#").upper() for f in fields[:2]]
    has_fid = not (head and head[0] == "IID")
    header = head == ["FID", "IID"] or not has_fid
    try:
        table = pd.read_csv(
            path,
            sep="," if comma else r"\s+",
            header=0 if header else None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
        )
    except (ValueError, pd.errors.ParserError) as error:
        raise InputError(f"{path.name}: cannot be read as a phenotype table: {error}") from error
    skip = 2 if has_fid else 1
    if table.shape[1] <= skip:
        raise InputError(
            f"{path.name}: needs {'FID, IID' if has_fid else 'IID'} and at least one value "
            f"column; got {table.shape[1]} column(s)"
        )
    if header:
        names = [str(c).strip() for c in table.columns[skip:]]
    else:
        names = [f"PHENO{i}" for i in range(1, table.shape[1] - skip + 1)]
    iid = table.iloc[:, skip - 1].astype(str).str.strip()
    repeated = iid[iid.duplicated()]
    if len(repeated):
        raise InputError(f"{path.name}: individual id {repeated.iloc[0]!r} appears more than once")
    values: dict[str, np.ndarray] = {}
    first_row = 2 if header else 1
    for number, column in enumerate(names):
        text = table.iloc[:, skip + number].str.strip()
        absent = text.str.upper().isin(_MISSING_VALUES)
        parsed = pd.to_numeric(text.where(~absent), errors="coerce")
        bad = parsed.isna() & ~absent
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{path.name}: column {column!r} holds {text.iloc[row]!r} for "
                f"{iid.iloc[row]!r} (data row {row + first_row}); values must be numbers, "
                "with -9 or NA for missing"
            )
        array = parsed.to_numpy(dtype=np.float64)
        array[array == -9] = np.nan
        values[column] = array
    return pd.DataFrame(values, index=pd.Index(iid.to_numpy(), name="IID", dtype=object))
