"""The pilot no-pooling fit on the row-wise Stan data: the weighted least
squares statistics of a working response on [1, W, T.*1{g}] and the fit they
give. The families' IRLS (``Family.pilot_statistics``) and the sampler's units
(:mod:`hetfx.program.coefficient_scale`) read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: the pilot's IRLS stops where no row's linear predictor moves more than this
PILOT_TOLERANCE = 0.01
#: most IRLS steps of the logit and log links' pilots (``Family.pilot_steps``)
IRLS_MAX_STEPS = 8


@dataclass(frozen=True)
class PilotStatistics:
    """Weighted least squares statistics of a pilot no-pooling fit on the full
    W = [1, W_fixed, T.*1{g}]: X'Omega X, X'Omega z and z'Omega z, the units
    behind them, and whether the residual scale must be estimated (it is 1 when
    the weights are the Fisher information)."""

    gram: np.ndarray
    cross: np.ndarray
    zwz: float
    n_units: float
    estimate_scale: bool


def weighted_statistics(
    data: dict[str, Any],
    layout: Any,
    w: np.ndarray,
    z: np.ndarray,
    within: float,
    estimate_scale: bool,
) -> PilotStatistics:
    """The :class:`PilotStatistics` of weighted least squares of the working
    response ``z`` on the pilot's design of the row-wise Stan data, in chunks,
    its group block sparse (one non-zero a row and equation)."""
    from hetfx.program.matrices import add_block_statistics
    from hetfx.program.rows import pilot_design

    P, F = layout.P, layout.P - layout.G  # columns; those before the groups
    gram, cross = np.zeros((P, P)), np.zeros(P)
    for part, fixed, groups in pilot_design(data, layout.G):
        add_block_statistics(gram, cross, fixed, groups, w[part], z[part])
    gram[F:, :F] = gram[:F, F:].T
    zwz = float(np.sum(w * z**2)) + within
    return PilotStatistics(gram, cross, zwz, float(w.sum()), estimate_scale)


def pilot_fit(data: dict[str, Any], pilot: Any) -> np.ndarray:
    """The pilot's no-pooling fit (on the working response's scale), per row
    of the row-wise Stan data."""
    from hetfx.program.parameterization import pilot_least_squares
    from hetfx.program.rows import pilot_design

    coef = pilot_least_squares(pilot, pilot.gram, pilot.cross)[0]
    F = 1 + data["K"] + data["E"] + data["L"]  # the columns before the groups
    return np.concatenate(
        [
            fixed @ coef[:F] + groups @ coef[F:]
            for _, fixed, groups in pilot_design(data, len(coef) - F)
        ]
    )
