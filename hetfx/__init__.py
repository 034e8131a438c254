"""hetfx: Bayesian hierarchical models of heterogeneous treatment effects."""

from . import datasets, families, priors
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
from .results import ConvergenceWarning, HetFit

__version__ = "0.1.0"

__all__ = [
    "BackendError",
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
    "datasets",
    "families",
    "fit",
    "groups",
    "priors",
]
