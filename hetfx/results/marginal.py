"""Comparisons and slopes on any grid, as marginaleffects and bambi.interpret do.

``comparisons``: the treatment effect (treated minus control; for a continuous
treatment the slope dE[y]/dT) of every row of a grid or of the treated units,
averaged by any variables, on the link or the response scale. ``slopes``: the
derivative of that effect with respect to a continuous modifier, each row keeping
its group. Draws are processed in chunks, so memory stays bounded by
``CHUNK_CELLS`` numbers per array whatever the rows and draws.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hetfx.design.data import as_frame
from hetfx.design.factors import NEW_LEVEL
from hetfx.errors import OptionError
from hetfx.results import summary
from hetfx.results.posterior import (
    Draws,
    level_effects,
    linear_predictor,
    unit_effects,
)
from hetfx.results.response import check_scale

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit

CHUNK_CELLS = 4_000_000  # draws x rows of one array in one chunk (32 MB)
STEP = 1e-4  # relative step of numerical derivatives


@dataclass
class Rows:
    """The design rows an effect is computed on."""

    frame: pd.DataFrame
    X: np.ndarray
    Zs: list[np.ndarray]
    groups: list[np.ndarray]
    Ts: list[np.ndarray]
    offset: np.ndarray
    keep: list[np.ndarray]  # per equation: the rows it is averaged over
    levels: list[np.ndarray] | None = None  # varying intercepts' levels (unseen: 0)


def datagrid(fit: HetFit, **values: Any) -> pd.DataFrame:
    """A grid of new units: every combination of the given values, every other
    variable at a typical value (numeric controls and binned modifiers at their
    mean, other variables at their most frequent value).

    Examples
    --------
    >>> grid = hetfx.datagrid(fit, age=[20, 40, 60], dem=[0, 1])  # doctest: +SKIP
    """
    design = fit.design
    frame = design.frame
    if frame.empty:
        raise OptionError(
            "datagrid needs the fit's data rows, which saved and partitioned fits "
            "do not keep; pass a DataFrame as newdata instead."
        )
    outcome = set(design.formula.outcome_variables)
    variables = [v for v in design.formula.variables if v not in outcome]
    variables += [v for v in fit.family_obj.variables if v not in variables]
    unknown = [k for k in values if k not in variables]
    if unknown:
        raise OptionError(
            f"datagrid: {unknown[0]!r} is not a variable of the model; variables: "
            f"{', '.join(variables)}."
        )
    binned = {
        m
        for eq in design.equations
        for m, coder in eq.grouping.coders.items()
        if coder.edges is not None
    }
    modifiers = {m for eq in design.equations for m in eq.modifiers}
    typical = {}
    for v in variables:
        col = frame[v]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(
            col
        )
        if numeric and (v in binned or v not in modifiers) and col.nunique() > 2:
            typical[v] = float(col.mean())
        else:
            typical[v] = col.mode().iloc[0]
    given = {k: list(np.atleast_1d(v)) for k, v in values.items()}
    combos = list(itertools.product(*given.values())) if given else [()]
    grid = pd.DataFrame([dict(zip(given, c, strict=True)) for c in combos])
    for v in variables:
        if v not in given:
            grid[v] = typical[v]
    return grid[variables]


def _rows(fit: HetFit, newdata: Any, shift: tuple[str, float] | None = None) -> Rows:
    """Rows of ``newdata`` (every row), or the training rows (each equation's
    treated units); ``shift`` moves one variable by a step, groups kept."""
    design, fam = fit.design, fit.family_obj
    if newdata is None:
        fit.require_rows("comparisons() and slopes() on the training data")
        frame = design.frame
        X, Zs, groups = (
            design.X,
            [eq.Z for eq in design.equations],
            [eq.grouping.index for eq in design.equations],
        )
        Ts = [eq.arm.values for eq in design.equations]
        keep = [eq.arm.treated for eq in design.equations]
        if shift is not None:
            X, Zs, _ = design.new_rows(_shifted(frame, shift))
    else:
        frame = as_frame(newdata).reset_index(drop=True)
        X, Zs, groups = design.new_rows(frame)
        if shift is not None:
            X, Zs, _ = design.new_rows(_shifted(frame, shift))
        treatments = design.formula.treatments
        Ts = (
            design.treatment_values(frame)
            if all(t in frame for t in treatments)
            else [np.zeros(len(frame)) for _ in design.equations]
        )
        keep = [np.ones(len(frame), dtype=bool) for _ in design.equations]
    offset = np.zeros(len(frame))
    if fam.exposure and fam.exposure in frame:
        offset = np.log(frame[fam.exposure].to_numpy(dtype=float))
    levels = [
        f.assign(frame)
        if all(v in frame for v in f.variables)
        else np.full(len(frame), NEW_LEVEL)
        for f in design.factors
    ]
    return Rows(frame, X, Zs, groups, Ts, offset, keep, levels)


def _shifted(frame: pd.DataFrame, shift: tuple[str, float]) -> pd.DataFrame:
    name, step = shift
    return frame.assign(**{name: frame[name].astype(float) + step})


def _draw_chunks(d: Draws, n_rows: int):
    """Slices of the draws with at most CHUNK_CELLS draws x rows each."""
    size = max(1, CHUNK_CELLS // max(n_rows, 1))
    for start in range(0, d.size, size):
        sl = slice(start, start + size)
        yield d.take(sl)


def _expected(fit: HetFit, eta: np.ndarray, d: Draws) -> np.ndarray:
    """E[y] (the expected category of an ordinal outcome) at eta."""
    return fit.family_obj.expected(eta, d.extra)


def _unit_effects(
    fit: HetFit, rows: Rows, d: Draws, e: int, scale: str, seed: int
) -> np.ndarray:
    """Equation e's effect of every row, (draws, rows)."""
    rng = np.random.default_rng(seed)
    taus = unit_effects(d, fit.design, rows.Zs, rows.groups, rng)
    if scale == "link":
        return taus[e]
    others = [t if j != e else np.zeros_like(t) for j, t in enumerate(rows.Ts)]
    base = linear_predictor(d, rows.X, others, taus) + rows.offset[None, :]
    if rows.levels:  # each row's varying intercepts (an unseen level: the average)
        base = base + level_effects(d, fit.design.factors, rows.levels, None)
    if fit.design.equations[e].arm.kind == "continuous":  # dE[y]/dT at T
        h = STEP
        t = rows.Ts[e][None, :]
        up = _expected(fit, base + (t + h) * taus[e], d)
        down = _expected(fit, base + (t - h) * taus[e], d)
        return (up - down) / (2 * h)
    return _expected(fit, base + taus[e], d) - _expected(fit, base, d)


