"""Gaussian fits of data bigger than memory, partition by partition.

The gaussian likelihood needs only W'W, W'y, y'y and N. Two passes over a Dask
DataFrame (or a Parquet dataset) give them without collecting the rows:

1. a light pass over the used columns: row counts, the levels of discrete
   variables, approximate quantiles of binned modifiers (each partition's
   quantiles pooled as a weighted sample; the exact minimum and maximum close
   the outer bins) and a small sample of rows that fixes the formulaic encodings;
2. one pass that sums, per partition, the cross-products of the *raw* columns
   V = [1, X, T_e, T_e Z_e] and their sums within each modifier cell.

The centred, scaled W of :mod:`hetfx.standata` is a linear map of the raw
columns, W = W_raw M (T_e (Z - zbar_g) = T_e Z - sum_g zbar_g T_e 1{g}), so
W'W = M' W_raw'W_raw M exactly.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hetfx.design.build import (
    Design,
    Equation,
    _outcome,
    _warn_saturated,
    build_design,
)
from hetfx.design.data import check_finite, check_variables
from hetfx.design.grouping import (
    DEFAULT_BINS,
    DISCRETE_MAX_LEVELS,
    Coder,
    Grouping,
    bin_coder,
    cell_keys,
    group_labels,
    warn_about_groups,
)
from hetfx.design.layout import Layout
from hetfx.design.options import DesignOptions
from hetfx.errors import DataError, OptionError
from hetfx.formula import ParsedFormula
from hetfx.program.standata import DesignSummary, Scaling

QUANTILE_GRID = 201
SAMPLE_ROWS = 20_000
MAX_CELLS = 20_000


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


def _partition_facts(
    part: pd.DataFrame, used: list[str], binned: list[str], sample_rows: int
) -> Facts:
    facts = Facts(n_total=len(part))
    part = part.dropna(subset=used)
    facts.n_clean = len(part)
    check_finite(part, used)
    keep = set(range(min(sample_rows, len(part))))
    for name in used:
        col = part[name]
        values = pd.unique(col.to_numpy())
        numeric = _is_numeric(col)
        if numeric and len(values) > DISCRETE_MAX_LEVELS:
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


def _merge_facts(a: Facts, b: Facts) -> Facts:
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
    modifier_vars = [m for p in parsed.parts for m in p.modifier_variables]
    coders_by_var = _coders(facts, list(dict.fromkeys(modifier_vars)), options.bins)
    ref_bins = {
        m: (c.edges if c.edges is not None else None) for m, c in coders_by_var.items()
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
        eq_coders = {m: coders_by_var[m] for m in eq.modifiers}
        size = int(np.prod([len(c.categories) for c in eq_coders.values()]))
        if eq.pooled and size > MAX_CELLS:
            raise OptionError(
                f"Treatment {eq.label!r}: {size} possible modifier combinations; "
                f"partitioned fits allow at most {MAX_CELLS}. Use coarser bins."
            )
        coders.append(eq_coders)
        cells.append(size if eq.pooled else 0)
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
    y = np.asarray(_outcome(ref.formula, part), dtype=float) - plan.y0
    cols = [np.ones((n, 1)), X - plan.x0]
    for T, Z, z0 in zip(Ts, Zs, plan.z0, strict=True):
        cols += [T[:, None], T[:, None] * (Z - z0)]
    V = np.column_stack(cols)
    out.update({"VtV": V.T @ V, "Vty": V.T @ y, "yty": float(y @ y)})
    hots = []
    for e, eq in enumerate(ref.equations):
        if not eq.pooled:
            hots.append(None)
            continue
        T, Z = Ts[e], Zs[e] - plan.z0[e]
        treated = np.ones(n, bool) if eq.arm.kind == "continuous" else T == 1.0
        keys = cell_keys(part, plan.coders[e], strict=True)
        size = plan.cells[e]
        d_hot = _onehot(np.where(treated, keys, -1), np.ones(n), size)
        t_hot = _onehot(np.where(treated, keys, -1), T, size)
        hots.append(t_hot)
        out[f"n_{e}"] = np.bincount(keys, minlength=size)
        out[f"nt_{e}"] = np.asarray(d_hot.sum(axis=0)).ravel()
        out[f"sz_{e}"] = d_hot.T @ Z
        out[f"szz_{e}"] = (Z[treated] ** 2).sum(axis=0)
        out[f"tv_{e}"] = t_hot.T @ V
        out[f"ty_{e}"] = t_hot.T @ y
    for e, he in enumerate(hots):
        for f, hf in enumerate(hots):
            if he is not None and hf is not None and f >= e:
                out[f"tt_{e}_{f}"] = (he.T @ hf).toarray()
    return out


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


# ------------------------------------------------------------- assembling
def _check_identified(gram: np.ndarray, names: list[str]) -> None:
    """DataError naming the first column that is a combination of earlier ones."""
    d = np.sqrt(np.maximum(np.diag(gram), 1e-300))
    corr = gram / np.outer(d, d)
    for j in range(1, len(names) + 1):
        block = corr[: j + 1, : j + 1]
        if np.linalg.eigvalsh(block)[0] < 1e-9:
            raise DataError(
                f"The design is not identified: {names[j - 1]!r} is "
                "collinear with the columns before it."
            )


def assemble(
    plan: Plan, total: dict[str, Any], n_dropped: int, warn_groups: bool = True
) -> tuple[Design, DesignSummary]:
    """The design (labels, groups) and its summary from the summed statistics."""
    ref = plan.reference
    N = int(total["n"])
    K = len(ref.x_names)
    VtV, Vty, yty = total["VtV"], total["Vty"], total["yty"]
    names = list(ref.x_names)
    v_t, v_tz = [], []
    pos = 1 + K
    for eq in ref.equations:
        L = len(eq.z_names)
        v_t.append(pos)
        v_tz.append(np.arange(pos + 1, pos + 1 + L))
        names += [f"treatment {eq.label!r}", *[f"{eq.label}:{z}" for z in eq.z_names]]
        pos += 1 + L
    _check_identified(VtV, names)
    P0 = pos

    equations, counts, means, z_mean, z_scale, t_sd = [], [], [], [], [], []
    groups_of = []
    for e, eq in enumerate(ref.equations):
        L = len(eq.z_names)
        if eq.arm.kind == "continuous":
            m = VtV[0, v_t[e]] / N
            t_sd.append(float(np.sqrt(max(VtV[v_t[e], v_t[e]] / N - m**2, 0.0))))
        else:
            t_sd.append(1.0)
        if not eq.pooled:
            table = eq.grouping.table.copy()
            table.loc[0, ["n_treated", "n"]] = [
                int(round(VtV[0, v_t[e]])) if eq.arm.kind != "continuous" else N,
                N,
            ]
            grouping = Grouping(np.zeros(0, dtype=int), table)
            counts.append(np.zeros(0, dtype=int))
            means.append(np.zeros((0, 0)))
            groups_of.append(np.zeros(0, dtype=int))
        else:
            nt = total[f"nt_{e}"]
            groups = np.flatnonzero(nt > 0)
            groups_of.append(groups)
            if len(groups) < 2:
                raise DataError(
                    f"Treatment {eq.label!r} has fewer than 2 groups of treated "
                    f"units for modifiers {eq.modifiers}; use "
                    f"'{eq.arm.variable} : 1' for one pooled effect."
                )
            grouping = _grouping(plan.coders[e], groups, nt, total[f"n_{e}"])
            sz = total[f"sz_{e}"]
            n_d = nt.sum()
            zm = sz.sum(axis=0) / n_d
            zv = total[f"szz_{e}"] / n_d - zm**2
            z_mean.append(plan.z0[e] + zm)
            z_scale.append(np.sqrt(np.maximum(zv, 0.0)))
            counts.append(nt[groups].astype(int))
            means.append(plan.z0[e] + sz[groups] / nt[groups, None])
        arm = replace(eq.arm, values=np.zeros(0), treated=np.zeros(0, dtype=bool))
        equations.append(
            Equation(arm, np.zeros((0, L)), eq.z_names, eq.modifiers, grouping)
        )
    x_m = VtV[0, 1 : 1 + K] / N
    x_sd = np.sqrt(np.maximum(np.diag(VtV)[1 : 1 + K] / N - x_m**2, 0.0))
    z_sd = np.concatenate(z_scale) if z_scale else np.zeros(0)
    sc = Scaling(
        plan.x0 + x_m,
        np.where(x_sd > 0, x_sd, 1.0),
        np.concatenate(z_mean) if z_mean else np.zeros(0),
        np.where(z_sd > 0, z_sd, 1.0),
    )
    y_m = Vty[0] / N
    y_sd = float(np.sqrt(max(yty / N - y_m**2, 0.0)))

    # raw Gram of [V, T_e 1{g} for pooled e] and the map M to the scaled W
    sizes = [len(g) for g in groups_of]
    P = P0 + sum(sizes)
    R = np.zeros((P, P))
    r = np.zeros(P)
    R[:P0, :P0] = VtV
    r[:P0] = Vty
    starts = np.cumsum([P0, *sizes])[:-1]
    for e, g in enumerate(groups_of):
        if not len(g):
            continue
        s = slice(starts[e], starts[e] + len(g))
        R[s, :P0] = total[f"tv_{e}"][g]
        R[:P0, s] = total[f"tv_{e}"][g].T
        r[s] = total[f"ty_{e}"][g]
        for f, h in enumerate(groups_of):
            if f >= e and len(h):
                t = slice(starts[f], starts[f] + len(h))
                block = total[f"tt_{e}_{f}"][np.ix_(g, h)]
                R[s, t] = block
                R[t, s] = block.T
    layout = Layout.build(
        list(ref.x_names),
        [
            (eq.label, tuple(eq.z_names), size)
            for eq, size in zip(ref.equations, sizes, strict=True)
        ],
    )
    M = np.zeros((P, layout.P))
    M[0, 0] = 1.0
    for k in range(K):
        M[1 + k, 1 + k] = 1.0 / sc.x_scale[k]
        M[0, 1 + k] = -x_m[k] / sc.x_scale[k]
    for e, block in enumerate(layout.equations):
        if not block.has_groups:
            M[v_t[e], layout.treatment.start + e] = 1.0
            continue
        rows = slice(starts[e], starts[e] + block.n_groups)
        zs = sc.z_scale[block.lambdas]
        dev = means[e] - plan.z0[e]  # zbar_g on the shifted scale
        for j in range(len(block.z_names)):
            col = layout.deviations.start + block.lambda_start + j
            M[v_tz[e][j], col] = 1.0 / zs[j]
            M[rows, col] = -dev[:, j] / zs[j]
        theta_cols = layout.groups.start + block.theta_start + np.arange(block.n_groups)
        M[rows, theta_cols] = np.eye(block.n_groups)
    WtW = M.T @ R @ M
    d = y_m  # R and r hold y - y0; the model's y_shift is y0 + y_m
    Wty = M.T @ (r - d * R[:, 0])
    yty_c = yty - 2 * d * Vty[0] + N * d**2
    summary = DesignSummary(
        n=N,
        y_mean=plan.y0 + y_m,
        y_sd=y_sd,
        scaling=sc,
        group_counts=counts,
        group_means=means,
        t_sd=np.asarray(t_sd),
        gaussian={"N": N, "WtW": (WtW + WtW.T) / 2.0, "Wty": Wty, "yty": yty_c},
    )
    design = Design(
        ref.formula,
        np.zeros(0),
        np.zeros((0, K)),
        list(ref.x_names),
        equations,
        pd.DataFrame(),
        n_dropped,
        ref.specs,
        {},
        n_rows=N,
    )
    if warn_groups:
        for eq in equations:
            if eq.pooled:
                warn_about_groups(eq.grouping.table, eq.label)
                _warn_saturated(eq)
    return design, summary


def _grouping(
    coders: dict[str, Coder], groups: np.ndarray, nt: np.ndarray, n: np.ndarray
) -> Grouping:
    """The group table of the cells with treated units (keys in lexicographic
    order, as :func:`hetfx.groups.make_grouping` orders them)."""
    sizes = [len(c.categories) for c in coders.values()]
    rows = []
    for key in groups:
        codes, rest = [], int(key)
        for size in reversed(sizes):
            codes.append(rest % size)
            rest //= size
        values = {
            m: c.categories[code]
            for (m, c), code in zip(coders.items(), reversed(codes), strict=True)
        }
        rows.append(
            {
                "group": group_labels(values),
                **values,
                "n_treated": int(nt[key]),
                "n": int(n[key]),
            }
        )
    return Grouping(np.zeros(0, dtype=int), pd.DataFrame(rows), coders)


# ------------------------------------------------------------------ driver
def summarise_partitions(
    parsed: ParsedFormula,
    data: Any,
    options: DesignOptions | None = None,
    *,
    warn_groups: bool = True,
    **changes: Any,
) -> tuple[Design, DesignSummary]:
    """Design and gaussian statistics of a Dask DataFrame or Parquet dataset.

    ``options`` (:class:`hetfx.design_options.DesignOptions`, changed by keyword
    arguments of the same names) are those of :func:`hetfx.design.build_design`.
    Runs on the active Dask scheduler (a ``dask.distributed.Client`` when one
    exists, else threads).
    """
    options = DesignOptions.of(options, **changes)
    import dask

    used = list(dict.fromkeys(parsed.variables))
    frame = to_dask(data, used)
    modifier_vars = [m for p in parsed.parts for m in p.modifier_variables]
    binned = [m for m in modifier_vars if options.bins.get(m, "auto") is not None]
    per_part = max(200, SAMPLE_ROWS // max(frame.npartitions, 1))
    parts = frame.to_delayed()
    facts_parts = [
        dask.delayed(_partition_facts)(p, used, binned, per_part) for p in parts
    ]
    (facts,) = dask.compute(_tree(facts_parts, _merge_facts))
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
    return assemble(plan, total, n_dropped, warn_groups)
