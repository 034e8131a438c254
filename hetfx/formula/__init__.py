"""The formula: ``outcome ~ controls | treatment : modifiers [| ...]``.

``parse`` splits it into its parts (``parts``): the outcome, the controls and
their ``(1 | group)`` varying intercepts, and one treatment part per equation.
"""

from hetfx.formula.parse import parse_formula, split_top_level
from hetfx.formula.parts import ParsedFormula, TreatmentPart

__all__ = ["ParsedFormula", "TreatmentPart", "parse_formula", "split_top_level"]
