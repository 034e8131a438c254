"""The interpretation methods of :class:`hetfx.results.fit.HetFit`: OLS
comparisons, contrasts, marginal effects, hypotheses, prediction, checks and
plots. Each is a thin call into the module that implements it."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hetfx.errors import OptionError
from hetfx.results import baseline as ols_baseline
from hetfx.results import (
    checks,
    comparison,
    contrasts,
    hypotheses,
    marginal,
    plots,
    prediction,
    summary,
    tables,
)

if TYPE_CHECKING:
    from hetfx.design.build import Design
    from hetfx.families import Family


class Interpretation:
    """Methods that read a fit through its public attributes (mixed into HetFit)."""

    design: Design
    family_obj: Family
    categories: list[str]
    _category: int | None

    def _not_categorical(self, method: str) -> None:
        if self.categories:
            raise OptionError(
                f"{method}() is not available for the categorical family yet; "
                "effects(), modifiers(), coefficients(), ate(), contrast(), "
                "by_modifier() and loo() are."
            )

    def require_rows(self, method: str) -> None:
        """OptionError unless the fit kept its data rows (not partitioned)."""
        if not self.design.has_rows:
            raise OptionError(
                f"{method} needs the data rows, and this fit was computed "
                "partition by partition (Dask or Parquet) without keeping them. "
                "Fit the in-memory data, or use effects(), modifiers(), ate(), "
                "contrast(), by_modifier() and predict()."
            )

    def _by_category(self, method: str, *args: Any) -> pd.DataFrame | None:
        """For a categorical outcome: ``method``'s table for every non-reference
        category, with a ``category`` column; None for other families."""
        if not self.categories or self._category is not None:
            return None
        parts = []
        for d, name in enumerate(self.categories):
            view = copy.copy(self)
            view._category = d
            view.derived = {}
            table = getattr(view, method)(*args)
            table.insert(1 if "treatment" in table.columns else 0, "category", name)
            parts.append(table)
        return pd.concat(parts, ignore_index=True)

    def ols(self, prob: float = 0.9, baseline: str = "cells") -> pd.DataFrame:
        """OLS estimates of the same groups with HC2 standard errors.

        ``baseline="cells"``: the paper's fully interacted regression
        ``y ~ treat * (z1 * ... * zk) + controls``; ``"linear"``: linear
        modifier main effects instead of a baseline per modifier cell. The
        outcome is on the response scale (a linear probability model for 0/1
        outcomes, successes per trial for binomial ones).
        """
        self._not_categorical("ols")
        self.require_rows("ols()")
        return ols_baseline.ols_from_design(
            self.design, summary.check_prob(prob), baseline, self.family_obj
        )

    def comparison_scale(self, scale: str | None = None) -> str:
        """The scale on which the OLS baseline compares; see
        :func:`hetfx.results.comparison.comparison_scale`."""
        return comparison.comparison_scale(self.family_obj, scale)

    def scale_name(self, scale: str = "link") -> str:
        """What the tables on ``scale`` measure, e.g. ``"log-odds (logit link)"``."""
        return comparison.scale_name(self.family_obj, scale)

    def compare_ols(
        self, prob: float = 0.9, scale: str | None = None, baseline: str = "cells"
    ) -> pd.DataFrame:
        """Hierarchical against OLS group effects, one row per group, on one
        scale, with the regression prediction each group is pulled towards and
        the share of the way it moves (``shrinkage``, in [0, 1]); see
        :func:`hetfx.results.comparison.compare_ols`."""
        self._not_categorical("compare_ols")
        self.require_rows("compare_ols()")
        return comparison.compare_ols(self, summary.check_prob(prob), scale, baseline)

    def contrast(
        self,
        group_a: str | dict[str, Any],
        group_b: str | dict[str, Any],
        treatment: str | None = None,
        prob: float = 0.9,
        scale: str = "link",
    ) -> pd.DataFrame:
        """Posterior of theta_a - theta_b with ``prob_direction``.

        Groups are named by their label (``"dem=1, male=0"``), with the
        treatment (``"alliance | dem=1, male=0"``), or partially (``"dem=1"``,
        ``{"dem": 1}``): a partial specification selects every group with those
        modifier values and stands for their average weighted by treated units
        (the ``groups_a``, ``groups_b`` and ``weighting`` columns say so).
        """
        if scale == "link":
            by_category = self._by_category(
                "contrast", group_a, group_b, treatment, prob, scale
            )
            if by_category is not None:
                return by_category
        return contrasts.contrast(self, group_a, group_b, treatment, prob, scale)

    def by_modifier(self, prob: float = 0.9, scale: str = "link") -> pd.DataFrame:
        """Average effect by modifier value (weighted by treated units), and
        the differences between values."""
        if scale == "link":
            by_category = self._by_category("by_modifier", prob, scale)
            if by_category is not None:
                return by_category
        return contrasts.by_modifier(self, prob, scale)

    def comparisons(
        self,
        by: str | list[str] | None = None,
        newdata: Any = None,
        scale: str = "link",
        prob: float = 0.9,
    ) -> pd.DataFrame:
        """The treatment effect (treated minus control; for a continuous
        treatment the slope) of each row of ``newdata`` (a DataFrame or
        :func:`hetfx.datagrid`), or of the treated units, averaged by the ``by``
        variables; see :mod:`hetfx.results.marginal`. marginaleffects:
        ``avg_comparisons(model, variables = "treat", by = ...)``."""
        return marginal.average_effects(
            self, by, newdata, scale, summary.check_prob(prob)
        )

    def slopes(
        self,
        variable: str,
        by: str | list[str] | None = None,
        newdata: Any = None,
        scale: str = "link",
        prob: float = 0.9,
    ) -> pd.DataFrame:
        """The derivative of the treatment effect with respect to the continuous
        modifier ``variable`` (lambda on the link scale; the averaged derivative
        of the response-scale effect otherwise), each row keeping its group."""
        return marginal.average_effects(
            self, by, newdata, scale, summary.check_prob(prob), slope=variable
        )

    def hypotheses(
        self,
        expr: str | None = None,
        *,
        treatment: str | None = None,
        rope: tuple[float, float] | None = None,
        threshold: float | None = None,
        prob: float = 0.9,
    ) -> pd.DataFrame:
        """Posterior probability (``prob``) and interval of a statement such as
        ``"dem + female > 0"`` or ``"dem=1, male=0 > dem=0, male=0"``; see
        :func:`hetfx.results.hypotheses.hypotheses`."""
        return hypotheses.hypotheses(
            self,
            expr,
            treatment=treatment,
            rope=rope,
            threshold=threshold,
            prob=summary.check_prob(prob),
        )

    def to_table(
        self,
        kind: str = "effects",
        format: str = "markdown",
        digits: int = 3,
        prob: float = 0.9,
    ) -> str:
        """A table for a paper (``"effects"``, ``"modifiers"``, ``"ate"``,
        ``"coefficients"``, ``"compare_ols"``) as markdown, LaTeX or HTML."""
        return tables.to_table(self, kind, format, digits, summary.check_prob(prob))

    def predict(
        self,
        newdata: Any,
        kind: str = "effect",
        draws: bool = False,
        prob: float = 0.9,
        seed: int = 0,
        new_levels: str = "sample",
    ) -> pd.DataFrame | np.ndarray:
        """Treatment effect (or expected outcome) of new units; see
        :func:`hetfx.results.prediction.predict`. Unseen modifier combinations get the
        effect of a new group, with a wider interval."""
        self._not_categorical("predict")
        return prediction.predict(self, newdata, kind, draws, prob, seed, new_levels)

    def ppc(self, ndraws: int = 200, prob: float = 0.9, seed: int = 0) -> pd.DataFrame:
        """Posterior predictive check: observed against replicated statistics."""
        self._not_categorical("ppc")
        self.require_rows("ppc()")
        return checks.ppc(self, ndraws, prob, seed)

    def loo(self, thin: int | None = None):
        """PSIS-LOO (arviz ELPDData) from numpy pointwise log-likelihoods."""
        self.require_rows("loo()")
        if self.design.weights is not None:
            raise OptionError(
                "loo() is not available for a fit with survey weights: its "
                "pseudo-likelihood has no leave-one-out predictive density."
            )
        return checks.loo(self, thin)

    def plot_effects(
        self,
        ax=None,
        ols: bool = False,
        prob: float = 0.9,
        sort=True,
        scale: str | None = None,
    ):
        """Forest plot of group effects; ``ols=True`` overlays the OLS estimates
        (on the response scale for non-identity links, see :meth:`compare_ols`).
        ``scale`` is ``"link"`` (default without OLS) or ``"response"``."""
        self._not_categorical("plot_effects")
        return plots.plot_effects(
            self, ax=ax, ols=ols, prob=prob, sort=sort, scale=scale
        )

    def plot_comparisons(
        self, by=None, newdata=None, scale: str = "link", prob: float = 0.9, ax=None
    ):
        """The effects of :meth:`comparisons` with their intervals."""
        table = self.comparisons(by, newdata, scale, prob)
        return plots.plot_estimates(self, table, "treatment effect", scale, prob, ax)

    def plot_slopes(
        self,
        variable: str,
        by=None,
        newdata=None,
        scale: str = "link",
        prob: float = 0.9,
        ax=None,
    ):
        """The slopes of :meth:`slopes` with their intervals."""
        table = self.slopes(variable, by, newdata, scale, prob)
        what = f"slope of the treatment effect in {variable}"
        return plots.plot_estimates(self, table, what, scale, prob, ax)

    def plot_modifiers(self, ax=None, prob: float = 0.9):
        """lambda, a and sigma_theta with their intervals."""
        return plots.plot_modifiers(self, ax=ax, prob=prob)

    def plot_shrinkage(self, ax=None, prob: float = 0.9):
        """OLS against hierarchical group effects, point size by group size."""
        self.require_rows("plot_shrinkage()")
        return plots.plot_shrinkage(self, ax=ax, prob=prob)

    def plot_ppc(self, ax=None, ndraws: int = 200, prob: float = 0.9):
        """Observed group means against their replicated intervals."""
        self.require_rows("plot_ppc()")
        return plots.plot_ppc(self, ax=ax, ndraws=ndraws, prob=prob)
