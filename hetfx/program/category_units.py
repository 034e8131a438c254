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
the row-wise programs' ``hierarchy_units`` for category c: the reference,
origin and unit of sigma_theta's coordinate (``sigma_theta_reference_c``,
``sigma_theta_loc_c``, ``sigma_theta_scale_c``) and the units of a and lambda
that grow with sigma_theta (``group_variance_c``, ``spread_reference_c``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hetfx.program.category_correlation import category_correlation
from hetfx.program.coefficient_scale import (
    coefficient_scale,
    hierarchy_defaults,
    hierarchy_units,
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
    ``pilot_variance_c``, ``theta_level_c`` and the ``hierarchy_units`` data
    with the suffix ``_c`` (one column per non-reference category), and the
    coefficients' correlation across categories
    (:mod:`hetfx.program.category_correlation`).

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
        so that the weights ``noncentred`` fix the form, and the hierarchy's
        data are their defaults (``hierarchy_defaults``).
    """
    counts = np.asarray(data["counts"], dtype=float)
    categories = counts.shape[1] - 1
    n_fixed = layout.groups.start
    deviations = data.get("deviations", [1] * layout.E)
    blocks = [
        block
        for block, deviates in zip(layout.equations, deviations, strict=True)
        if block.has_groups and deviates
    ]
    columns = []
    for c in range(categories):
        units = {
            "coef_loc": np.zeros(n_fixed),
            "coef_scale": np.ones(n_fixed),
            "pilot_variance": np.zeros(layout.G),
            "theta_level": np.zeros(layout.G),
            **hierarchy_defaults(layout.E),
        }
        columns.append(units)
        if not (pilot_units or conditional):
            continue
        pair = {**data, "counts": counts[:, [0, c + 1]]}
        pilot = family.pilot_statistics(pair, layout)
        if pilot_units:
            units.update(coefficient_scale(data, layout, pilot, intercept=True)[0])
        if not (conditional and blocks):
            continue
        groups = pilot_group_estimates(pilot, layout)
        units["theta_level"] = treated_levels(data, groups, intercept=True)
        for block in blocks:
            rows = block.thetas
            units["pilot_variance"][rows] = groups.information_variance[rows]
        hierarchy_units(units, data, layout, groups)
    out = {
        f"{name}_c": np.column_stack([units[name] for units in columns])
        for name in columns[0]
    }
    reference = out["sigma_theta_reference_c"]
    out.update(category_correlation(data, layout, reference, pilot_units, conditional))
    return out
