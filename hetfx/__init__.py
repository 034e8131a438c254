"""hetfx: Bayesian hierarchical models of heterogeneous treatment effects."""

from . import contrasts, datasets, families, priors
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
from .marginal import datagrid
from .model import HetModel, fit
from .persist import load
from .prediction import ExtrapolationWarning
from .results import ConvergenceWarning, HetFit
from .tables import table

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BatchError",
    "Job",
    "fit_many",
    "read_jobs",
    "read_manifest",
    "ConvergenceWarning",
    "ExtrapolationWarning",
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
    "datagrid",
    "table",
    "contrasts",
    "datasets",
    "load",
    "ols_interactions",
    "families",
    "fit",
    "groups",
    "priors",
]
