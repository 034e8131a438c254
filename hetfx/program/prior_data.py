"""Priors as Stan data: each slot's prior resolved to one row per coefficient,
with the data-based defaults (autoscaled) where the user gave none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hetfx.priors import (
    Exponential,
    Flat,
    Gamma,
    HalfNormal,
    HalfStudentT,
    Normal,
    Prior,
    StudentT,
    slot_of,
)

if TYPE_CHECKING:
    from hetfx.design.build import Design
    from hetfx.families import Family
    from hetfx.program.standata import DesignSummary


@dataclass(frozen=True)
class ResolvedPrior:
    """A prior slot after defaults: one row per coefficient."""

    slot: str
    prior: Prior
    names: list[str]
    loc: np.ndarray
    scale: np.ndarray
    df: np.ndarray
    source: str  # "default (autoscaled)" or "user"

    def stan_data(self) -> dict[str, Any]:
        """The ``prior_*_<slot>`` entries of the Stan data."""
        data = {
            f"prior_dist_{self.slot}": int(self.prior.code),
            f"prior_scale_{self.slot}": self.scale,
            f"prior_df_{self.slot}": self.df,
        }
        if slot_of(self.slot)[0] == "location":
            data[f"prior_loc_{self.slot}"] = self.loc
        return data

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for i, name in enumerate(self.names):
            if isinstance(self.prior, Flat):
                text = "flat"
            elif self.source == "user":
                text = str(self.prior)
            else:
                scaled = _with_numbers(
                    self.prior, self.loc[i], self.scale[i], self.df[i]
                )
                text = str(scaled)
            rows.append(
                {
                    "parameter": self.slot,
                    "coefficient": name,
                    "prior": text,
                    "location": float(self.loc[i]),
                    "scale": float(self.scale[i]),
                    "df": float(self.df[i]),
                    "source": self.source,
                    "applies_to": slot_of(self.slot)[1],
                }
            )
        return rows


def _with_numbers(prior: Prior, loc: float, scale: float, df: float) -> Prior:
    if isinstance(prior, Normal):
        return Normal(loc, scale)
    if isinstance(prior, StudentT):
        return StudentT(df, loc, scale)
    if isinstance(prior, HalfNormal):
        return HalfNormal(scale)
    if isinstance(prior, HalfStudentT):
        return HalfStudentT(df, scale)
    if isinstance(prior, Exponential):
        return Exponential(1.0 / scale)
    if isinstance(prior, Gamma):
        return Gamma(df, 1.0 / scale)
    return prior


def resolve(
    slot: str,
    names: list[str],
    user: dict[str, Prior],
    default: Prior,
    default_scale: np.ndarray | float,
    default_loc: np.ndarray | float = 0.0,
) -> ResolvedPrior:
    """Use the user's prior as given, or the default with data-based numbers."""
    size = len(names)
    if slot in user:
        numbers = user[slot].stan(size)
        return ResolvedPrior(slot, user[slot], names, **numbers, source="user")
    numbers = default.stan(size)
    scale = np.broadcast_to(np.asarray(default_scale, dtype=float), (size,)).copy()
    loc = np.broadcast_to(np.asarray(default_loc, dtype=float), (size,)).copy()
    if isinstance(default, Exponential | Gamma):
        scale = scale * numbers["scale"]
    return ResolvedPrior(
        slot,
        default,
        names,
        loc=loc,
        scale=scale,
        df=numbers["df"],
        source="default (autoscaled)",
    )


def summary_table(resolved: list[ResolvedPrior]) -> pd.DataFrame:
    """The priors actually used, one row per coefficient."""
    rows = [row for r in resolved for row in r.rows()]
    return pd.DataFrame(rows)


def resolve_priors(
    design: Design,
    family: Family,
    summary: DesignSummary,
    user: dict[str, Any],
    levels: list[Any] | None,
) -> list[ResolvedPrior]:
    """Every prior on the data's scale: the user's, else the default autoscaled
    by the outcome's sd (identity link), T's sd and the controls' and modifiers'
    scales; then the family's own parameters."""
    sc, layout = summary.scaling, design.layout
    s_y = summary.y_sd if family.link == "identity" else 1.0
    s_t = summary.t_sd
    lambda_eq = np.asarray(layout.lambda_equation(), dtype=int)
    s_t_of_l = s_t[lambda_eq - 1] if layout.L else np.zeros(0)
    labels = [block.label for block in layout.equations]
    modifier_names = [f"{b.label}:{z}" for b in layout.equations for z in b.z_names]
    resolved = []
    if family.intercept:
        y_loc = summary.y_mean if family.link == "identity" else 0.0
        resolved.append(
            resolve("alpha", ["(intercept)"], user, Normal(), 2.5 * s_y, y_loc)
        )
    resolved += [
        resolve("beta", design.x_names, user, Normal(), 2.5 * s_y / sc.x_scale),
        resolve("a", labels, user, Normal(), 2.5 * s_y / s_t),
        resolve(
            "lambda",
            modifier_names,
            user,
            Normal(),
            2.5 * s_y / (s_t_of_l * sc.z_scale),
        ),
        resolve("sigma_theta", labels, user, HalfNormal(), s_y / s_t),
    ]
    for p in family.parameter_priors(s_y, levels):
        resolved.append(resolve(p.key, p.labels, user, p.prior, p.scale))
    for factor in design.factors:  # sd of the varying intercepts, like sigma_theta
        key = f"sd_{factor.name}"
        resolved.append(resolve(key, [factor.name], user, HalfNormal(), s_y))
    return resolved


def factor_priors(resolved: list[ResolvedPrior]) -> dict[str, Any]:
    """The priors of the varying intercepts' sds, one entry per factor."""
    sds = [r for r in resolved if r.slot.startswith("sd_")]
    return {
        "prior_dist_sd_factor": np.array([int(r.prior.code) for r in sds], dtype=int),
        "prior_scale_sd_factor": np.array([float(r.scale[0]) for r in sds]),
        "prior_df_sd_factor": np.array([float(r.df[0]) for r in sds]),
    }
