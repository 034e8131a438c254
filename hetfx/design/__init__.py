"""The design: from a formula and data to y, X and each equation's T, Z, groups.

``build`` makes a :class:`Design` from a data frame, ``partitions`` the same
statistics from data bigger than memory; ``layout`` names the column blocks of
W; ``spec`` is what a saved fit keeps of it.
"""

from hetfx.design.build import Design, Equation, build_design, groups
from hetfx.design.layout import Layout
from hetfx.design.options import DesignOptions

__all__ = ["Design", "DesignOptions", "Equation", "Layout", "build_design", "groups"]
