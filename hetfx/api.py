"""The one-call entry point: :func:`fit` builds a :class:`HetModel` and fits it."""

from __future__ import annotations

from typing import Any

from hetfx.families import Family
from hetfx.model import HetModel
from hetfx.results.fit import HetFit


def fit(
    formula: str,
    data: Any,
    family: str | Family = "gaussian",
    priors: dict[str, Any] | None = None,
    backend: str = "auto",
    chains: int = 4,
    iter_warmup: int = 1000,
    iter_sampling: int = 1000,
    seed: int | None = None,
    main_effects: bool = True,
    bins: dict[str, Any] | None = None,
    *,
    control: Any = None,
    treatment_type: Any = None,
    missing: str = "drop",
    prior_only: bool = False,
    parameterization: str = "auto",
    deviations: bool | None = None,
    collapsed: bool | None = None,
    groups: dict[str, str] | None = None,
    weights: str | None = None,
    normalize_weights: bool = True,
    **sampler_options: Any,
) -> HetFit:
    """Fit a hierarchical model of heterogeneous treatment effects.

    Parameters
    ----------
    formula : str
        ``outcome ~ controls | treatment : modifiers [| ...]``.
    data : DataFrame-like, dask.dataframe.DataFrame or Parquet path
        See :meth:`HetModel.fit`.
    family : str or Family
        See :class:`HetModel`.
    priors : dict, optional
        See :class:`HetModel`.
    backend : {"auto", "cmdstanpy", "pystan"}
    chains, iter_warmup, iter_sampling, seed : sampler settings
    main_effects : bool
        Add the modifiers' constituent terms to the outcome equation.
    bins : dict, optional
        Binning of continuous modifiers.
    control, treatment_type, missing, parameterization, deviations, collapsed
        See :class:`HetModel`.
    groups, weights, normalize_weights
        See :class:`HetModel`.
    prior_only : bool
        Sample from the priors alone.
    **sampler_options
        ``adapt_delta`` (default 0.8; 0.95 for the collapsed gaussian program
        and where group effects are non-centred and too few groups inform
        sigma_theta), ``adapt_term_buffer`` (the last warmup iterations, which adapt
        the step size alone: default 15% of ``iter_warmup``, at least Stan's
        50), ``max_treedepth``, ``show_progress``, ``cores``.

    Returns
    -------
    HetFit

    Examples
    --------
    >>> import hetfx
    >>> sim = hetfx.datasets.simulate(n=1000, seed=1)
    >>> fit = hetfx.fit(sim.formula, sim.data, seed=1)   # doctest: +SKIP
    >>> fit.effects()                                    # doctest: +SKIP
    """
    model = HetModel(
        formula,
        family=family,
        priors=priors,
        main_effects=main_effects,
        bins=bins,
        control=control,
        treatment_type=treatment_type,
        backend=backend,
        missing=missing,
        parameterization=parameterization,
        deviations=deviations,
        collapsed=collapsed,
        groups=groups,
        weights=weights,
        normalize_weights=normalize_weights,
    )
    return model.fit(
        data,
        chains=chains,
        iter_warmup=iter_warmup,
        iter_sampling=iter_sampling,
        seed=seed,
        prior_only=prior_only,
        **sampler_options,
    )
