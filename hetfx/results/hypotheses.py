"""Posterior probabilities of statements about the parameters and group effects.

``fit.hypotheses("dem + female > 0")``: a linear combination of named parameters
(the ``parameter`` names of ``modifiers()``, ``coefficients()`` and ``ate``)
against 0 or another combination. ``fit.hypotheses("dem=1, male=0 > dem=0,
male=0")``: group selections (full or partial labels, averaged by treated units
as in ``contrast``). As brms's ``hypothesis()`` and marginaleffects'
``hypotheses()`` do, the answer is the posterior of the difference of the two
sides, with ``prob`` the posterior probability that the statement holds.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hetfx.errors import OptionError
from hetfx.results import summary
from hetfx.results.contrasts import group_draws, selection_draws

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit

OPERATORS = (">=", "<=", "==", ">", "<")
_BACKTICKS = re.compile(r"`([^`]+)`")


def parameter_draws(fit: HetFit, treatment: str | None) -> dict[str, np.ndarray]:
    """Draws of every named parameter of one treatment's equation and of the
    outcome equation, keyed by the names the tables use."""
    labels = [block.label for block in fit.design.layout.equations]
    if treatment is None:
        if len(labels) > 1:
            raise OptionError(
                f"The model has several treatments ({', '.join(labels)}); pass "
                "treatment=."
            )
        treatment = labels[0]
    if treatment not in labels:
        raise OptionError(
            f"No treatment {treatment!r}; treatments: {', '.join(labels)}."
        )
    names = {
        row["parameter"]: draws
        for row, draws in summary.modifier_draws(fit)
        if row["treatment"] == treatment
    }
    names.update({row["parameter"]: d for row, d in summary.coefficient_draws(fit)})
    names["ate"] = fit.draws("ate")[..., fit.coords["treatment"].index(treatment)]
    return names


def _split(expr: str) -> tuple[str, str | None, str | None]:
    """``lhs op rhs`` at the first comparison operator (not inside brackets)."""
    depth = 0
    for i, ch in enumerate(expr):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch in "<>=":
            for op in OPERATORS:
                if expr.startswith(op, i):
                    return expr[:i].strip(), op, expr[i + len(op) :].strip()
    return expr.strip(), None, None


def _combination(
    side: str, names: dict[str, np.ndarray], whole: str
) -> np.ndarray | float:
    """Draws of a linear combination of names and numbers."""
    quoted = {}

    def hide(match: re.Match) -> str:
        key = f"_q{len(quoted)}_"
        quoted[key] = match.group(1)
        return key

    try:
        tree = ast.parse(_BACKTICKS.sub(hide, side), mode="eval").body
    except SyntaxError as exc:
        raise OptionError(f"Cannot read hypothesis {whole!r}: {exc.msg}.") from exc

    def value(node: ast.AST):
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = value(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left - right
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Div):
            left, right = value(node.left), value(node.right)
            if not (np.isscalar(left) or np.isscalar(right)):
                raise OptionError(
                    f"Hypothesis {whole!r} is not linear: it multiplies two parameters."
                )
            if isinstance(node.op, ast.Div):
                if not np.isscalar(right):
                    raise OptionError(f"Hypothesis {whole!r} divides by a parameter.")
                return left / right
            return left * right
        if isinstance(node, ast.Name | ast.Subscript):
            name = ast.unparse(node)
            name = quoted.get(name, name)
            if name not in names:
                raise OptionError(
                    f"Unknown term {name!r} in hypothesis {whole!r}; valid names: "
                    f"{', '.join(names)}."
                )
            return names[name]
        raise OptionError(
            f"Cannot read {ast.unparse(node)!r} in hypothesis {whole!r}: use names, "
            "numbers, +, -, and * or / by a number."
        )

    return value(tree)


def hypotheses(
    fit: HetFit,
    expr: str | None = None,
    *,
    treatment: str | None = None,
    rope: tuple[float, float] | None = None,
    threshold: float | None = None,
    prob: float = 0.9,
) -> pd.DataFrame:
    """Posterior of a statement, or of each group's effect against a threshold.

    Parameters
    ----------
    expr : str, optional
        ``"dem + female > 0"``, ``"2 * dem - rep"``, ``"ate > 0.1"``,
        ``"dem=1, male=0 > dem=0, male=0"`` (group selections, full or partial).
        Names with unusual characters go in backticks.
    treatment : str, optional
        Whose parameters the names refer to, when there are several treatments.
    rope : (low, high), optional
        A region of practical equivalence: ``prob_rope`` is the posterior
        probability that the quantity lies inside it.
    threshold : float, optional
        Without ``expr``: one row per group with ``prob`` = P(effect > threshold).
    prob : float
        Level of the central intervals.

    Returns
    -------
    pandas.DataFrame
        ``hypothesis`` (and ``treatment``), the statistics of the quantity (the
        left side minus the right side), and ``prob``: the posterior probability
        that the statement holds (for ``==``, NaN; give ``rope``), or that the
        quantity is positive when there is no comparison.
    """
    if fit.categories:
        raise OptionError("hypotheses() is not available for categorical outcomes yet.")
    if expr is None:
        if threshold is None:
            raise OptionError("hypotheses() needs an expression or a threshold=.")
        table, draws = group_draws(fit)
        out = summary.expand_table(table, draws, prob, fit.info.get("levels"))
        out.insert(0, "hypothesis", f"effect > {threshold:g}")
        out["prob"] = (draws > threshold).mean(axis=(0, 1))
        return out
    if not isinstance(expr, str) or not expr.strip():
        raise OptionError(f"The hypothesis must be a non-empty string, got {expr!r}.")
    lhs, op, rhs = _split(expr)
    sides, names, groups = [], None, None
    for side in (lhs, rhs if op else "0"):
        if "=" in side:  # a group selection such as "dem=1, male=0"
            groups = groups or group_draws(fit)
            sides.append(selection_draws(*groups, side, treatment)[1])
        else:
            names = names or parameter_draws(fit, treatment)
            sides.append(_combination(side, names, expr))
    quantity = np.asarray(sides[0] - sides[1], dtype=float)
    if quantity.ndim != 2:
        raise OptionError(f"Hypothesis {expr!r} names no parameter or group.")
    row = {"hypothesis": expr.strip()}
    out = summary.tidy_table([row], [quantity], prob)
    if op in (">", ">="):
        out["prob"] = float((quantity > 0).mean())
    elif op in ("<", "<="):
        out["prob"] = float((quantity < 0).mean())
    elif op == "==":
        out["prob"] = np.nan
    else:
        out["prob"] = float((quantity > 0).mean())
    if rope is not None:
        low, high = rope
        if not low < high:
            raise OptionError(f"rope must be (low, high) with low < high, got {rope}.")
        out["prob_rope"] = float(((quantity > low) & (quantity < high)).mean())
    return out
