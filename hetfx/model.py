"""The model: :class:`HetModel`, a reusable structure compiled once and fitted
to any number of datasets (:func:`hetfx.fit` is its one-call form)."""

from __future__ import annotations

import os
import time
from typing import Any

from hetfx.backends import Backend, Compiled, get_backend, sampler_options
from hetfx.design import partitions
from hetfx.design.build import Design, build_design
from hetfx.design.grouping import validate_bins
from hetfx.design.options import DesignOptions
from hetfx.families import Family, get_family
from hetfx.formula import parse_formula
from hetfx.io import read_data
from hetfx.priors import validate_priors
from hetfx.program.collapse import (
    SAMPLING_SCALES,
    blocking_priors,
    check_collapsed,
)
from hetfx.program.deviations import check_deviations, zero_unused_scales
from hetfx.program.example import example_input
from hetfx.program.parameterization import (
    check_parameterization,
    default_adapt_delta,
)
from hetfx.program.prior_data import summary_table
from hetfx.program.render import render
from hetfx.program.standata import (
    DesignSummary,
    StanInput,
    build_stan_input,
    prior_keys,
)
from hetfx.results.fit import HetFit

SUMMARY_VARS = [
    "alpha",
    "beta",
    "a",
    "lambda",
    "sigma_theta",
    "theta",
    "ate",
    "sd_factor",
    "b",
]


