"""Turn user data into a clean pandas frame: coercion, variables, missing values."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hetfx.errors import DataError, FormulaError, OptionError

if TYPE_CHECKING:
    from hetfx.formula import ParsedFormula


class MissingDataWarning(UserWarning):
    """Rows with missing values were dropped."""


def as_frame(data: Any) -> pd.DataFrame:
    """Return ``data`` as a pandas DataFrame.

    Accepts a DataFrame, a mapping of columns, or any object with ``to_pandas``
    (polars, pyarrow tables).

    Examples
    --------
    >>> as_frame({"y": [1.0, 2.0]}).shape
    (2, 1)
    """
    if isinstance(data, pd.DataFrame):
        frame = data
    elif hasattr(data, "to_pandas"):
        frame = data.to_pandas()
    elif isinstance(data, dict):
        try:
            frame = pd.DataFrame(data)
        except ValueError as exc:
            raise DataError(f"Cannot turn the data dict into a frame: {exc}") from exc
    else:
        raise DataError(
            f"data must be a pandas DataFrame, a dict of columns or a frame with "
            f"to_pandas(); got {type(data).__name__}."
        )
    if frame.shape[0] == 0:
        raise DataError("The data frame is empty (0 rows).")
    if not frame.columns.is_unique:
        dup = frame.columns[frame.columns.duplicated()].tolist()
        raise DataError(f"The data have duplicated column names: {dup}.")
    return frame


def check_variables(frame: pd.DataFrame, names: Iterable[str], formula: str) -> None:
    """Raise :class:`DataError` naming unknown variables and their near matches."""
    columns = [str(c) for c in frame.columns]
    for name in names:
        if name not in frame.columns:
            near = difflib.get_close_matches(name, columns, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, near))}?" if near else ""
            raise DataError(
                f"Variable {name!r} in formula {formula!r} is not in the data.{hint}"
            )


def drop_missing(
    frame: pd.DataFrame, names: list[str], missing: str = "drop"
) -> pd.DataFrame:
    """Drop rows with missing values in ``names`` (with a warning) or raise.

    Parameters
    ----------
    missing : {"drop", "raise"}
    """
    if missing not in ("drop", "raise"):
        raise OptionError(f"missing must be 'drop' or 'raise', got {missing!r}.")
    # column by column: no copy of the used columns when nothing is missing
    bad = np.zeros(len(frame), dtype=bool)
    for name in names:
        bad |= frame[name].isna().to_numpy()
    if not bad.any():
        return frame
    counts = frame[names].isna().sum()
    detail = ", ".join(f"{k} ({int(v)})" for k, v in counts[counts > 0].items())
    n_bad = int(bad.sum())
    if missing == "raise":
        raise DataError(
            f"{n_bad} rows have missing values in: {detail} (missing='raise')."
        )
    if n_bad == len(frame):
        raise DataError(f"Every row has a missing value in: {detail}.")
    warnings.warn(
        f"Dropped {n_bad} of {len(frame)} rows with missing values in: {detail}.",
        MissingDataWarning,
        stacklevel=3,
    )
    return frame.loc[~bad]


def check_finite(frame: pd.DataFrame, names: list[str]) -> None:
    """Raise :class:`DataError` when a numeric variable holds infinite values."""
    for name in names:
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            values = col.to_numpy(dtype=float, na_value=np.nan)
            n_inf = int(np.isinf(values).sum())
            if n_inf:
                raise DataError(f"Variable {name!r} has {n_inf} infinite values.")


def weight_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The survey weights in column ``name``, checked: numeric, finite, not
    missing, not negative.

    Raises
    ------
    DataError
        Naming the column and what is wrong with it.
    """
    col = frame[name]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise DataError(f"Weights {name!r} must be numeric, got {col.dtype}.")
    values = col.to_numpy(dtype=float, na_value=np.nan)
    problems = {
        "missing": np.isnan(values),
        "infinite": np.isinf(values),
        "negative": values < 0,
    }
    for what, bad in problems.items():
        if bad.any():
            raise DataError(
                f"Weights {name!r} have {int(bad.sum())} {what} values; weights "
                "must be finite and >= 0 for every row."
            )
    return values


def normalised_weights(values: np.ndarray, name: str, normalize: bool) -> np.ndarray:
    """The weights of the rows used, scaled to mean 1 when ``normalize``."""
    total = float(values.sum())
    if total <= 0:
        raise DataError(f"Weights {name!r} are all zero in the rows used.")
    return values * (len(values) / total) if normalize else values


def materialise(
    expr: str, frame: pd.DataFrame, where: str
) -> tuple[np.ndarray, list[str], Any]:
    """Design columns of a right-hand side, without the intercept column."""
    if expr.strip() in ("", "1", "0", "-1"):
        return np.zeros((len(frame), 0)), [], None
    try:
        from formulaic import model_matrix

        mm = model_matrix(f"1 + {expr}", frame, na_action="raise")
    except Exception as exc:  # formulaic raises many error types
        raise FormulaError(f"Cannot build {where} ({expr!r}): {exc}") from exc
    if not isinstance(mm, pd.DataFrame):  # formulaic read several parts ('|')
        raise FormulaError(
            f"Cannot build {where} ({expr!r}): it holds more than one formula part."
        )
    spec = mm.model_spec
    mm = mm.drop(columns=[c for c in ("Intercept",) if c in mm.columns])
    return mm.to_numpy(dtype=float), [str(c) for c in mm.columns], spec


def outcome_values(formula: ParsedFormula, frame: pd.DataFrame) -> np.ndarray:
    name = formula.outcome.strip("` ")
    if name in frame.columns:
        col = frame[name]
        if pd.api.types.is_bool_dtype(col):
            return col.to_numpy(dtype=float)
        if isinstance(col.dtype, pd.CategoricalDtype):
            return col.array  # keeps the order of the categories (ordinal)
        if not pd.api.types.is_numeric_dtype(col):
            return col.to_numpy()  # labels (ordinal, categorical); checked by family
        return col.to_numpy(dtype=float)
    values, names, _ = materialise(formula.outcome, frame, "the outcome")
    if values.shape[1] != 1:
        raise FormulaError(f"The outcome {formula.outcome!r} must give one column.")
    return values[:, 0]
