"""Where the categorical program samples each group effect, category by category.

The row-wise programs sample theta_g around its conditional posterior under a
gaussian likelihood with the pilot's estimate (``group_effects_lp``), and
sigma_theta as x with sigma_theta = c exp(h(x)) (``pooling_scale``); the
categorical program does the same for each non-reference category c, with a
pilot of category c against the reference: the binomial working response of
the rows in either (the rows in other categories get weight 0). That pilot
gives the program's ``coef_loc_c`` and ``coef_scale_c`` (where alpha, beta, a
and lambda start and their units: :mod:`hetfx.program.coefficient_scale`),
and its group estimates ``pilot_variance_c`` (the variance of theta_gc given
the other coefficients), ``theta_level_c`` (the group's treated level) and
``sigma_theta_reference_c`` (sqrt(median v_gc) of each equation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hetfx.program.coefficient_scale import (
    coefficient_scale,
    pooling_reference,
    treated_levels,
)
from hetfx.program.parameterization import pilot_group_estimates

if TYPE_CHECKING:
    from hetfx.design.layout import Layout
    from hetfx.families import Family


def category_units(
    data: dict[str, Any],
    layout: Layout,
    family: Family,
    pilot_units: bool,
    conditional: bool,
) -> dict[str, np.ndarray]:
    """The categorical program's ``coef_loc_c``, ``coef_scale_c``,
    ``pilot_variance_c``, ``theta_level_c`` and ``sigma_theta_reference_c``
    (one column per non-reference category).

    Parameters
    ----------
    data : dict
        The Stan data, with ``counts``, ``deviations`` and the treated-base data.
    layout : Layout
    family : Family
        The categorical family (its pilot statistics).
    pilot_units : bool
        Sample alpha, beta, a and lambda in the pilots' units (not when
        sampling from the priors: loc 0, scale 1).
    conditional : bool
        Sample the group effects around their conditional posterior
        (``parameterization="auto"`` with data). Otherwise the variances are 0,
        so that the weights ``noncentred`` fix the form, and the references 1.
    """
    counts = np.asarray(data["counts"], dtype=float)
    categories = counts.shape[1] - 1
    n_fixed = layout.groups.start
    loc, scale = np.zeros((n_fixed, categories)), np.ones((n_fixed, categories))
    variance = np.zeros((layout.G, categories))
    level = np.zeros((layout.G, categories))
    reference = np.ones((layout.E, categories))
    deviations = data.get("deviations", [1] * layout.E)
    blocks = [
        (e, block)
        for e, (block, deviates) in enumerate(
            zip(layout.equations, deviations, strict=True)
        )
        if block.has_groups and deviates
    ]
    for c in range(categories if pilot_units or conditional else 0):
        pair = {**data, "counts": counts[:, [0, c + 1]]}
        pilot = family.pilot_statistics(pair, layout)
        if pilot_units:
            units, _ = coefficient_scale(data, layout, pilot, intercept=True)
            loc[:, c], scale[:, c] = units["coef_loc"], units["coef_scale"]
        if not (conditional and blocks):
            continue
        groups = pilot_group_estimates(pilot, layout)
        level[:, c] = treated_levels(data, groups, intercept=True)
        for e, block in blocks:
            rows = block.thetas
            variance[rows, c] = groups.information_variance[rows]
            reference[e, c] = pooling_reference(groups.variance[rows])
    return {
        "coef_loc_c": loc,
        "coef_scale_c": scale,
        "pilot_variance_c": variance,
        "theta_level_c": level,
        "sigma_theta_reference_c": reference,
    }
