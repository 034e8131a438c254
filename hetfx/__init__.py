"""hetfx: Bayesian hierarchical models of heterogeneous treatment effects."""

from . import datasets, families, priors
from .baseline import ols_interactions
from .batch import BatchError, Job, fit_many, read_jobs, read_manifest
from .checks import compare
from .design import groups
from .errors import (
    BackendError,
    DataError,
    FormulaError,
    HetfxError,
    OptionError,
    PriorError,
    SamplingError,
)
from .families import Family
from .groups import GroupingWarning
from .model import HetModel, fit
from .persist import load
from .results import ConvergenceWarning, HetFit

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BatchError",
    "Job",
    "fit_many",
    "read_jobs",
    "read_manifest",
    "ConvergenceWarning",
    "Family",
    "HetFit",
    "HetModel",
    "DataError",
    "FormulaError",
    "GroupingWarning",
    "HetfxError",
    "OptionError",
    "PriorError",
    "SamplingError",
    "compare",
    "datasets",
    "load",
    "ols_interactions",
    "families",
    "fit",
    "groups",
    "priors",
]
