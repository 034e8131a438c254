"""Read data files for the command line and batch jobs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hetfx.errors import DataError

READERS = {
    ".csv": pd.read_csv,
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
    ".dta": lambda p: pd.read_stata(p, convert_categoricals=False),
}


def read_data(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet or Stata file into a DataFrame.

    Raises
    ------
    DataError
        When the file is missing, of an unknown type or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Data file {str(path)!r} does not exist.")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"Cannot read {str(path)!r}: use one of {', '.join(sorted(READERS))}."
        )
    try:
        return reader(path)
    except Exception as exc:  # the readers raise many error types
        raise DataError(f"Cannot read {str(path)!r}: {exc}") from exc
