"""Turn a :class:`~hetfx.design.Design` into the Stan program's data.

W = [1, X, T, T.*Z, T.*1{g}] is centred and scaled here: controls by their mean
and sd, modifiers by their mean and sd over each equation's treated units. The
Stan program maps the coefficients back to the user's scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hetfx.design.build import Design
from hetfx.design.factors import factor_summary
from hetfx.design.grouping import NO_GROUP, format_value
from hetfx.errors import OptionError
from hetfx.families import Family
from hetfx.priors import validate_priors
from hetfx.program.category_units import category_units
from hetfx.program.coefficient_scale import sampler_units
from hetfx.program.deviations import equation_deviations
from hetfx.program.parameterization import choose as choose_form
from hetfx.program.parameterization import level_variance, pilot_group_estimates
from hetfx.program.prior_data import ResolvedPrior, factor_priors, resolve_priors
from hetfx.program.render import STANDALONE_PROGRAMS
from hetfx.program.rows import PILOT_INDICES
from hetfx.program.treated_base import treated_base_data


@dataclass
class Scaling:
    """Centring and scaling of the columns of W."""

    x_mean: np.ndarray
    x_scale: np.ndarray
    z_mean: np.ndarray
    z_scale: np.ndarray


@dataclass
class DesignSummary:
    """The moments of a design that the priors, scaling and ATE weights need.

    Built from the rows by :func:`summarise`, or partition by partition for data
    bigger than memory (:mod:`hetfx.design.partitions`, gaussian only).

    Attributes
    ----------
    n : int
        Rows.
    y_mean, y_sd : float
        Mean and sd of the outcome (as the likelihood reads it).
    scaling : Scaling
    group_counts, group_means : list of numpy.ndarray
        Per equation: treated units per group and zbar_g (G_e x L_e); empty for
        equations without groups.
    t_sd : numpy.ndarray
        Per equation: sd of T for continuous treatments, else 1.
    gaussian : dict, optional
        Precomputed N, WtW, Wty, yty (y shifted by ``y_mean``).
    """

    n: int
    y_mean: float
    y_sd: float
    scaling: Scaling
    group_counts: list[np.ndarray]
    group_means: list[np.ndarray]
    t_sd: np.ndarray
    gaussian: dict[str, Any] | None = None


@dataclass
class StanInput:
    """The data, inits and labels of one fit."""

    data: dict[str, Any]
    inits: dict[str, Any]
    priors: list[ResolvedPrior]
    coords: dict[str, list[str]]
    effects_rows: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def program_data(self) -> dict[str, Any]:
        """``data`` without the indices only the pilot reads: what the
        backend sends the program (httpstan checks every number it gets)."""
        return {k: v for k, v in self.data.items() if k not in PILOT_INDICES}


def prior_keys(family: Family, factors: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Valid prior keys of a family's model with these varying intercepts."""
    first = ["alpha"] if family.intercept else []
    sds = [f"sd_{name}" for name in factors]
    return [*first, "beta", "a", "lambda", "sigma_theta", *family.params, *sds]


def scaling(design: Design) -> Scaling:
    """Means and sds that centre and scale X and each equation's Z."""
    x_mean, x_scale = column_moments(design.X)
    z_mean, z_scale = [], []
    for eq in design.equations:
        mean, sd = column_moments(eq.Z, eq.arm.treated)
        z_mean.append(mean)
        z_scale.append(sd)
    return Scaling(
        x_mean,
        np.where(x_scale > 0, x_scale, 1.0),
        np.concatenate(z_mean) if z_mean else np.zeros(0),
        np.where(np.concatenate(z_scale) > 0, np.concatenate(z_scale), 1.0)
        if z_scale
        else np.zeros(0),
    )


