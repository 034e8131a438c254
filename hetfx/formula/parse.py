"""Parse ``outcome ~ controls | treatment : modifiers [| ...]`` into its parts.

The splitting respects parentheses, brackets, braces, quotes and backtick-quoted
names; each part is later materialised by formulaic.
"""

from __future__ import annotations

import re

from hetfx.errors import FormulaError
from hetfx.formula.parts import (
    NAME,
    ParsedFormula,
    TreatmentPart,
    check_roles,
    fail,
    strip_name,
)


def split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` where it is outside brackets, quotes and backticks.

    Examples
    --------
    >>> split_top_level("a + f(b | c) | d", "|")
    ['a + f(b | c) ', ' d']
    """
    pieces, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "`'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    if quote or depth != 0:
        raise FormulaError(
            f"Unbalanced {'quote' if quote else 'brackets'} in formula part {text!r}."
        )
    pieces.append(text[start:])
    return pieces


def parse_formula(formula: str) -> ParsedFormula:
    """Parse a hetfx formula into outcome, controls and treatment parts.

    Parameters
    ----------
    formula : str
        ``outcome ~ controls | treatment : modifiers [| treatment2 : modifiers2]``.

    Returns
    -------
    ParsedFormula

    Raises
    ------
    FormulaError
        When the formula is malformed; the message quotes it and names the part.
    """
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError(f"The formula must be a non-empty string, got {formula!r}.")
    text = " ".join(formula.split())
    sides = split_top_level(text, "~")
    if len(sides) == 1:
        raise fail(text, "the outcome", "there is no '~' separating outcome and terms.")
    # a later '~' may only name the groups of a treatment part (treat : z ~ site)
    outcome, rhs = sides[0].strip(), "~".join(sides[1:])
    if not outcome:
        raise fail(text, "the outcome", "nothing stands left of '~'.")
    chunks = split_top_level(rhs, "|")
    if len(chunks) == 1:
        raise fail(
            text,
            "the right-hand side",
            "there is no '| treatment : modifiers' part; write e.g. "
            "'y ~ x | treat : z'.",
        )
    controls = chunks[0].strip()
    if len(split_top_level(controls, "~")) > 1:
        raise fail(text, "the outcome", "there is more than one '~'.")
    controls, intercepts = _varying_intercepts(text, controls)
    parts = tuple(_parse_part(text, chunk, i) for i, chunk in enumerate(chunks[1:], 1))
    parsed = ParsedFormula(text, outcome, controls, parts, intercepts)
    check_roles(parsed)
    return parsed


_INTERCEPT = re.compile(r"^\(\s*(?P<lhs>.*?)\s*\|\s*(?P<rhs>.*?)\s*\)$", re.S)


def _varying_intercepts(formula: str, controls: str) -> tuple[str, tuple[str, ...]]:
    """Take lme4's ``(1 | group)`` terms out of the controls.

    ``(1 | site/respondent)`` (nested) gives the factors ``site`` and
    ``site:respondent``; ``(1 | a:b)`` one factor of the combinations.

    Examples
    --------
    >>> _varying_intercepts("f", "x + (1 | respondent) + (1 | site/class)")
    ('x', ('respondent', 'site', 'site:class'))
    """
    where = f"the controls ({controls!r})"
    kept, factors = [], []
    for term in split_top_level(controls, "+"):
        match = _INTERCEPT.match(term.strip())
        if not match:
            if "|" in term and term.strip().startswith("("):
                raise fail(formula, where, f"cannot read {term.strip()!r}.")
            kept.append(term)
            continue
        if match["lhs"] != "1":
            raise fail(
                formula,
                where,
                f"({match['lhs']} | {match['rhs']}): varying slopes in the outcome "
                "equation are not supported; use (1 | group) for varying "
                "intercepts (the treatment's variation is the heterogeneity "
                "equation's job).",
            )
        path = [p.strip() for p in match["rhs"].split("/")]
        for name in (n for p in path for n in p.split(":")):
            if not NAME.match(name.strip()):
                raise fail(
                    formula, where, f"(1 | {match['rhs']}): {name!r} is not a name."
                )
        for depth in range(1, len(path) + 1):
            factor = ":".join(strip_name(n) for p in path[:depth] for n in p.split(":"))
            if factor not in factors:
                factors.append(factor)
    if not factors:
        return controls, ()
    return " + ".join(t.strip() for t in kept if t.strip()) or "1", tuple(factors)


def _parse_part(formula: str, chunk: str, index: int) -> TreatmentPart:
    where = f"treatment part {index} ({chunk.strip()!r})"
    if not chunk.strip():
        raise fail(formula, f"treatment part {index}", "the part after '|' is empty.")
    pieces = split_top_level(chunk, ":")
    if len(pieces) == 1:
        raise fail(
            formula,
            where,
            "there is no ':' separating the treatment from its modifiers; "
            "write 'treat : z1 + z2', or 'treat : 1' for no modifiers.",
        )
    treatment = pieces[0].strip()
    modifiers = ":".join(pieces[1:]).strip()
    by = split_top_level(modifiers, "~")
    if len(by) > 2:
        raise fail(formula, where, "there is more than one '~'.")
    group_by = None
    if len(by) == 2:
        modifiers, group_by = by[0].strip() or "1", by[1].strip()
        if not NAME.match(group_by):
            raise fail(
                formula,
                where,
                f"the groups right of '~' ({group_by!r}) must be one variable "
                "name, e.g. 'treat : gdp + ideology ~ state'.",
            )
        group_by = strip_name(group_by)
    if not treatment:
        raise fail(formula, where, "the treatment left of ':' is empty.")
    if not NAME.match(treatment):
        raise fail(
            formula,
            where,
            f"the treatment {treatment!r} must be a single variable name "
            "(use `backticks` for unusual names).",
        )
    if not modifiers:
        raise fail(
            formula, where, "the modifiers right of ':' are empty; write '1' for none."
        )
    return TreatmentPart(strip_name(treatment), modifiers, chunk.strip(), group_by)