class HetModel:
    """A hetfx model structure: formula, family, priors and grouping options.

    One compiled Stan program serves every dataset; :meth:`fit` never recompiles
    for new data, and a fresh process finds the program in the on-disk cache.

    Parameters
    ----------
    formula : str
        ``outcome ~ controls | treatment : modifiers [| ...]``.
    family : str or Family
        ``"gaussian"``, ``"bernoulli"``, ``"poisson"``, ``"negative_binomial"``,
        ``"student_t"``, ``"ordinal"``, ``"categorical"``, or an object from
        :mod:`hetfx.families` (``binomial(trials="n")``,
        ``poisson(exposure="days")``, ``categorical(reference="none")``).
    priors : dict, optional
        Keyed by ``alpha``, ``beta``, ``a``, ``lambda``, ``sigma_theta`` and the
        family's parameters (``sigma``); values from :mod:`hetfx.priors`.
    main_effects : bool
        Add the modifiers' columns to the outcome equation (constituent terms).
    bins : dict, optional
        Binning of continuous modifiers for grouping, e.g. ``{"age": 5}``.
    control, treatment_type : optional
        Control level of categorical treatments, and treatment type overrides.
    backend : {"auto", "cmdstanpy", "pystan"}
    missing : {"drop", "raise"}
    parameterization : {"auto", "noncentred", "centred"}
        How the group effects are sampled. ``"auto"`` (the default) chooses per
        group: centred where a pilot no-pooling fit says the group's data are
        more precise than the spread of the groups, non-centred elsewhere
        (:mod:`hetfx.program.parameterization`); ``fit.info`` reports the choice.
        ``"noncentred"`` and ``"centred"`` force one form for every group. All
        three run the same compiled program.
    collapsed : bool, optional
        Gaussian only: integrate alpha, beta, a, lambda and theta out exactly and
        sample only sigma and sigma_theta (no funnel), drawing the coefficients
        from their exact conditional normal. The default whenever every prior
        on alpha, beta, a and lambda is normal or flat; ``False`` runs the
        uncollapsed program. ``fit.info["program"]`` names the one used.
    deviations : bool, optional
        Group deviations sigma_theta u_g from a + zbar_g lambda. By default an
        equation keeps them when it has more groups than modifier columns + 1,
        and otherwise is fitted as the interaction model with a
        ``GroupingWarning`` (the data could not inform sigma_theta);
        ``True`` keeps them everywhere, ``False`` drops them everywhere.
        ``fit.info["deviations"]`` reports the choice.
    groups : dict, optional
        ``{"treat": "state"}``: the groups of a treatment are the values of a
        variable (sites, states, schools), its modifiers the groups' predictors;
        the same as writing ``treat : gdp + ideology ~ state`` in the formula.
    weights : str, optional
        A column of survey weights: each unit's log-likelihood is multiplied by
        its weight, as brms's ``y | weights(w)``. This is a pseudo-likelihood:
        the estimates target the weighted population, but the intervals are not
        design-based (no strata, clusters or finite-population correction).
    normalize_weights : bool
        Scale the weights to mean 1 (default), so that the weights change the
        estimates' targets but not how much data the posterior believes it has;
        ``False`` uses them as given (integer weights then act as frequency
        weights, like duplicated rows).

    Examples
    --------
    >>> model = HetModel("y ~ x1 | treat : z1 + z2")   # doctest: +SKIP
    >>> fit = model.fit(df, seed=1)                      # doctest: +SKIP
    """

    def __init__(
        self,
        formula: str,
        family: str | Family = "gaussian",
        priors: dict[str, Any] | None = None,
        main_effects: bool = True,
        bins: dict[str, Any] | None = None,
        *,
        control: Any = None,
        treatment_type: Any = None,
        backend: str = "auto",
        missing: str = "drop",
        parameterization: str = "auto",
        deviations: bool | None = None,
        collapsed: bool | None = None,
        groups: dict[str, str] | None = None,
        weights: str | None = None,
        normalize_weights: bool = True,
    ) -> None:
        self.parsed = parse_formula(formula).with_groups(groups)
        self.formula = self.parsed.text
        self.family = get_family(family)
        self.priors = validate_priors(
            priors, prior_keys(self.family, self.parsed.intercepts)
        )
        modifier_vars = [m for p in self.parsed.parts for m in p.modifier_variables]
        self.design_options = DesignOptions(
            bool(main_effects),
            validate_bins(bins, modifier_vars, self.parsed.categorical_modifiers),
            control,
            treatment_type,
            missing,
            weights,
            bool(normalize_weights),
        )
        self.backend_name = backend
        self.parameterization = check_parameterization(parameterization)
        self.deviations = check_deviations(deviations)
        self.collapsed = check_collapsed(
            collapsed, self.family, self.priors, len(self.parsed.intercepts)
        )
        self._backend: Backend | None = None
        self._compiled: Compiled | None = None

    # the design options, as the constructor took them
    main_effects = property(lambda self: self.design_options.main_effects)
    bins = property(lambda self: self.design_options.bins)
    control = property(lambda self: self.design_options.control)
    treatment_type = property(lambda self: self.design_options.treatment_type)
    missing = property(lambda self: self.design_options.missing)
    weights = property(lambda self: self.design_options.weights)
    normalize_weights = property(lambda self: self.design_options.normalize_weights)

    def __repr__(self) -> str:
        return (
            f"HetModel({self.formula!r}, family={self.family.name!r}, "
            f"main_effects={self.main_effects})"
        )

    def spec(self) -> dict[str, Any]:
        """The constructor arguments: ``HetModel(**model.spec())`` rebuilds it
        (how batch workers get the model without its compiled handle)."""
        return {
            "formula": self.formula,
            "family": self.family,
            "priors": dict(self.priors),
            "main_effects": self.main_effects,
            "bins": dict(self.bins),
            "control": self.control,
            "treatment_type": self.treatment_type,
            "backend": self.backend_name,
            "missing": self.missing,
            "parameterization": self.parameterization,
            "deviations": self.deviations,
            "collapsed": self.collapsed,
            "weights": self.weights,
            "normalize_weights": self.normalize_weights,
        }

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = get_backend(self.backend_name)
        return self._backend

    @property
    def program_name(self) -> str:
        """The Stan program this model runs: the family's; for a gaussian model
        whose coefficient priors are normal or flat (and with at most one
        varying-intercept factor) the collapsed one, and for other gaussian
        models with varying intercepts the row-wise one."""
        if self.collapsed:
            return "gaussian_collapsed"
        if self.family.program == "gaussian" and self.parsed.intercepts:
            return "gaussian_rows"
        return self.family.program

    @property
    def program(self) -> str:
        """The Stan program text (the same for every formula of this family)."""
        return render(self.program_name)

    def design(self, data: Any, warn_groups: bool = True) -> Design:
        """The design (y, X, T, Z, groups) of ``data`` under this model."""
        return build_design(
            self.parsed,
            data,
            self.design_options,
            warn_groups=warn_groups,
            extra_variables=tuple(self.family.variables),
        )

    def _design_and_summary(self, data: Any) -> tuple[Design, DesignSummary | None]:
        """In-memory design, or for a Dask frame / Parquet path the gaussian
        statistics computed partition by partition (other families read the
        used columns into memory)."""
        if not partitions.is_partitioned(data):
            if isinstance(data, str | os.PathLike):  # a data file, read whole
                data = read_data(data)
            return self.design(data), None
        if self.family.program != "gaussian" or self.parsed.intercepts:
            extra = [*self.family.variables, *filter(None, [self.weights])]
            used = list(dict.fromkeys([*self.parsed.variables, *extra]))
            return self.design(partitions.collect(data, used)), None
        return partitions.summarise_partitions(self.parsed, data, self.design_options)

    def compile(self, example: StanInput | None = None) -> Compiled:
        """Compile the program now (or load it from the cache)."""
        if self._compiled is None:
            if example is None:
                example = example_input(self.family, self.program_name)
            self._compiled = self.backend.compile(
                f"hetfx_{self.program_name}", self.program, example.program_data
            )
        return self._compiled

    def fit(
        self,
        data: Any,
        *,
        chains: int = 4,
        iter_warmup: int = 1000,
        iter_sampling: int = 1000,
        seed: int | None = None,
        prior_only: bool = False,
        aggregate: bool = True,
        **sampler: Any,
    ) -> HetFit:
        """Fit the model to ``data``.

        Parameters
        ----------
        data : DataFrame-like, dask.dataframe.DataFrame or file path
            Gaussian models compute W'W, W'y, y'y and N partition by partition
            from a Dask frame or Parquet dataset without collecting the rows
            (binned modifiers then use approximate quantiles; needs the
            ``hetfx[dask]`` extra). CSV, TSV and Stata paths are read whole.
        chains, iter_warmup, iter_sampling, seed : sampler settings
        prior_only : bool
            Sample from the priors alone (prior predictive check).
        aggregate : bool
            Sum binomial rows whose design repeats exactly (exact; faster).
        **sampler
            ``adapt_delta`` (default 0.8; 0.95 for the collapsed gaussian
            program and where group effects are non-centred and too few groups
            inform sigma_theta), ``adapt_term_buffer`` (the last
            warmup iterations, which adapt the step size alone: default 15% of
            ``iter_warmup``, at least Stan's 50), ``max_treedepth``,
            ``show_progress``, ``cores``.

        Returns
        -------
        HetFit
        """
        if prior_only and self.collapsed:  # the prior of the coefficients: sample it
            full = HetModel(**{**self.spec(), "collapsed": False})
            return full.fit(
                data,
                chains=chains,
                iter_warmup=iter_warmup,
                iter_sampling=iter_sampling,
                seed=seed,
                prior_only=True,
                aggregate=aggregate,
                **sampler,
            )
        options = sampler_options(chains, iter_warmup, iter_sampling, seed, **sampler)
        start = time.perf_counter()
        design, summary = self._design_and_summary(data)
        stan_input = build_stan_input(
            design,
            self.family,
            self.priors,
            prior_only,
            self.parameterization,
            aggregate,
            summary,
            deviations=self.deviations,
            program=self.program_name,
        )
        timing = {"design": time.perf_counter() - start}
        if "adapt_delta" not in sampler:  # the program's and the groups' default
            delta = default_adapt_delta(self.collapsed, stan_input.data)
            options = sampler_options(
                chains, iter_warmup, iter_sampling, seed, **sampler, adapt_delta=delta
            )
        was_compiled = self._compiled is not None
        compiled = self.compile(stan_input)
        timing["compile"] = 0.0 if was_compiled else compiled.seconds
        start = time.perf_counter()
        idata = self.backend.sample(
            compiled,
            stan_input.program_data,
            stan_input.inits,
            options,
            stan_input.coords,
        )
        timing["sampling"] = time.perf_counter() - start
        zero_unused_scales(idata, stan_input.data["deviations"])
        idata.posterior = idata.posterior.drop_vars(SAMPLING_SCALES, errors="ignore")
        info = {
            **stan_input.info,
            "n": design.n,
            "n_dropped": design.n_dropped,
            "family_params": list(self.family.params),
            "levels": stan_input.info.get("levels"),
            # the collapsed program draws b exactly given the sampled scales and
            # the coefficients, whose diagnostics cover it (thousands of levels
            # would dominate the time of a fit)
            "summary_vars": [
                v for v in SUMMARY_VARS if not (self.collapsed and v == "b")
            ]
            + list(self.family.params),
            "compiled": compiled.compiled_now and not was_compiled,
            # this call wrote the program into the hetfx cache
            "program_built": bool(
                compiled.info.get("built", compiled.compiled_now) and not was_compiled
            ),
            "timing": timing,
            "prior_only": bool(prior_only),
            "program": self.program_name,
            "weights": self.weights,
            "normalize_weights": self.normalize_weights,
            **self._program_note(),
        }
        fit = HetFit(
            idata,
            backend=self.backend.name,
            formula=self.formula,
            family=self.family,
            groups=stan_input.effects_rows,
            coords=stan_input.coords,
            equations=[
                {"label": eq.label, "z_names": eq.z_names, "has_groups": eq.has_groups}
                for eq in design.equations
            ],
            priors=summary_table(stan_input.priors),
            options=options.as_dict(),
            info=info,
            design=design,
        )
        if not prior_only:
            fit.check_convergence()
        return fit

    def _program_note(self) -> dict[str, str]:
        """Why a gaussian model runs the uncollapsed program, for ``fit.info``."""
        if self.family.program != "gaussian" or self.collapsed:
            return {}
        blocking = blocking_priors(self.priors)
        if blocking:
            note = f"uncollapsed gaussian program: {', '.join(blocking)} is not normal"
        elif len(self.parsed.intercepts) > 1:
            note = (
                "row-wise gaussian program: the collapsed one integrates out at "
                "most one varying-intercept factor"
            )
        else:
            note = "uncollapsed gaussian program (collapsed=False)"
        return {"program_note": note}

    def sample_prior(self, data: Any, **kwargs: Any) -> HetFit:
        """Sample from the priors alone (a prior predictive check).

        The same tables are available, showing which effect sizes the priors
        allow; ``prior_summary()`` shows the priors scaled to ``data``.
        """
        return self.fit(data, prior_only=True, **kwargs)