def column_moments(
    matrix: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and sd (over ``rows``, a boolean mask, if given),
    column by column: no copy of the whole matrix."""
    means, sds = np.zeros(matrix.shape[1]), np.zeros(matrix.shape[1])
    for j in range(matrix.shape[1]):
        column = matrix[:, j] if rows is None else matrix[rows, j]
        means[j], sds[j] = column.mean(), column.std()
    return means, sds


def summarise(design: Design, y: np.ndarray) -> DesignSummary:
    """The :class:`DesignSummary` of an in-memory design and its prepared outcome."""
    counts, means = [], []
    for eq in design.equations:
        if eq.has_groups:
            idx = eq.grouping.index
            counts.append(np.bincount(idx[idx != NO_GROUP], minlength=eq.n_groups))
            means.append(eq.group_means())
        else:
            counts.append(np.zeros(0, dtype=int))
            means.append(np.zeros((0, eq.Z.shape[1])))
    t_sd = np.array(
        [
            np.std(eq.arm.values) if eq.arm.kind == "continuous" else 1.0
            for eq in design.equations
        ]
    )
    numeric = np.issubdtype(np.asarray(y).dtype, np.number)
    return DesignSummary(
        n=design.n,
        y_mean=float(np.mean(y)) if numeric else 0.0,
        y_sd=float(np.std(y)) if numeric else 1.0,
        scaling=scaling(design),
        group_counts=counts,
        group_means=means,
        t_sd=t_sd,
    )


def build_stan_input(
    design: Design,
    family: Family,
    priors: dict[str, Any] | None = None,
    prior_only: bool = False,
    parameterization: str = "auto",
    aggregate: bool = True,
    summary: DesignSummary | None = None,
    deviations: bool | None = None,
    program: str | None = None,
) -> StanInput:
    """Stan data, inits, resolved priors and labels for a design.

    Parameters
    ----------
    design : Design
    family : Family
    priors : dict, optional
        User priors keyed by ``alpha``, ``beta``, ``a``, ``lambda``,
        ``sigma_theta`` and the family's parameters.
    prior_only : bool
        Sample from the priors alone.
    parameterization : {"auto", "noncentred", "centred"}
        The form of the group effects; ``"auto"`` chooses per group
        (:mod:`hetfx.program.parameterization`) and notes the choice in ``info``.
    deviations : bool, optional
        Group deviations from a + zbar lambda: by default wherever the data can
        inform them (:mod:`hetfx.program.deviations`); True or False for every equation.
    aggregate : bool
        Merge rows that share eta where the family's likelihood allows it
        exactly (binomial, Poisson, ordinal and categorical counts).
    summary : DesignSummary, optional
        Moments computed elsewhere (data bigger than memory; gaussian only).
    program : str, optional
        The Stan program the data are for, where the family has several
        (``gaussian_collapsed`` takes the level sums of a varying intercept,
        ``gaussian_rows`` the rows); None: the family's default for the design.
    """
    factor_names = [f.name for f in design.factors]
    user = validate_priors(priors, prior_keys(family, factor_names))
    y, levels, summary = outcome_and_summary(design, family, summary)
    layout = design.layout
    with_deviations = equation_deviations(layout, deviations)
    resolved = resolve_priors(design, family, summary, user, levels)
    data = common_data(design, summary, with_deviations, prior_only)
    for r in resolved:
        if not r.slot.startswith("sd_"):
            data.update(r.stan_data())
    data.update(factor_priors(resolved))
    if not family.intercept:  # the shared data block declares an alpha prior
        data.update(
            {
                "prior_dist_alpha": 0,
                "prior_loc_alpha": np.zeros(1),
                "prior_scale_alpha": np.ones(1),
                "prior_df_alpha": np.ones(1),
            }
        )
    family_data, inits, family_info = family.stan_data(
        design, summary.scaling, summary, y, levels, aggregate, program
    )
    data.update(family_data)
    data.update(treated_base_data(design, summary.scaling, data))
    data["level_variance"] = level_variance(data, family)
    # the row-wise program samples in the pilot's units (coefficient_scale);
    # unit scales when sampling from the priors, whose scales are not the data's
    row_wise = program not in STANDALONE_PROGRAMS and family.program != "categorical"
    pilot_units = row_wise and not prior_only
    pilot = None
    if pilot_units or (parameterization == "auto" and layout.G):
        pilot = family.pilot_statistics(data, layout)
    pilot_groups = None
    if pilot is not None and layout.G:
        pilot_groups = pilot_group_estimates(pilot, layout)
    # from the priors alone theta_g = mu_g + sigma_theta u_g is exact: u_g is
    # N(0, 1) whatever sigma_theta (the conditional form's units assume data)
    data["noncentred"], data["pilot_variance"], form = choose_form(
        "noncentred" if prior_only and layout.G else parameterization,
        data,
        layout,
        pilot_groups,
        conditional=row_wise,
    )
    if pilot_units:
        data.update(sampler_units(data, layout, family, pilot, pilot_groups))
    elif row_wise:
        data.update(sampler_units(data, layout, family))
    elif family.program == "categorical":
        conditional = parameterization == "auto" and not prior_only
        data.update(category_units(data, layout, family, not prior_only, conditional))
    info: dict[str, Any] = {
        "rows": summary.n,
        **family_info,
        **form,
        "deviations": {
            b.label: dev
            for b, dev in zip(layout.equations, with_deviations, strict=True)
            if b.has_groups
        },
    }
    table, coords = labels_and_coords(design, family, levels)
    return StanInput(data, inits, resolved, coords, table, info)


def outcome_and_summary(
    design: Design, family: Family, summary: DesignSummary | None
) -> tuple[np.ndarray | None, list[Any] | None, DesignSummary]:
    """The family's outcome and levels, and the design's moments (from the rows,
    or as computed partition by partition)."""
    if summary is None:
        y, levels = family.prepare_outcome(
            design.y, design.formula.outcome, design.extras
        )
        return y, levels, summarise(design, y)
    if family.program != "gaussian":
        raise OptionError(
            f"Only the gaussian family can be fitted from summary statistics; "
            f"got {family.name!r}."
        )
    return None, None, summary


def common_data(
    design: Design,
    summary: DesignSummary,
    with_deviations: list[bool],
    prior_only: bool,
) -> dict[str, Any]:
    """The data every program shares (``stan/common/data.stan.j2``) but priors."""
    layout, sc = design.layout, summary.scaling
    z_group = np.zeros((layout.G, layout.L))
    ate_weight = np.zeros((layout.E, layout.G))
    for e, block in enumerate(layout.equations):
        if block.has_groups:
            counts = summary.group_counts[e]
            z_group[block.thetas, block.lambdas] = summary.group_means[e]
            ate_weight[e, block.thetas] = counts / counts.sum()
    return {
        "K": layout.K,
        "E": layout.E,
        "L": layout.L,
        "G": layout.G,
        "lambda_eq": np.asarray(layout.lambda_equation(), dtype=int),
        "group_eq": np.asarray(layout.group_equation(), dtype=int),
        "x_mean": sc.x_mean,
        "x_scale": sc.x_scale,
        "z_mean": sc.z_mean,
        "z_scale": sc.z_scale,
        "z_group": z_group,
        "has_groups": np.array([int(b.has_groups) for b in layout.equations]),
        "deviations": np.array(with_deviations, dtype=int),
        "ate_weight": ate_weight,
        "prior_only": int(bool(prior_only)),
        **factor_summary(design.factors),
    }


def labels_and_coords(
    design: Design, family: Family, levels: list[Any] | None
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The group table with each group's place in theta, and the dims' labels."""
    layout = design.layout
    table = design.group_table()
    theta_index = layout.theta_index()
    table["theta_index"] = theta_index
    group_labels = [
        f"{t} | {g}"
        for t, g, i in zip(table.treatment, table.group, theta_index, strict=True)
        if i >= 0
    ]
    coords = {
        "control": list(design.x_names),
        "treatment": [block.label for block in layout.equations],
        "modifier": [f"{b.label}:{z}" for b in layout.equations for z in b.z_names],
        "group": group_labels,
        "factor": [f.name for f in design.factors],
        "level": [f"{f.name}[{label}]" for f in design.factors for label in f.levels],
    }
    if family.program == "categorical":  # the non-reference categories
        coords["category"] = [format_value(v) for v in levels[1:]]
    return table, coords
