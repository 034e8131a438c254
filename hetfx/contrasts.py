"""Differences between group effects, and effects averaged by modifier value."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import OptionError
from .response import check_scale, response_draws

if TYPE_CHECKING:
    from .results import HetFit


def group_draws(
    fit: HetFit, scale: str = "link", per_category: bool = False
) -> tuple[pd.DataFrame, np.ndarray]:
    """The group table and the effect draws of its rows, (chain, draw, rows).

    With ``scale="response"`` the draws are response-scale effects; for ordinal
    outcomes they carry a last axis of categories when ``per_category``, and are
    the change in the expected category index otherwise.
    """
    table = fit._groups.drop(columns="theta_index").reset_index(drop=True)
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
    theta = fit.draws("theta") if fit._coords["group"] else None
    ate = fit.draws("ate")
    treatments = fit._coords["treatment"]
    cols = []
    for index, treatment in zip(
        fit._groups["theta_index"], table["treatment"], strict=True
    ):
        if index >= 0:
            cols.append(theta[..., index])
        else:
            cols.append(ate[..., treatments.index(treatment)])
    return table, np.stack(cols, axis=-1)


def find_group(table: pd.DataFrame, label: str, treatment: str | None) -> int:
    """Row of ``label`` (``"dem=1, male=0"`` or ``"treat | dem=1, male=0"``)."""
    if " | " in label and treatment is None:
        treatment, label = label.split(" | ", 1)
    mask = table["group"] == label
    if treatment is not None:
        mask &= table["treatment"] == treatment
    hits = np.flatnonzero(mask.to_numpy())
    if len(hits) == 0:
        known = ", ".join(table["group"].astype(str).head(8))
        raise OptionError(f"No group {label!r}; groups include: {known}, ...")
    if len(hits) > 1:
        raise OptionError(
            f"Group {label!r} exists for several treatments; pass treatment=."
        )
    return int(hits[0])


def contrast(
    fit: HetFit,
    group_a: str,
    group_b: str,
    treatment: str | None = None,
    prob: float = 0.9,
    scale: str = "link",
) -> pd.DataFrame:
    """Posterior of theta_a - theta_b, with the probability of direction.

    On the response scale of an ordinal outcome the contrast is in the
    expected category (1..K).
    """
    table, draws = group_draws(fit, scale)
    ia = find_group(table, group_a, treatment)
    ib = find_group(table, group_b, treatment)
    diff = draws[..., ia] - draws[..., ib]
    row = {
        "treatment": table.loc[ia, "treatment"],
        "contrast": f"{table.loc[ia, 'group']} - {table.loc[ib, 'group']}",
    }
    out = fit._table([row], [diff], prob)
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
    return fit._table(rows, out_draws, prob)
