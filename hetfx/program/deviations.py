"""Whether each equation's groups deviate from the regression on the modifiers.

The hierarchical term theta_g = a + zbar_g lambda + sigma_theta u_g needs more
groups than the regression a + zbar_g lambda has columns: with G_e <= L_e + 1
the regression passes through every group, the data cannot tell the deviations
from lambda, and sigma_theta rests on its prior alone (the sampler then wanders
its funnel). By default such an equation is fitted as the interaction model,
theta_g = a + zbar_g lambda with no deviations; ``deviations=True`` keeps the
hierarchical term anyway, ``deviations=False`` drops it from every equation.
"""

from __future__ import annotations

import warnings
from typing import Any

from hetfx.design.grouping import GroupingWarning
from hetfx.design.layout import Layout
from hetfx.errors import OptionError


def check_deviations(deviations: bool | None) -> bool | None:
    if deviations not in (None, True, False):
        raise OptionError(
            "deviations must be None (decide per equation), True or False, got "
            f"{deviations!r}."
        )
    return deviations


def uninformed(n_groups: int, n_modifier_columns: int) -> bool:
    """No more groups than the regression on [1, zbar_g] has columns."""
    return n_groups <= n_modifier_columns + 1


def equation_deviations(layout: Layout, deviations: bool | None = None) -> list[bool]:
    """Per equation: whether its groups get deviations (warns when the default
    drops them)."""
    out = []
    for block in layout.equations:
        if not block.has_groups:
            out.append(False)
            continue
        if deviations is not None:
            out.append(bool(deviations))
            continue
        keep = not uninformed(block.n_groups, len(block.z_names))
        if not keep:
            warnings.warn(
                f"Treatment {block.label!r} has {block.n_groups} groups for "
                f"{len(block.z_names)} modifier column(s): the data cannot separate "
                "group deviations from the regression on the modifiers, so "
                "sigma_theta would rest on its prior alone. hetfx fits the "
                "interaction model (each group's effect is a + zbar_g lambda, no "
                "deviations). Pass deviations=True to keep the hierarchical term, "
                "or use modifiers with more groups.",
                GroupingWarning,
                stacklevel=4,
            )
        out.append(keep)
    return out


def zero_unused_scales(idata: Any, deviations: Any) -> None:
    """sigma_theta of an equation without group deviations is 0 in the model
    fitted (its draws came from the prior alone): tables, predictions for new
    groups and diagnostics read 0."""
    post = idata.posterior
    if "sigma_theta" not in post:
        return
    values = post["sigma_theta"].values
    for e, deviates in enumerate(deviations):
        if not deviates:
            values[:, :, e, ...] = 0.0
    post["sigma_theta"].values = values
