"""Posterior tables of a fitted hetfx model (:class:`HetFit`)."""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hetfx.design.build import Design
from hetfx.design.grouping import format_value
from hetfx.errors import OptionError
from hetfx.families import Family
from hetfx.results import baseline as ols_baseline
from hetfx.results import (
    checks,
    comparison,
    contrasts,
    convergence,
    display,
    hypotheses,
    marginal,
    persist,
    plots,
    prediction,
    response,
    tables,
)

if TYPE_CHECKING:
    import arviz as az

STAT_COLUMNS = [
    "mean",
    "sd",
    "lower",
    "upper",
    "median",
    "prob_positive",
    "rhat",
    "ess_bulk",
    "ess_tail",
]
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
}


class ConvergenceWarning(UserWarning):
    """The sampler reported divergences, high R-hat or low ESS."""


def summarise(draws: np.ndarray, prob: float = 0.9) -> dict[str, float]:
    """Posterior statistics of one quantity's draws, shaped (chain, draw).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(summarise(rng.normal(size=(4, 1000)))["prob_positive"], 1)
    0.5
    """
    import arviz as az

    flat = draws.reshape(-1)
    tail = (1 - prob) / 2
    lower, median, upper = np.quantile(flat, [tail, 0.5, 1 - tail])
    constant = np.ptp(flat) == 0
    return {
        "mean": float(flat.mean()),
        "sd": float(flat.std(ddof=1)) if flat.size > 1 else 0.0,
        "lower": float(lower),
        "upper": float(upper),
        "median": float(median),
        "prob_positive": float((flat > 0).mean()),
        "rhat": np.nan if constant else float(az.rhat(draws)),
        "ess_bulk": np.nan if constant else float(az.ess(draws, method="bulk")),
        "ess_tail": np.nan if constant else float(az.ess(draws, method="tail")),
    }


def _check_prob(prob: float) -> float:
    if not isinstance(prob, float | int) or not 0 < prob < 1:
        raise OptionError(f"prob must be between 0 and 1, got {prob!r}.")
    return float(prob)


