"""Gaussian fits of data bigger than memory, partition by partition.

The gaussian likelihood needs only W'W, W'y, y'y and N. Two passes over a Dask
DataFrame (or a Parquet dataset) give them without collecting the rows:

1. a light pass over the used columns: row counts, the levels of discrete
   variables, approximate quantiles of binned modifiers (each partition's
   quantiles pooled as a weighted sample; the exact minimum and maximum close
   the outer bins) and a small sample of rows that fixes the formulaic encodings;
2. one pass that sums, per partition, the cross-products of the *raw* columns
   V = [1, X, T_e, T_e Z_e] and their sums within each modifier cell.

The centred, scaled W is a linear map of the raw columns, so W'W follows
exactly (:mod:`hetfx.design.partition_summary`). The passes themselves are in
:mod:`hetfx.design.partition_pass`; this module drives them on Dask.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from hetfx.design.build import Design
from hetfx.design.data import check_variables
from hetfx.design.options import DesignOptions
from hetfx.design.partition_pass import (
    make_plan,
    merge_facts,
    partition_facts,
    partition_moments,
)
from hetfx.design.partition_summary import assemble
from hetfx.errors import DataError
from hetfx.formula import ParsedFormula
from hetfx.program.standata import DesignSummary

# rows of the sample that fixes the formulaic encodings, over all partitions
SAMPLE_ROWS = 20_000


def dask_available() -> bool:
    """Whether dask.dataframe can be imported (the ``hetfx[dask]`` extra)."""
    try:
        import dask.dataframe  # noqa: F401
    except ImportError:
        return False
    return True


def is_partitioned(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame, or a path to a Parquet dataset and
    Dask is installed to read it partition by partition."""
    if isinstance(data, str | os.PathLike):
        if not dask_available():
            return False
        path = Path(data)
        return path.suffix.lower() in (".parquet", ".pq") or (
            path.is_dir() and any(path.glob("*.parquet"))
        )
    return type(data).__module__.startswith("dask") and hasattr(data, "npartitions")


def to_dask(data: Any, columns: list[str]) -> Any:
    """The used ``columns`` of ``data`` as a Dask DataFrame.

    Raises
    ------
    DataError
        For a missing path or unknown columns.
    """
    import dask.dataframe as dd

    if isinstance(data, str | os.PathLike):
        if not Path(data).exists():
            raise DataError(f"Data file {str(data)!r} does not exist.")
        frame = dd.read_parquet(data)
    else:
        frame = data
    check_variables(frame._meta, columns, "the formula")
    return frame[columns]


def collect(data: Any, columns: list[str]) -> pd.DataFrame:
    """Read the used columns into memory (families other than gaussian)."""
    return to_dask(data, columns).compute()


def _add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    keys = set(a) | set(b)
    return {k: a[k] + b[k] if k in a and k in b else a.get(k, b.get(k)) for k in keys}


def _tree(items: list[Any], combine: Any) -> Any:
    """Combine dask.delayed results pairwise, in a balanced tree."""
    import dask

    items = list(items)
    while len(items) > 1:
        items = [
            dask.delayed(combine)(items[i], items[i + 1])
            if i + 1 < len(items)
            else items[i]
            for i in range(0, len(items), 2)
        ]
    return items[0]


def summarise_partitions(
    parsed: ParsedFormula,
    data: Any,
    options: DesignOptions | None = None,
    *,
    warn_groups: bool = True,
    **changes: Any,
) -> tuple[Design, DesignSummary]:
    """Design and gaussian statistics of a Dask DataFrame or Parquet dataset.

    ``options`` (:class:`hetfx.design.options.DesignOptions`, changed by keyword
    arguments of the same names) are those of :func:`hetfx.design.build_design`.
    Runs on the active Dask scheduler (a ``dask.distributed.Client`` when one
    exists, else threads).
    """
    options = DesignOptions.of(options, **changes)
    import dask

    used = list(dict.fromkeys([*parsed.variables, *filter(None, [options.weights])]))
    frame = to_dask(data, used)
    modifier_vars = [m for p in parsed.parts for m in p.grouping_variables]
    sites = tuple(p.group_by for p in parsed.parts if p.group_by)
    binned = [
        m
        for m in modifier_vars
        if m not in sites and options.bins.get(m, "auto") is not None
    ]
    per_part = max(200, SAMPLE_ROWS // max(frame.npartitions, 1))
    parts = frame.to_delayed()
    facts_parts = [
        dask.delayed(partition_facts)(p, used, binned, per_part, sites, options.weights)
        for p in parts
    ]
    (facts,) = dask.compute(_tree(facts_parts, merge_facts))
    n_dropped = facts.n_total - facts.n_clean
    if n_dropped and options.missing == "raise":
        raise DataError(f"{n_dropped} rows have missing values (missing='raise').")
    if n_dropped:
        from hetfx.design.data import MissingDataWarning

        warnings.warn(
            f"Dropped {n_dropped} of {facts.n_total} rows with missing values.",
            MissingDataWarning,
            stacklevel=3,
        )
    plan = make_plan(parsed, facts, options)
    moments = [dask.delayed(partition_moments)(p, plan) for p in parts]
    (total,) = dask.compute(_tree(moments, _add))
    return assemble(plan, total, n_dropped, warn_groups, options.normalize_weights)
