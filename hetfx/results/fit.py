"""Posterior tables of a fitted hetfx model (:class:`HetFit`)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hetfx.design.build import Design
from hetfx.design.factors import level_offsets
from hetfx.design.spec import ModelSpec
from hetfx.errors import OptionError
from hetfx.families import Family
from hetfx.results import (
    contrasts,
    convergence,
    display,
    persist,
    response,
    summary,
)
from hetfx.results.convergence import ConvergenceWarning
from hetfx.results.interpretation import Interpretation

if TYPE_CHECKING:
    import arviz as az

# variables with a trailing category axis in categorical models
CATEGORY_VARIABLES = {
    "alpha",
    "alpha_centred",
    "beta",
    "beta_std",
    "a",
    "a_centred",
    "lambda",
    "lambda_std",
    "sigma_theta",
    "theta",
    "ate",
    "b",
    "sd_factor",
}


class HetFit(Interpretation):
    """A fitted hetfx model: posterior tables, diagnostics and the draws.

    Attributes
    ----------
    idata : arviz.InferenceData
        Draws with named dims: ``group``, ``treatment``, ``modifier``, ``control``.
    backend : str
        ``"cmdstanpy"`` or ``"pystan"``.
    formula, family : str
    seed : int
        The seed actually used.
    timing : dict
        Seconds spent compiling (or loading) and sampling.
    compiled : bool
        Whether this fit compiled its program (False when it came from the cache).
    design : Design
        The design the fit was made from (its data frame is not kept by ``load``).
    family_obj : Family
        The likelihood family.
    group_table : pandas.DataFrame
        One row per group effect: treatment, group, modifier values, counts and
        ``theta_index`` (its place in theta).
    coords : dict
        Labels of the dims: ``treatment``, ``group``, ``modifier``, ``control``.
    equations : list of dict
        Per equation its ``label``, ``z_names`` and whether it has groups.
    priors : pandas.DataFrame
        The priors used, on the data's scale.
    options : dict
        The sampler options.
    info : dict
        What the run recorded: sizes, timing, program, parameterisation.
    derived : dict
        Quantities computed from the draws once and reused (response-scale
        effects); not saved.
    """

    def __init__(
        self,
        idata: az.InferenceData,
        *,
        backend: str,
        formula: str,
        family: Family,
        groups: pd.DataFrame,
        coords: dict[str, list[str]],
        equations: list[dict[str, Any]],
        priors: pd.DataFrame,
        options: dict[str, Any],
        info: dict[str, Any],
        design: Design,
    ) -> None:
        self.idata = idata
        self.backend = backend
        self.formula = formula
        self.family_obj = family
        self.family = family.name
        self.design = design
        self.group_table = groups
        self.coords = coords
        self.equations = equations
        self.priors = priors
        self.options = options
        self.info = info
        self.seed = options.get("seed")
        self.timing = info.get("timing", {})
        self.compiled = bool(info.get("compiled", False))
        self.derived: dict[str, Any] = {}  # quantities computed once, reused
        self._category: int | None = None

    @property
    def spec(self) -> ModelSpec:
        """The model spec (formula, equations, coders, groups, layout of W)."""
        return self.design.spec

    # ----------------------------------------------------------------- draws
    def draws(self, name: str) -> np.ndarray:
        """Draws of a Stan variable, shaped (chain, draw, ...)."""
        values = np.asarray(self.idata.posterior[name].values)
        if self._category is not None and name in CATEGORY_VARIABLES:
            return values[..., self._category]
        return values

    @property
    def categories(self) -> list[str]:
        """Non-reference outcome categories (categorical family), else []."""
        return list(self.coords.get("category", []))

    def _expand(self, table: pd.DataFrame, draws: np.ndarray, prob: float):
        return summary.expand_table(table, draws, prob, self.info.get("levels"))

    # ---------------------------------------------------------------- tables
    def effects(self, prob: float = 0.9, scale: str = "link") -> pd.DataFrame:
        """One row per (treatment, group): the group effect theta_g.

        Columns: those of :func:`hetfx.groups`, then ``mean``, ``sd``, ``lower``,
        ``upper`` (central ``prob`` interval), ``median``, ``prob_positive``,
        ``rhat``, ``ess_bulk``, ``ess_tail``. ``scale="response"`` gives the
        average over the group's treated units of E[y|T=1] - E[y|T=0] instead
        (ordinal: one row per outcome category, with a ``category`` column).
        """
        if response.check_scale(scale) == "link":
            by_category = self._by_category("effects", prob, scale)
            if by_category is not None:
                return by_category
        table, draws = contrasts.group_draws(self, scale, per_category=True)
        return self._expand(table, draws, prob)

    def group_effects(self, prob: float = 0.9, scale: str = "link") -> pd.DataFrame:
        """:meth:`effects` with one row per group on either scale: an ordinal
        outcome's response-scale effect is the change in the expected category."""
        self._not_categorical("group_effects")
        table, draws = contrasts.group_draws(self, scale)
        return self._expand(table, draws, prob)

    def modifiers(self, prob: float = 0.9) -> pd.DataFrame:
        """Per treatment: the intercept, each lambda, and ``sigma_theta``.

        ``intercept`` is a_e, the effect at modifiers = 0 (the equation's
        regression intercept); ``intercept_at_means`` is the effect at the
        treated units' mean modifiers, which is what the prior on ``a`` applies
        to (see :meth:`prior_summary`). Equations without modifiers have only
        the one intercept.
        """
        by_category = self._by_category("modifiers", prob)
        if by_category is not None:
            return by_category
        pairs = list(summary.modifier_draws(self))
        return summary.tidy_table([r for r, _ in pairs], [d for _, d in pairs], prob)

    def coefficients(self, prob: float = 0.9) -> pd.DataFrame:
        """The outcome equation: ``alpha``, ``beta[<control>]``, family parameters."""
        by_category = self._by_category("coefficients", prob)
        if by_category is not None:
            return by_category
        pairs = list(summary.coefficient_draws(self))
        return summary.tidy_table([r for r, _ in pairs], [d for _, d in pairs], prob)

    def ate(
        self, prob: float = 0.9, scale: str = "link", weighted: bool = False
    ) -> pd.DataFrame:
        """Average treatment effect over each treatment's treated units.

        ``scale="response"`` averages E[y|T=1] - E[y|T=0] over the treated units.
        ``weighted=True`` (fits with survey weights) averages with the units'
        weights instead of equally: the effect in the weighted population.
        """
        label = "ate_weighted" if weighted else "ate"
        table = pd.DataFrame(
            {"treatment": self.coords["treatment"], "parameter": label}
        )
        if weighted:
            response.check_scale(scale)
            by_category = self._by_category("ate", prob, scale, weighted)
            if by_category is not None:
                return by_category
            return self._expand(table, response.weighted_ate(self, scale), prob)
        if response.check_scale(scale) == "link":
            by_category = self._by_category("ate", prob, scale)
            if by_category is not None:
                return by_category
            return self._expand(table, self.draws("ate"), prob)
        return self._expand(table, response.response_draws(self)[1], prob)

    def intercepts(self, factor: str | None = None, prob: float = 0.9) -> pd.DataFrame:
        """One row per level of each varying-intercept factor ``(1 | factor)``:
        its intercept b on the link scale (``factor`` picks one factor)."""
        factors = self.design.factors
        names = [f.name for f in factors]
        if not factors:
            raise OptionError("This model has no varying intercepts (1 | group).")
        by_category = self._by_category("intercepts", factor, prob)
        if by_category is not None:
            return by_category
        if factor is not None and factor not in names:
            raise OptionError(f"No factor {factor!r}; the factors are {names}.")
        b = self.draws("b")
        rows, cols = [], []
        for f, start in zip(factors, level_offsets(factors), strict=True):
            if factor in (None, f.name):
                for j, label in enumerate(f.levels):
                    rows.append({"factor": f.name, "level": label})
                    cols.append(b[..., start + j])
        return summary.tidy_table(rows, cols, prob)

    def prior_summary(self) -> pd.DataFrame:
        """Every prior actually used, with its numbers and what it applies to."""
        return self.priors.copy()

    def diagnostics(self, by_chain: bool = False) -> pd.Series | pd.DataFrame:
        """Divergences, max R-hat, min ESS (bulk and tail), treedepth hits.

        ``by_chain=True``: one row per chain with its divergences, share of draws
        at the maximum tree depth, mean tree depth, step size, the mean of each
        sigma_theta, and ``stuck`` (why the chain looks stuck, or empty).
        """
        if by_chain:
            return convergence.chain_table(self)
        return convergence.diagnostics(self)

    def check_convergence(self) -> list[str]:
        """Warn, with advice, about divergences, stuck chains, R-hat and ESS;
        return the messages (see :mod:`hetfx.results.convergence`)."""
        found = convergence.messages(self)
        for message in found:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        return found

    def save(self, path):
        """Save draws, design and labels to the folder ``path``."""
        return persist.save(self, path)

    # --------------------------------------------------------------- display
    def summary(self, prob: float = 0.9) -> str:
        """A readable text summary: model, ATE, modifiers, group effects and
        diagnostics, each table with its scale."""
        return display.summary_text(self, prob)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return display.summary_html(self)
