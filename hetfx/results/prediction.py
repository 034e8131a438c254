"""Predictions for new units: their treatment effect or their expected outcome."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hetfx.design.factors import level_labels
from hetfx.design.grouping import NO_GROUP
from hetfx.errors import OptionError
from hetfx.results import summary
from hetfx.results.posterior import (
    Draws,
    level_effects,
    linear_predictor,
    unit_effects,
)

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit


class ExtrapolationWarning(UserWarning):
    """New units lie outside the modifier values seen in training."""


def warn_outside_training(design: Any, Zs: list[np.ndarray]) -> None:
    """Warn, per modifier column, about new values outside the training range."""
    for eq, Z in zip(design.equations, Zs, strict=True):
        if eq.Z.shape[0] == 0 or Z.shape[0] == 0:  # partitioned fits keep no rows
            continue
        low, high = eq.Z.min(axis=0), eq.Z.max(axis=0)
        tol = 1e-9 * np.maximum(1.0, np.abs(high - low))
        outside = (Z < low - tol) | (Z > high + tol)
        for j in np.flatnonzero(outside.any(axis=0)):
            values = Z[outside[:, j], j]
            warnings.warn(
                f"Treatment {eq.label!r}: {outside[:, j].sum()} new rows have "
                f"modifier {eq.z_names[j]!r} outside its training range "
                f"[{low[j]:g}, {high[j]:g}] (e.g. {values[0]:g}); their effects "
                "extrapolate the linear modifier model.",
                ExtrapolationWarning,
                stacklevel=4,
            )


def predict(
    fit: HetFit,
    newdata: Any,
    kind: str = "effect",
    draws: bool = False,
    prob: float = 0.9,
    seed: int = 0,
    new_levels: str = "sample",
) -> pd.DataFrame | np.ndarray:
    """Each new unit's treatment effect or expected outcome.

    A unit whose modifier combination was seen in training gets its group's
    effect. An unseen combination gets the effect the model implies for a new
    group, ``a + Z lambda + sigma_theta * u`` with a fresh ``u ~ N(0, 1)``, so its
    interval is wider: it carries the between-group variation.

    Parameters
    ----------
    kind : {"effect", "outcome"}
        ``"effect"``: tau of each treatment equation (per unit of a continuous
        treatment). ``"outcome"``: E[y] on the response scale, using the units'
        own treatment values.
    draws : bool
        Return the draws, shape (S, units[, treatments]), instead of a table.
    new_levels : {"sample", "zero"}
        ``kind="outcome"`` with varying intercepts: a level not seen in training
        gets a draw from N(0, sd) (``"sample"``, its interval carries the
        between-level spread) or 0 (``"zero"``, the average level).
    """
    if kind not in ("effect", "outcome"):
        raise OptionError(f"kind must be 'effect' or 'outcome', got {kind!r}.")
    if new_levels not in ("sample", "zero"):
        raise OptionError(f"new_levels must be 'sample' or 'zero', got {new_levels!r}.")
    design = fit.design
    X, Zs, groups = design.new_rows(newdata)
    warn_outside_training(design, Zs)
    d = Draws.from_idata(fit.idata)
    rng = np.random.default_rng(seed)
    taus = unit_effects(d, design, Zs, groups, rng)
    labels = [eq.label for eq in design.equations]

    chains = fit.idata.posterior.sizes["chain"]

    def per_chain(x: np.ndarray) -> np.ndarray:
        return x.reshape(chains, -1)

    if kind == "outcome":
        Ts = design.treatment_values(newdata)
        eta = linear_predictor(d, X, Ts, taus)
        if design.factors:
            frame = pd.DataFrame(newdata).reset_index(drop=True)
            indices = [f.assign(frame) for f in design.factors]
            labels = [level_labels(frame, f.variables) for f in design.factors]
            sample = rng if new_levels == "sample" else None
            eta = eta + level_effects(d, design.factors, indices, sample, labels)
        values = expected_outcome(fit, eta, newdata)
        if draws:
            return values
        rows = [{"row": i} for i in range(values.shape[1])]
        return summary.tidy_table(
            rows, [per_chain(values[:, i]) for i in range(values.shape[1])], prob
        )
    if draws:
        stacked = np.stack(taus, axis=-1)
        return stacked[..., 0] if len(taus) == 1 else stacked
    rows, out = [], []
    for e, label in enumerate(labels):
        table = design.equations[e].grouping.table
        for i in range(X.shape[0]):
            g = groups[e][i]
            seen = g != NO_GROUP
            rows.append(
                {
                    "row": i,
                    "treatment": label,
                    "group": table["group"].iloc[g] if seen else "(new group)",
                    "seen": bool(seen),
                }
            )
            out.append(per_chain(taus[e][:, i]))
    return summary.tidy_table(rows, out, prob)


def expected_outcome(fit: HetFit, eta: np.ndarray, newdata: Any) -> np.ndarray:
    """E[y] of new units: per trial for binomial, at the units' exposure for
    counts (1 when the column is absent), the expected category for ordinal."""
    fam = fit.family_obj
    if fam.exposure and fam.exposure in newdata:
        eta = eta + np.log(np.asarray(newdata[fam.exposure], dtype=float))[None, :]
    return fam.expected(eta, Draws.from_idata(fit.idata).extra)