def _cells(frame: pd.DataFrame, by: list[str], keep: np.ndarray):
    """The ``by`` cells of the kept rows: their values and each row's cell."""
    if not by:
        return pd.DataFrame(index=[0]), np.where(keep, 0, -1)
    missing = [b for b in by if b not in frame]
    if missing:
        raise OptionError(
            f"by: {missing[0]!r} is not a column of the data; columns: "
            f"{', '.join(map(str, frame.columns))}."
        )
    kept = frame.loc[keep, by]
    cell = np.full(len(frame), -1)
    cell[keep] = kept.groupby(by, sort=True).ngroup().to_numpy()
    values = kept.drop_duplicates().sort_values(by).reset_index(drop=True)
    return values, cell


def average_effects(
    fit: HetFit,
    by: str | list[str] | None,
    newdata: Any,
    scale: str,
    prob: float,
    slope: str | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Rows' effects (or their slopes in ``slope``) averaged over ``by`` cells."""
    if fit.categories:
        raise OptionError(
            "comparisons() and slopes() are not available for the categorical "
            "family yet."
        )
    scale = check_scale(scale)
    by = [by] if isinstance(by, str) else list(by or [])
    rows = _rows(fit, newdata)
    equations = list(enumerate(fit.design.equations))
    if slope is not None:
        equations = [(e, eq) for e, eq in equations if slope in eq.modifiers]
        if not equations:
            known = sorted({m for q in fit.design.equations for m in q.modifiers})
            raise OptionError(
                f"slopes: {slope!r} is not a modifier of any treatment; modifiers: "
                f"{', '.join(known)}."
            )
        values = rows.frame[slope]
        if not pd.api.types.is_numeric_dtype(values):
            raise OptionError(f"slopes: modifier {slope!r} is not numeric.")
        h = STEP * max(float(values.astype(float).std()), 1.0)
        up = _rows(fit, newdata, (slope, h))
        down = _rows(fit, newdata, (slope, -h))
    d = Draws.from_idata(fit.idata)
    chains = fit.idata.posterior.sizes["chain"]
    out_rows, out_draws = [], []
    for e, eq in equations:
        values, cell = _cells(rows.frame, by, rows.keep[e])
        n_cells = len(values)
        onehot = np.zeros((len(cell), n_cells))
        onehot[cell >= 0, cell[cell >= 0]] = 1.0
        counts = onehot.sum(axis=0)
        parts = []
        for part in _draw_chunks(d, len(cell)):
            if slope is None:
                effect = _unit_effects(fit, rows, part, e, scale, seed)
            else:
                effect = (
                    _unit_effects(fit, up, part, e, scale, seed)
                    - _unit_effects(fit, down, part, e, scale, seed)
                ) / (2 * h)
            parts.append((effect @ onehot) / counts)
        averaged = np.concatenate(parts).reshape(chains, -1, n_cells)
        for c, record in enumerate(values.to_dict("records")):
            label = {"treatment": eq.label}
            if slope is not None:
                label["term"] = slope
            out_rows.append({**label, **record, "n": int(counts[c])})
            out_draws.append(averaged[..., c])
    return summary.tidy_table(out_rows, out_draws, prob)
