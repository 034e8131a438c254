"""Differences between group effects, and effects averaged by modifier value."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hetfx.design.grouping import format_value
from hetfx.errors import OptionError
from hetfx.results import summary
from hetfx.results.response import check_scale, response_draws

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit


def group_draws(
    fit: HetFit, scale: str = "link", per_category: bool = False
) -> tuple[pd.DataFrame, np.ndarray]:
    """The group table and the effect draws of its rows, (chain, draw, rows).

    With ``scale="response"`` the draws are response-scale effects; for ordinal
    outcomes they carry a last axis of categories when ``per_category``, and are
    the change in the expected category index otherwise.
    """
    table = fit.group_table.drop(columns="theta_index").reset_index(drop=True)
    if check_scale(scale) == "response":
        draws = response_draws(fit)[0]
        if fit.categories and not per_category:
            raise OptionError(
                "For a categorical outcome, response-scale effects are per category: "
                "use effects(scale='response')."
            )
        if draws.ndim == 4 and not per_category:
            draws = draws @ np.arange(1, draws.shape[-1] + 1)
        return table, draws
    theta = fit.draws("theta") if fit.coords["group"] else None
    ate = fit.draws("ate")
    treatments = fit.coords["treatment"]
    cols = []
    for index, treatment in zip(
        fit.group_table["theta_index"], table["treatment"], strict=True
    ):
        if index >= 0:
            cols.append(theta[..., index])
        else:
            cols.append(ate[..., treatments.index(treatment)])
    return table, np.stack(cols, axis=-1)


_PAIR = re.compile(r",\s*(?=[A-Za-z_.`][\w.`]*\s*=)")


def parse_selection(spec: str | dict[str, Any]) -> dict[str, str]:
    """``"dem=1, age=(35, 52]"`` or ``{"dem": 1}`` as {modifier: value label}.

    Examples
    --------
    >>> parse_selection("dem=1, age=(35, 52]")
    {'dem': '1', 'age': '(35, 52]'}
    """
    if isinstance(spec, dict):
        return {str(k): format_value(v) for k, v in spec.items()}
    pairs = {}
    for piece in _PAIR.split(str(spec).strip()):
        name, sep, value = piece.partition("=")
        if not sep or not name.strip():
            raise OptionError(
                f"Cannot read the group {spec!r}: write modifier=value pairs "
                "such as 'dem=1, male=0', or a dict {'dem': 1}."
            )
        pairs[name.strip().strip("`")] = value.strip()
    return pairs


def select_groups(
    table: pd.DataFrame, spec: str | dict[str, Any], treatment: str | None = None
) -> np.ndarray:
    """Rows of the group table that ``spec`` selects.

    A full label (``"dem=1, male=0"``) selects its group; a partial one
    (``"dem=1"`` or ``{"dem": 1}``) every group with those modifier values. A
    string may start with the treatment: ``"treat | dem=1"``.
    """
    if isinstance(spec, str) and " | " in spec and treatment is None:
        treatment, spec = spec.split(" | ", 1)
    rows = table
    if treatment is not None:
        rows = table[table["treatment"] == treatment]
        if rows.empty:
            known = ", ".join(map(str, table["treatment"].unique()))
            raise OptionError(f"No treatment {treatment!r}; treatments: {known}.")
    if isinstance(spec, str) and (rows["group"] == spec).any():
        hits = rows.index[rows["group"] == spec].to_numpy()
    else:
        mask = np.ones(len(rows), dtype=bool)
        stats = {"treatment", "group", "n_treated", "n"}
        modifiers = [c for c in rows.columns if c not in stats]
        for name, value in parse_selection(spec).items():
            if name not in modifiers:
                raise OptionError(
                    f"{name!r} in group {spec!r} is not a modifier; modifiers: "
                    f"{', '.join(modifiers) or 'none'}."
                )
            labels = rows[name].map(lambda v: format_value(v) if pd.notna(v) else "")
            mask &= (labels == value).to_numpy()
        hits = rows.index[mask].to_numpy()
    if len(hits) == 0:
        known = ", ".join(rows["group"].astype(str).head(8))
        raise OptionError(
            f"No group {spec!r}: none has these modifier values; groups include: "
            f"{known}, ..."
        )
    if rows.loc[hits, "treatment"].nunique() > 1:
        raise OptionError(
            f"Group {spec!r} exists for several treatments; pass treatment= or "
            "write 'treatment | group'."
        )
    return hits


def selection_draws(
    table: pd.DataFrame,
    draws: np.ndarray,
    spec: str | dict[str, Any],
    treatment: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``spec`` selects and the draws of their average effect, weighted
    by treated units (the group's own draws when it selects one)."""
    rows = select_groups(table, spec, treatment)
    w = table.loc[rows, "n_treated"].to_numpy(dtype=float)
    return rows, (draws[..., rows] * (w / w.sum())).sum(axis=-1)


