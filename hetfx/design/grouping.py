"""Group the units of each equation by their modifier values.

Discrete modifiers group by value; continuous ones (numeric with more than
``DISCRETE_MAX_LEVELS`` values, or named in ``bins``) are binned for grouping
only. Control units of a binary treatment carry no group.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hetfx.errors import DataError, OptionError

DISCRETE_MAX_LEVELS = 10
DEFAULT_BINS = 4
SMALL_GROUP = 5
NO_GROUP = -1
ALL_UNITS = "all units"


class GroupingWarning(UserWarning):
    """The grouping leaves partial pooling little to work with."""


@dataclass(frozen=True)
class Grouping:
    """The groups of one equation.

    Attributes
    ----------
    index : numpy.ndarray of int
        Group of every unit (0-based), ``NO_GROUP`` for units without one.
    table : pandas.DataFrame
        One row per group: ``group``, one column per modifier variable,
        ``n_treated``, ``n``.
    coders : dict
        How each modifier's values map to grouping values.
    cells : numpy.ndarray of int, optional
        Modifier cell of every unit, treated or not (0-based, in the order of
        the cells' grouping values); what the saturated OLS baseline needs.
    """

    index: np.ndarray
    table: pd.DataFrame
    coders: dict[str, Coder] = field(default_factory=dict)
    cells: np.ndarray | None = None

    def assign(self, frame: pd.DataFrame) -> np.ndarray:
        """Group of each row of new data; ``NO_GROUP`` for unseen combinations."""
        if not self.coders:
            return np.zeros(len(frame), dtype=int)
        modifiers = list(self.coders)
        row_keys = cell_keys(frame, self.coders, strict=False)
        group_keys = cell_keys(self.table[modifiers], self.coders, coded=True)
        order = np.argsort(group_keys)
        pos = np.searchsorted(group_keys[order], row_keys)
        pos = np.minimum(pos, len(order) - 1)
        found = (row_keys >= 0) & (group_keys[order][pos] == row_keys)
        return np.where(found, order[pos], NO_GROUP)

    @property
    def n_groups(self) -> int:
        return len(self.table)


def format_value(value: Any) -> str:
    """Readable label of a modifier value or bin.

    Examples
    --------
    >>> format_value(1.0), format_value(pd.Interval(0.5, 2.0))
    ('1', '(0.5, 2]')
    """
    if isinstance(value, pd.Interval):
        left = "[" if value.closed in ("left", "both") else "("
        right = "]" if value.closed in ("right", "both") else ")"
        return f"{left}{value.left:g}, {value.right:g}{right}"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def validate_bins(
    bins: Any, modifiers: Sequence[str], by_level: Sequence[str] = ()
) -> dict[str, Any]:
    """Check the ``bins`` option against the modifier variables.

    ``by_level`` names the modifiers written as ``C(x)``: unless ``bins`` says
    otherwise they group by level (``None``), not by quantile bins.
    """
    levels = {m: None for m in by_level}
    if bins is None:
        return levels
    if not isinstance(bins, dict):
        raise OptionError(
            f"bins must be a dict such as {{'age': 5}}, got {type(bins).__name__}."
        )
    for name, spec in bins.items():
        if name not in modifiers:
            raise OptionError(
                f"bins names {name!r}, which is not a modifier; modifiers are "
                f"{list(modifiers)}."
            )
        if spec is None:
            continue
        if isinstance(spec, int | np.integer) and not isinstance(spec, bool):
            if spec < 2:
                raise OptionError(f"bins[{name!r}] must be at least 2, got {spec}.")
            continue
        edges = np.asarray(spec, dtype=float) if _is_sequence(spec) else None
        if edges is None or edges.ndim != 1 or edges.size < 3:
            raise OptionError(
                f"bins[{name!r}] must be a number of quantile bins, a list of at "
                f"least 3 edges, or None; got {spec!r}."
            )
        if np.any(np.diff(edges) <= 0):
            raise OptionError(f"bins[{name!r}] edges must increase: {spec!r}.")
    return {**levels, **bins}


def _is_sequence(x: Any) -> bool:
    return isinstance(x, list | tuple | np.ndarray | pd.Series)


def is_continuous(series: pd.Series) -> bool:
    """A modifier is binned when numeric with more than DISCRETE_MAX_LEVELS values."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return False
    return series.nunique() > DISCRETE_MAX_LEVELS


@dataclass(frozen=True)
class Coder:
    """How one modifier's values map to grouping values (a value or a bin label).

    Attributes
    ----------
    name : str
    categories : list
        Grouping values in their natural order.
    edges : numpy.ndarray or None
        Bin edges for binned variables (``categories`` are then the bin labels).
    """

    name: str
    categories: list[Any]
    edges: np.ndarray | None = None

    def encode(self, series: pd.Series, strict: bool = True) -> pd.Categorical:
        """Grouping values of ``series``; unknown values raise or become missing."""
        if self.edges is None:
            cat = pd.Categorical(series.to_numpy(), categories=self.categories)
        else:
            cat = pd.cut(
                series.to_numpy(dtype=float),
                bins=self.edges,
                labels=self.categories,
                include_lowest=True,
            )
        if strict:
            missing = int(pd.isna(cat).sum())
            if missing:
                where = (
                    f"the bin edges {self.edges.tolist()}"
                    if self.edges is not None
                    else "its known values"
                )
                raise DataError(
                    f"{missing} values of modifier {self.name!r} fall outside {where}."
                )
        return pd.Categorical(cat, categories=self.categories, ordered=True)


def make_coder(series: pd.Series, spec: Any = "auto") -> Coder:
    """Build the :class:`Coder` of one modifier.

    Parameters
    ----------
    spec : "auto", int, sequence of edges or None
        ``"auto"`` bins continuous variables into ``DEFAULT_BINS`` quantile bins;
        an int sets the number of quantile bins; edges give explicit bins; None
        groups by raw value.
    """
    name = str(series.name)
    if isinstance(spec, str) and spec == "auto":
        spec = DEFAULT_BINS if is_continuous(series) else None
    if spec is None:
        levels = (
            list(series.cat.categories)
            if isinstance(series.dtype, pd.CategoricalDtype)
            else sorted(pd.unique(series.to_numpy()), key=lambda v: (str(type(v)), v))
        )
        return Coder(name, levels)
    if not pd.api.types.is_numeric_dtype(series):
        raise OptionError(f"bins[{name!r}]: only numeric modifiers can be binned.")
    values = series.to_numpy(dtype=float)
    if isinstance(spec, int | np.integer):
        edges = np.unique(np.quantile(values, np.linspace(0, 1, int(spec) + 1)))
        if edges.size < 2:
            edges = np.array([values.min(), values.max() + 1.0])
    else:
        edges = np.asarray(spec, dtype=float)
    return bin_coder(name, edges)


def bin_coder(name: str, edges: np.ndarray) -> Coder:
    """The :class:`Coder` of bins with these edges (the first bin is closed).

    Examples
    --------
    >>> bin_coder("age", np.array([18.0, 40, 90])).categories
    ['[18, 40]', '(40, 90]']
    """
    labels = [
        f"{'[' if i == 0 else '('}{lo:g}, {hi:g}]"
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    return Coder(name, labels, np.asarray(edges, dtype=float))


def cell_keys(
    frame: pd.DataFrame,
    coders: dict[str, Coder],
    strict: bool = True,
    coded: bool = False,
) -> np.ndarray:
    """One integer per row for its combination of grouping values.

    Keys order the combinations lexicographically by the coders' categories, as
    the group table does; rows with a value outside the coders get -1 (or raise
    DataError when ``strict``). ``coded=True`` reads grouping values (bin
    labels), as in the group table, instead of raw values.
    """
    sizes = [max(len(c.categories), 1) for c in coders.values()]
    if float(np.prod(sizes, dtype=float)) >= 2**62:
        raise OptionError(
            "Too many possible modifier combinations to key them; use fewer "
            "modifiers or coarser bins."
        )
    key = np.zeros(len(frame), dtype=np.int64)
    bad = np.zeros(len(frame), dtype=bool)
    for (m, coder), size in zip(coders.items(), sizes, strict=True):
        if coded:
            cat = pd.Categorical(frame[m].to_numpy(), categories=coder.categories)
        else:
            cat = coder.encode(frame[m].rename(m), strict=strict)
        codes = np.asarray(cat.codes)
        bad |= codes < 0
        key = key * size + codes
    return np.where(bad, -1, key)


def group_labels(values: dict[str, Any]) -> str:
    """The readable label of a modifier combination, e.g. ``dem=1, male=0``."""
    return ", ".join(f"{m}={format_value(v)}" for m, v in values.items())


def make_grouping(
    frame: pd.DataFrame,
    modifiers: Sequence[str],
    treated: np.ndarray,
    bins: dict[str, Any] | None = None,
) -> Grouping:
    """Group the treated units by unique combination of modifier values.

    Parameters
    ----------
    frame : pandas.DataFrame
        The (clean) data.
    modifiers : sequence of str
        Modifier variables; empty for ``treat : 1``.
    treated : numpy.ndarray of bool
        Units that get a group.
    bins : dict, optional
        Per-variable binning, see :func:`make_coder`.

    Examples
    --------
    >>> df = pd.DataFrame({"z": [0, 1, 1, 0]})
    >>> make_grouping(df, ["z"], np.array([True, True, True, False])).table
      group  z  n_treated  n
    0   z=0  0          1  2
    1   z=1  1          2  2
    """
    bins = bins or {}
    n = len(frame)
    if not modifiers:
        table = pd.DataFrame(
            {"group": [ALL_UNITS], "n_treated": [int(treated.sum())], "n": [n]}
        )
        return Grouping(np.where(treated, 0, NO_GROUP), table, cells=np.zeros(n, int))
    coders = {m: make_coder(frame[m].rename(m), bins.get(m, "auto")) for m in modifiers}
    cats = {m: coders[m].encode(frame[m].rename(m)) for m in modifiers}
    codes = np.column_stack([cats[m].codes for m in modifiers])
    cell_keys, cell_of_unit = _unique_rows(
        codes, [len(cats[m].categories) for m in modifiers]
    )
    n_cell = np.bincount(cell_of_unit, minlength=len(cell_keys))
    n_treated_cell = np.bincount(cell_of_unit[treated], minlength=len(cell_keys))
    cells = np.flatnonzero(n_treated_cell > 0)  # lexicographic order of codes
    group_of_cell = np.full(len(cell_keys), NO_GROUP)
    group_of_cell[cells] = np.arange(len(cells))
    index = np.where(treated, group_of_cell[cell_of_unit], NO_GROUP)
    table = group_table(coders, cell_keys[cells], n_treated_cell[cells], n_cell[cells])
    return Grouping(index, table, coders, cell_of_unit)


def group_table(
    coders: dict[str, Coder],
    codes: np.ndarray,
    n_treated: np.ndarray,
    n: np.ndarray,
) -> pd.DataFrame:
    """The group table: one row per group, from each group's category codes.

    Both the in-memory design and the partitioned one build it here.

    Parameters
    ----------
    coders : dict
        The modifiers' coders, in the formula's order.
    codes : numpy.ndarray of int, shape (groups, modifiers)
        Each group's code of every modifier (an index into its categories).
    n_treated, n : numpy.ndarray of int
        Treated units and all units of each group's modifier cell.
    """
    rows = []
    for g, group_codes in enumerate(np.asarray(codes, dtype=int)):
        values = {
            m: coder.categories[code]
            for (m, coder), code in zip(coders.items(), group_codes, strict=True)
        }
        rows.append(
            {
                "group": group_labels(values),
                **values,
                "n_treated": int(n_treated[g]),
                "n": int(n[g]),
            }
        )
    return pd.DataFrame(rows)


def _unique_rows(codes: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of small non-negative integer codes (lexicographic order),
    and the row of each unit; through one integer key when it fits in int64."""
    if float(np.prod([max(s, 1) for s in sizes], dtype=float)) < 2**62:
        radix = np.cumprod([1, *[max(s, 1) for s in sizes[::-1]]])[:-1][::-1]
        keys, inverse = np.unique(codes.astype(np.int64) @ radix, return_inverse=True)
        rows = np.column_stack(
            [(keys // r) % max(s, 1) for r, s in zip(radix, sizes, strict=True)]
        )
        return rows, inverse.ravel()
    rows, inverse = np.unique(codes, axis=0, return_inverse=True)
    return rows, inverse.ravel()


def warn_about_groups(table: pd.DataFrame, label: str) -> None:
    """Warn when groups are tiny or too many for the treated units."""
    if len(table) < 2:
        return
    small = table["n_treated"] < SMALL_GROUP
    if small.any():
        warnings.warn(
            f"Treatment {label!r}: {int(small.sum())} of {len(table)} groups have "
            f"fewer than {SMALL_GROUP} treated units (smallest: "
            f"{int(table['n_treated'].min())}); their effects rest mostly on the "
            "pooling model.",
            GroupingWarning,
            stacklevel=3,
        )
    n_treated = int(table["n_treated"].sum())
    if len(table) > n_treated / SMALL_GROUP:
        warnings.warn(
            f"Treatment {label!r}: {len(table)} groups for {n_treated} treated "
            f"units (more than 1 group per {SMALL_GROUP}); pooling has little to "
            "work with. Consider fewer modifiers or coarser bins.",
            GroupingWarning,
            stacklevel=3,
        )