class HetFit:
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
        self._response_cache = None
        self._category: int | None = None

    # ----------------------------------------------------------------- draws
    def draws(self, name: str) -> np.ndarray:
        """Draws of a Stan variable, shaped (chain, draw, ...)."""
        values = np.asarray(self.idata.posterior[name].values)
        if self._category is not None and name in CATEGORY_VARIABLES:
            return values[..., self._category]
        return values

    def _not_categorical(self, method: str) -> None:
        if self.categories:
            raise OptionError(
                f"{method}() is not available for the categorical family yet; "
                "effects(), modifiers(), coefficients(), ate(), contrast() and "
                "by_modifier() are."
            )

    def _needs_rows(self, method: str) -> None:
        if not self.design.has_rows:
            raise OptionError(
                f"{method} needs the data rows, and this fit was computed "
                "partition by partition (Dask or Parquet) without keeping them. "
                "Fit the in-memory data, or use effects(), modifiers(), ate(), "
                "contrast(), by_modifier() and predict()."
            )

    @property
    def categories(self) -> list[str]:
        """Non-reference outcome categories (categorical family), else []."""
        return list(self.coords.get("category", []))

    def _by_category(self, method: str, *args: Any) -> pd.DataFrame | None:
        """For a categorical outcome: ``method``'s table for every non-reference
        category, with a ``category`` column; None for other families."""
        if not self.categories or self._category is not None:
            return None
        parts = []
        for d, name in enumerate(self.categories):
            view = copy.copy(self)
            view._category = d
            table = getattr(view, method)(*args)
            table.insert(1 if "treatment" in table.columns else 0, "category", name)
            parts.append(table)
        return pd.concat(parts, ignore_index=True)

    def _table(self, rows: list[dict[str, Any]], draws: list[np.ndarray], prob: float):
        prob = _check_prob(prob)
        stats = [summarise(d, prob) for d in draws]
        out = pd.DataFrame(
            [{**r, **s} for r, s in zip(rows, stats, strict=True)],
        )
        if out.empty:
            out = pd.DataFrame(columns=[*(rows[0] if rows else {}), *STAT_COLUMNS])
        return out

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
        table, draws = contrasts.group_draws(self, scale)
        return self._expand(table, draws, prob)

    def _expand(self, table: pd.DataFrame, draws: np.ndarray, prob: float):
        """Rows x draws (chain, draw, rows[, K]) -> a tidy table."""
        rows, cols = [], []
        levels = self.info.get("levels")
        for r, row in enumerate(table.to_dict("records")):
            if draws.ndim == 4:
                for k, level in enumerate(levels):
                    rows.append({**row, "category": format_value(level)})
                    cols.append(draws[:, :, r, k])
            else:
                rows.append(row)
                cols.append(draws[:, :, r])
        return self._table(rows, cols, prob)

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
        pairs = list(self.modifier_draws())
        return self._table([r for r, _ in pairs], [d for _, d in pairs], prob)

    def modifier_draws(self):
        """({treatment, parameter}, draws) of every row of :meth:`modifiers`."""
        a, lam, sig = self.draws("a"), self.draws("lambda"), self.draws("sigma_theta")
        at_means = self.draws("a_centred")
        for e, block in enumerate(self.design.layout.equations):
            label = block.label
            yield {"treatment": label, "parameter": "intercept"}, a[..., e]
            if block.z_names:
                yield (
                    {"treatment": label, "parameter": "intercept_at_means"},
                    at_means[..., e],
                )
            for j, z in enumerate(block.z_names):
                yield (
                    {"treatment": label, "parameter": z},
                    lam[..., block.lambda_start + j],
                )
            if block.has_groups and self.info.get("deviations", {}).get(label, True):
                yield {"treatment": label, "parameter": "sigma_theta"}, sig[..., e]

    def coefficients(self, prob: float = 0.9) -> pd.DataFrame:
        """The outcome equation: ``alpha``, ``beta[<control>]``, family parameters."""
        by_category = self._by_category("coefficients", prob)
        if by_category is not None:
            return by_category
        pairs = list(self.coefficient_draws())
        return self._table([r for r, _ in pairs], [d for _, d in pairs], prob)

    def coefficient_draws(self):
        """({parameter}, draws) of every row of :meth:`coefficients`."""
        if "alpha" in self.idata.posterior:
            yield {"parameter": "alpha"}, self.draws("alpha")
        beta = self.draws("beta")
        for k, name in enumerate(self.coords["control"]):
            yield {"parameter": f"beta[{name}]"}, beta[..., k]
        for name in self.info.get("family_params", ()):
            values = self.draws(name)
            if values.ndim == 2:
                yield {"parameter": name}, values
                continue
            labels = self._vector_labels(name, values.shape[-1])
            for k, label in enumerate(labels):
                yield {"parameter": label}, values[..., k]

    def _vector_labels(self, name: str, size: int) -> list[str]:
        levels = self.info.get("levels")
        if name == "cutpoints" and levels:
            pairs = zip(levels[:-1], levels[1:], strict=True)
            return [f"cutpoints[{format_value(a)}|{format_value(b)}]" for a, b in pairs]
        return [name] if size == 1 else [f"{name}[{k + 1}]" for k in range(size)]

    def ate(self, prob: float = 0.9, scale: str = "link") -> pd.DataFrame:
        """Average treatment effect over each treatment's treated units.

        ``scale="response"`` averages E[y|T=1] - E[y|T=0] over the treated units.
        """
        table = pd.DataFrame(
            {"treatment": self.coords["treatment"], "parameter": "ate"}
        )
        if response.check_scale(scale) == "link":
            by_category = self._by_category("ate", prob, scale)
            if by_category is not None:
                return by_category
            return self._expand(table, self.draws("ate"), prob)
        return self._expand(table, response.response_draws(self)[1], prob)

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
        import arviz as az

        stats = self.idata.sample_stats
        names = [
            v for v in self.info.get("summary_vars", []) if v in self.idata.posterior
        ]
        posterior = self.idata.posterior[names]
        sizes = [posterior[v].size for v in names]
        keep = [v for v, s in zip(names, sizes, strict=True) if s > 0]
        with warnings.catch_warnings():  # constants (a fixed sigma_theta) give NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            rhat = az.rhat(posterior[keep]) if keep else None
            ess_b = az.ess(posterior[keep], method="bulk") if keep else None
            ess_t = az.ess(posterior[keep], method="tail") if keep else None

        def extreme(ds, fn) -> float:
            if ds is None:
                return float("nan")
            values = np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars])
            values = values[np.isfinite(values)]
            return float(fn(values)) if values.size else float("nan")

        depth = stats["tree_depth"].values if "tree_depth" in stats else np.zeros(1)
        return pd.Series(
            {
                "divergences": int(stats["diverging"].values.sum()),
                "max_rhat": extreme(rhat, np.max),
                "min_ess_bulk": extreme(ess_b, np.min),
                "min_ess_tail": extreme(ess_t, np.min),
                "treedepth_hits": int(
                    (depth >= self.options.get("max_treedepth", 10)).sum()
                ),
                "chains": int(posterior.sizes.get("chain", 0)),
                "draws": int(posterior.sizes.get("draw", 0)),
            },
            name="diagnostics",
            dtype=object,
        )

    def check_convergence(self) -> list[str]:
        """Warn, with advice, about divergences, stuck chains, R-hat and ESS;
        return the messages (see :mod:`hetfx.convergence`)."""
        found = convergence.messages(self)
        for message in found:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        return found

    # ------------------------------------------------------ interpretation
    def ols(self, prob: float = 0.9, baseline: str = "cells") -> pd.DataFrame:
        """OLS estimates of the same groups with HC2 standard errors.

        ``baseline="cells"``: the paper's fully interacted regression
        ``y ~ treat * (z1 * ... * zk) + controls``; ``"linear"``: linear
        modifier main effects instead of a baseline per modifier cell. The
        outcome is on the response scale (a linear probability model for 0/1
        outcomes, successes per trial for binomial ones).
        """
        self._not_categorical("ols")
        self._needs_rows("ols()")
        return ols_baseline.ols_from_design(
            self.design, _check_prob(prob), baseline, self.family_obj
        )

    def comparison_scale(self, scale: str | None = None) -> str:
        """The scale on which the OLS baseline compares; see
        :func:`hetfx.comparison.comparison_scale`."""
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
        :func:`hetfx.comparison.compare_ols`."""
        self._not_categorical("compare_ols")
        self._needs_rows("compare_ols()")
        return comparison.compare_ols(self, _check_prob(prob), scale, baseline)

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
        variables; see :mod:`hetfx.marginal`. marginaleffects:
        ``avg_comparisons(model, variables = "treat", by = ...)``."""
        return marginal.average_effects(self, by, newdata, scale, _check_prob(prob))

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
            self, by, newdata, scale, _check_prob(prob), slope=variable
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
        :func:`hetfx.hypotheses.hypotheses`."""
        return hypotheses.hypotheses(
            self,
            expr,
            treatment=treatment,
            rope=rope,
            threshold=threshold,
            prob=_check_prob(prob),
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
        return tables.to_table(self, kind, format, digits, _check_prob(prob))

    def predict(
        self,
        newdata: Any,
        kind: str = "effect",
        draws: bool = False,
        prob: float = 0.9,
        seed: int = 0,
    ) -> pd.DataFrame | np.ndarray:
        """Treatment effect (or expected outcome) of new units; see
        :func:`hetfx.prediction.predict`. Unseen modifier combinations get the
        effect of a new group, with a wider interval."""
        self._not_categorical("predict")
        return prediction.predict(self, newdata, kind, draws, prob, seed)

    def ppc(self, ndraws: int = 200, prob: float = 0.9, seed: int = 0) -> pd.DataFrame:
        """Posterior predictive check: observed against replicated statistics."""
        self._not_categorical("ppc")
        self._needs_rows("ppc()")
        return checks.ppc(self, ndraws, prob, seed)

    def loo(self, thin: int | None = None):
        """PSIS-LOO (arviz ELPDData) from numpy pointwise log-likelihoods."""
        self._not_categorical("loo")
        self._needs_rows("loo()")
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
        self._needs_rows("plot_shrinkage()")
        return plots.plot_shrinkage(self, ax=ax, prob=prob)

    def plot_ppc(self, ax=None, ndraws: int = 200, prob: float = 0.9):
        """Observed group means against their replicated intervals."""
        self._needs_rows("plot_ppc()")
        return plots.plot_ppc(self, ax=ax, ndraws=ndraws, prob=prob)

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
