"""The data of ``treated_base`` (stan/common/functions.stan.j2).

The data pin down the linear predictor of treated units, base + effect with
base = c (alpha + xbar beta), much better than the effect alone, which is
correlated with alpha and beta through every treated row. The programs sample
a (per equation) and a centred theta_g (per group) as that treated level, and
each lambda_std as its treated units' slope in the modifier. This module gives
c (1 for a 0/1 treatment, 0 for a continuous one), xbar (the treated units'
weighted mean standardised controls) and lambda_control. The sums come from
W'Omega W where the gaussian family has it (in memory or summed partition by
partition, so both paths give the same data), else from the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hetfx.program.matrices import group_matrix

if TYPE_CHECKING:
    from hetfx.design.build import Design
    from hetfx.program.standata import Scaling


def treated_base_data(
    design: Design, sc: Scaling, data: dict[str, Any]
) -> dict[str, np.ndarray]:
    """``treated_shift``, ``x_treated_std`` (per equation), ``theta_shift``,
    ``x_group_std`` (per group) and ``lambda_control`` (z_scale / x_scale
    where a modifier is also a control: its main effect)."""
    layout = design.layout
    K, E, G = layout.K, layout.E, layout.G
    binary = np.array([eq.arm.kind != "continuous" for eq in design.equations])
    t_sums, g_sums = treated_sums(design, sc, data)
    out = {
        "treated_shift": binary.astype(float),
        "x_treated_std": np.zeros((E, K)),
        "theta_shift": np.zeros(G),
        "x_group_std": means(g_sums),
        "lambda_control": np.zeros((layout.L, K)),
    }
    x_names = list(design.x_names)
    for e, block in enumerate(layout.equations):
        sums = g_sums[block.thetas].sum(axis=0) if block.has_groups else t_sums[e]
        out["x_treated_std"][e] = means(sums[None, :])[0]
        out["theta_shift"][block.thetas] = binary[e]
        lambdas = range(block.lambdas.start, block.lambdas.stop)
        for col, name in zip(lambdas, block.z_names, strict=True):
            if name in x_names:
                j = x_names.index(name)
                out["lambda_control"][col, j] = sc.z_scale[col] / sc.x_scale[j]
    return out


def treated_sums(
    design: Design, sc: Scaling, data: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """sum_i w_i T_i [1, x_std,i] over each equation's rows (its T column of W)
    and over each group's rows (its T.*1{g} column): (E, 1 + K), (G, 1 + K)."""
    layout = design.layout
    K, E = layout.K, layout.E
    if "WtW" in data:  # the gaussian family's W'Omega W holds them
        WtW = np.asarray(data["WtW"])
        return WtW[1 + K : 1 + K + E, : 1 + K], WtW[layout.groups, : 1 + K]
    w = np.ones(design.n) if design.weights is None else design.weights
    x = np.column_stack([np.ones(design.n), (design.X - sc.x_mean) / sc.x_scale])
    xw = x * w[:, None]
    t_sums = np.array([eq.arm.values @ xw for eq in design.equations])
    return t_sums.reshape(E, 1 + K), np.asarray(group_matrix(design).T @ xw)


def means(sums: np.ndarray) -> np.ndarray:
    """Rows of [total, sum x] as mean x (0 where the total is 0)."""
    total, x = sums[:, :1], sums[:, 1:]
    return np.divide(x, total, out=np.zeros_like(x), where=total > 0)
