"""The two passes over a partitioned dataset (see :mod:`hetfx.design.partitions`).

Pass 1 (:func:`partition_facts`, merged by :func:`merge_facts`) learns the
levels, ranges, quantile grids and a sample of the used columns;
:func:`make_plan` turns them into the encodings and groupings every partition
shares; pass 2 (:func:`partition_moments`) sums the raw cross-products of one
partition.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hetfx.design.build import Design, build_design
from hetfx.design.data import check_finite, outcome_values, weight_values
from hetfx.design.grouping import (
    DEFAULT_BINS,
    DISCRETE_MAX_LEVELS,
    Coder,
    bin_coder,
    cell_keys,
)
from hetfx.design.options import DesignOptions
from hetfx.errors import DataError, OptionError
from hetfx.formula import ParsedFormula

QUANTILE_GRID = 201
# modifier combinations an equation may have: each partition sums arrays of
# this many rows per equation
MAX_COMBINATIONS = 20_000


# ------------------------------------------------------------------ pass 1
@dataclass
class Facts:
    """What the first pass learns about the used columns."""

    n_total: int = 0
    n_clean: int = 0
    levels: dict[str, set] = field(default_factory=dict)
    many: dict[str, bool] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)
    grids: dict[str, list[tuple[np.ndarray, int]]] = field(default_factory=dict)
    sample: pd.DataFrame | None = None


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def partition_facts(
    part: pd.DataFrame,
    used: list[str],
    binned: list[str],
    sample_rows: int,
    discrete: tuple[str, ...] = (),
    weights: str | None = None,
) -> Facts:
    """Levels, ranges, quantile grids and a sample of one partition; the
    ``discrete`` variables (groups given by a variable) keep every level."""
    facts = Facts(n_total=len(part))
    if weights is not None:
        weight_values(part, weights)  # missing, negative or infinite: an error
    part = part.dropna(subset=used)
    facts.n_clean = len(part)
    check_finite(part, used)
    keep = set(range(min(sample_rows, len(part))))
    for name in used:
        col = part[name]
        values = pd.unique(col.to_numpy())
        numeric = _is_numeric(col)
        if numeric and len(values) > DISCRETE_MAX_LEVELS and name not in discrete:
            facts.many[name] = True
            facts.levels[name] = set()
        else:
            facts.many[name] = False
            facts.levels[name] = set(values.tolist())
            # one row of every level, so the sample knows them all
            first = pd.Series(np.arange(len(col)), index=col.to_numpy())
            keep |= set(first.groupby(level=0).first().tolist())
        if numeric and len(part):
            facts.low[name] = float(col.min())
            facts.high[name] = float(col.max())
        if name in binned and numeric and len(part):
            q = np.quantile(col.to_numpy(dtype=float), np.linspace(0, 1, QUANTILE_GRID))
            facts.grids[name] = [(q, len(part))]
    facts.sample = part.iloc[sorted(keep)]
    return facts


def merge_facts(a: Facts, b: Facts) -> Facts:
    out = Facts(n_total=a.n_total + b.n_total, n_clean=a.n_clean + b.n_clean)
    for name in {*a.levels, *b.levels}:
        many = a.many.get(name, False) or b.many.get(name, False)
        out.many[name] = many
        out.levels[name] = (
            set() if many else a.levels.get(name, set()) | b.levels.get(name, set())
        )
        lows = [d[name] for d in (a.low, b.low) if name in d]
        highs = [d[name] for d in (a.high, b.high) if name in d]
        if lows:
            out.low[name], out.high[name] = min(lows), max(highs)
        grids = a.grids.get(name, []) + b.grids.get(name, [])
        if grids:
            out.grids[name] = grids
    samples = [s for s in (a.sample, b.sample) if s is not None]
    out.sample = pd.concat(samples) if samples else None
    return out


def _union_is_many(facts: Facts, name: str) -> bool:
    return facts.many[name] or len(facts.levels[name]) > DISCRETE_MAX_LEVELS


def approximate_quantiles(
    grids: list[tuple[np.ndarray, int]], probs: np.ndarray
) -> np.ndarray:
    """Quantiles pooled from each partition's quantile grid, weighted by rows.

    Examples
    --------
    >>> g = [(np.linspace(0, 1, 5), 100), (np.linspace(1, 2, 5), 100)]
    >>> approximate_quantiles(g, np.array([0.5])).round(2)
    array([1.])
    """
    values = np.concatenate([q for q, _ in grids])
    weights = np.concatenate([np.full(q.size, n / q.size) for q, n in grids])
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    cum = (np.cumsum(weights) - weights / 2) / weights.sum()
    return np.interp(probs, cum, values)


# ------------------------------------------------------------------ the plan
@dataclass
class Plan:
    """How every partition turns into raw statistics."""

    reference: Design
    used: list[str]
    categories: dict[str, list[Any]]
    coders: list[dict[str, Coder]]
    cells: list[int]
    x0: np.ndarray
    z0: list[np.ndarray]
    y0: float
    weights: str | None = None


def _sorted_levels(levels: set) -> list[Any]:
    return sorted(levels, key=lambda v: (str(type(v)), v))


def _coders(
    facts: Facts, modifiers: list[str], bins: dict[str, Any]
) -> dict[str, Coder]:
    coders = {}
    for m in modifiers:
        spec = bins.get(m, "auto")
        if isinstance(spec, str) and spec == "auto":
            spec = DEFAULT_BINS if _union_is_many(facts, m) else None
        if spec is None:
            if facts.many[m]:
                raise OptionError(
                    f"Modifier {m!r} has more than {DISCRETE_MAX_LEVELS} values; "
                    "bin it (bins={...}) to group by it."
                )
            coders[m] = Coder(m, _sorted_levels(facts.levels[m]))
            continue
        if m not in facts.low:
            raise OptionError(f"bins[{m!r}]: only numeric modifiers can be binned.")
        if isinstance(spec, int | np.integer):
            inner = approximate_quantiles(
                facts.grids[m], np.linspace(0, 1, int(spec) + 1)[1:-1]
            )
            edges = np.unique([facts.low[m], *inner, facts.high[m]])
            if edges.size < 2:
                edges = np.array([facts.low[m], facts.low[m] + 1.0])
        else:
            edges = np.asarray(spec, dtype=float)
        coders[m] = bin_coder(m, edges)
    return coders


def _with_categories(part: pd.DataFrame, categories: dict[str, list]) -> pd.DataFrame:
    if not categories:
        return part
    part = part.copy()
    for name, levels in categories.items():
        part[name] = pd.Categorical(part[name], categories=levels)
    return part


def make_plan(parsed: ParsedFormula, facts: Facts, options: DesignOptions) -> Plan:
    """Fix encodings, groupings and shifts from the first pass."""
    used = list(facts.levels)
    if facts.n_clean == 0:
        raise DataError("Every row has a missing value in the used variables.")
    sample = facts.sample
    categories = {
        name: _sorted_levels(facts.levels[name])
        for name in used
        if not _is_numeric(sample[name]) and name not in parsed.treatments
    }
    grouping_vars = [v for p in parsed.parts for v in p.grouping_variables]
    sites = {p.group_by for p in parsed.parts if p.group_by}
    bins = {**options.bins, **dict.fromkeys(sites)}  # groups by value
    coders_by_var = _coders(facts, list(dict.fromkeys(grouping_vars)), bins)
    ref_bins = {
        m: (c.edges if c.edges is not None else None)
        for m, c in coders_by_var.items()
        if m not in sites
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = build_design(
            parsed,
            _with_categories(sample.reset_index(drop=True), categories),
            options,
            bins=ref_bins,
            missing="raise",
            warn_groups=False,
        )
    coders, cells, z0 = [], [], []
    for eq in reference.equations:
        eq_coders = {m: coders_by_var[m] for m in eq.grouping_variables}
        size = int(np.prod([len(c.categories) for c in eq_coders.values()]))
        if eq.has_groups and size > MAX_COMBINATIONS:
            raise OptionError(
                f"Treatment {eq.label!r}: {size} possible modifier combinations; "
                f"partitioned fits allow at most {MAX_COMBINATIONS}. Use coarser bins."
            )
        coders.append(eq_coders)
        cells.append(size if eq.has_groups else 0)
        z0.append(eq.Z.mean(axis=0))
    return Plan(
        reference,
        used,
        categories,
        coders,
        cells,
        reference.X.mean(axis=0),
        z0,
        float(np.mean(reference.y)),
        options.weights,
    )


# ------------------------------------------------------------------ pass 2
def _onehot(keys: np.ndarray, weights: np.ndarray, size: int) -> Any:
    rows = np.flatnonzero(keys >= 0)
    from scipy import sparse

    return sparse.csr_matrix(
        (weights[rows], (rows, keys[rows])), shape=(len(keys), size)
    )


def partition_moments(part: pd.DataFrame, plan: Plan) -> dict[str, Any]:
    """Raw cross-products of one partition (see the module docstring)."""
    ref = plan.reference
    part = part.dropna(subset=plan.used).reset_index(drop=True)
    part = _with_categories(part, plan.categories)
    n = len(part)
    out: dict[str, Any] = {"n": n}
    if n == 0:
        return out
    X, Zs, _ = ref.new_rows(part)
    Ts = ref.treatment_values(part)
    y = np.asarray(outcome_values(ref.formula, part), dtype=float) - plan.y0
    cols = [np.ones((n, 1)), X - plan.x0]
    for T, Z, z0 in zip(Ts, Zs, plan.z0, strict=True):
        cols += [T[:, None], T[:, None] * (Z - z0)]
    V = np.column_stack(cols)
    w = part[plan.weights].to_numpy(dtype=float) if plan.weights else np.ones(n)
    Vw = V * w[:, None]
    out.update({"VtV": V.T @ V, "Vty": V.T @ y, "yty": float(y @ y)})
    # the likelihood's statistics, weighted by the survey weights (1 without)
    out.update(
        {"VtWV": Vw.T @ V, "VtWy": Vw.T @ y, "ytWy": float(y @ (w * y)), "w": w.sum()}
    )
    hots = []
    for e, eq in enumerate(ref.equations):
        if not eq.has_groups:
            hots.append(None)
            continue
        T, Z = Ts[e], Zs[e] - plan.z0[e]
        treated = np.ones(n, bool) if eq.arm.kind == "continuous" else T == 1.0
        keys = cell_keys(part, plan.coders[e], strict=True)
        size = plan.cells[e]
        d_hot = _onehot(np.where(treated, keys, -1), np.ones(n), size)
        t_hot = _onehot(np.where(treated, keys, -1), T, size)
        t_hot_w = _onehot(np.where(treated, keys, -1), T * w, size)
        hots.append((t_hot, t_hot_w))
        out[f"n_{e}"] = np.bincount(keys, minlength=size)
        out[f"nt_{e}"] = np.asarray(d_hot.sum(axis=0)).ravel()
        out[f"sz_{e}"] = d_hot.T @ Z
        out[f"szz_{e}"] = d_hot.T @ Z**2  # per group: within-group spread
        out[f"tv_{e}"] = t_hot_w.T @ V
        out[f"ty_{e}"] = t_hot_w.T @ y
    for e, he in enumerate(hots):
        for f, hf in enumerate(hots):
            if he is not None and hf is not None and f >= e:
                out[f"tt_{e}_{f}"] = (he[1].T @ hf[0]).toarray()
    return out
