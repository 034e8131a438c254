"""Priors as Stan data: each slot's prior resolved to one row per coefficient,
with the data-based defaults (autoscaled) where the user gave none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