def _describe(spec: str | dict[str, Any]) -> str:
    if isinstance(spec, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in spec.items())
    return spec.split(" | ", 1)[-1] if " | " in spec else spec


def contrast(
    fit: HetFit,
    group_a: str | dict[str, Any],
    group_b: str | dict[str, Any],
    treatment: str | None = None,
    prob: float = 0.9,
    scale: str = "link",
) -> pd.DataFrame:
    """Posterior of effect(a) - effect(b), with the probability of direction.

    A selection of several groups (a partial specification such as ``"dem=1"``)
    stands for the average of their effects weighted by treated units; the
    ``groups_a``, ``groups_b`` and ``weighting`` columns say so. On the response
    scale of an ordinal outcome the contrast is in the expected category (1..K).
    """
    table, draws = group_draws(fit, scale)
    rows_a, draws_a = selection_draws(table, draws, group_a, treatment)
    rows_b, draws_b = selection_draws(table, draws, group_b, treatment)
    several = len(rows_a) > 1 or len(rows_b) > 1
    row = {
        "treatment": table.loc[rows_a[0], "treatment"],
        "contrast": f"{_describe(group_a)} - {_describe(group_b)}",
        "groups_a": len(rows_a),
        "groups_b": len(rows_b),
        "weighting": "treated units" if several else "none",
    }
    out = summary.tidy_table([row], [draws_a - draws_b], prob)
    p = out["prob_positive"].iloc[0]
    out["prob_direction"] = max(p, 1 - p)
    return out


def by_modifier(fit: HetFit, prob: float = 0.9, scale: str = "link") -> pd.DataFrame:
    """Average effect over the groups with each modifier value, and differences.

    For every treatment, modifier variable and value: the average of the group
    effects with that value, weighted by treated units (``kind="average"``); and
    each value against the first (``kind="difference"``).
    """
    table, draws = group_draws(fit, scale)
    rows, out_draws = [], []
    for treatment, sub in table.groupby("treatment", sort=False):
        modifiers = [
            c
            for c in sub.columns
            if c not in ("treatment", "group", "n_treated", "n")
            and sub[c].notna().all()
        ]
        for m in modifiers:
            values = list(dict.fromkeys(sub[m].tolist()))
            averages = {}
            for v in values:
                members = sub.index[sub[m] == v].to_numpy()
                w = sub.loc[members, "n_treated"].to_numpy(dtype=float)
                averages[v] = (draws[..., members] * (w / w.sum())).sum(axis=-1)
                rows.append(
                    {
                        "treatment": treatment,
                        "modifier": m,
                        "value": str(v),
                        "kind": "average",
                        "n_treated": int(w.sum()),
                    }
                )
                out_draws.append(averages[v])
            for v in values[1:]:
                rows.append(
                    {
                        "treatment": treatment,
                        "modifier": m,
                        "value": f"{v} - {values[0]}",
                        "kind": "difference",
                        "n_treated": np.nan,
                    }
                )
                out_draws.append(averages[v] - averages[values[0]])
    return summary.tidy_table(rows, out_draws, prob)
