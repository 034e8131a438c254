"""hetfx: Bayesian hierarchical models of heterogeneous treatment effects."""

from hetfx import datasets, families, priors
from hetfx.api import fit
from hetfx.batch import BatchError, Job, fit_many, read_jobs, read_manifest
from hetfx.design.build import groups
from hetfx.design.grouping import GroupingWarning
from hetfx.errors import (
    BackendError,
    DataError,
    FormulaError,
    HetfxError,
    OptionError,
    PriorError,
    SamplingError,
)
from hetfx.families import Family
from hetfx.model import HetModel
from hetfx.results import contrasts
from hetfx.results.baseline import ols_interactions
from hetfx.results.checks import compare
from hetfx.results.convergence import ConvergenceWarning
from hetfx.results.fit import HetFit
from hetfx.results.marginal import datagrid
from hetfx.results.persist import load
from hetfx.results.prediction import ExtrapolationWarning
from hetfx.results.tables import table

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
