"""A fitted model and everything read from it: tables, interpretation, plots.

``fit`` holds :class:`HetFit`; the other modules are functions of a fit.
"""

from hetfx.results.convergence import ConvergenceWarning
from hetfx.results.fit import HetFit

__all__ = ["ConvergenceWarning", "HetFit"]
