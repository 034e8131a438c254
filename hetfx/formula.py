"""Parse ``outcome ~ controls | treatment : modifiers [| ...]`` into its parts.

The splitting respects parentheses, brackets, braces, quotes and backtick-quoted
names; each part is later materialised by formulaic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hetfx.errors import FormulaError

_NAME = re.compile(r"^(?:[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`)$")
_CATEGORICAL = re.compile(r"(?<![\w.])C\(\s*(`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)")


@dataclass(frozen=True)
class TreatmentPart:
    """One ``treatment : modifiers`` part of the formula.

    Attributes
    ----------
    treatment : str
        The treatment variable's name (backticks removed).
    modifiers : str
        The modifiers' formulaic expression; ``"1"`` when there are none.
    text : str
        The part as the user wrote it.
    group_by : str, optional
        A variable whose values are the groups (``treat : gdp ~ state``: one
        group per state, the modifiers being the states' predictors); None
        groups by the modifiers' combinations.
    """

    treatment: str
    modifiers: str
    text: str
    group_by: str | None = None

    @property
    def grouping_variables(self) -> list[str]:
        """What the groups are made of: the ``group_by`` variable, else the
        modifier variables."""
        return [self.group_by] if self.group_by else self.modifier_variables

    def with_group_by(self, group_by: str) -> TreatmentPart:
        """This part with its groups given by the variable ``group_by``."""
        text = f"{self.treatment} : {self.modifiers} ~ {group_by}"
        return TreatmentPart(self.treatment, self.modifiers, text, group_by)

    @property
    def has_modifiers(self) -> bool:
        return self.modifiers.strip() not in ("1", "")

    @property
    def modifier_variables(self) -> list[str]:
        """Data variables the modifiers use, in order of appearance."""
        if not self.has_modifiers:
            return []
        return _ordered_variables(self.modifiers)

    @property
    def categorical_modifiers(self) -> list[str]:
        """Modifier variables coded as categorical with ``C(...)``: they group by
        level, never by bins of their numeric values.

        Examples
        --------
        >>> parse_formula("y ~ x | t : C(ideo) + age").parts[0].categorical_modifiers
        ['ideo']
        """
        names = [_strip_name(m) for m in _CATEGORICAL.findall(self.modifiers)]
        return [m for m in names if m in self.modifier_variables]


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed hetfx formula.

    Examples
    --------
    >>> f = parse_formula("y ~ x1 + x2 | treat : z1 + z2")
    >>> f.outcome, f.controls, f.parts[0].treatment, f.parts[0].modifiers
    ('y', 'x1 + x2', 'treat', 'z1 + z2')
    """

    text: str
    outcome: str
    controls: str
    parts: tuple[TreatmentPart, ...] = field(default_factory=tuple)
    intercepts: tuple[str, ...] = ()

    @property
    def intercept_variables(self) -> list[str]:
        """Data variables of the varying intercepts' grouping factors."""
        names = [v for factor in self.intercepts for v in factor.split(":")]
        return list(dict.fromkeys(names))

    @property
    def has_controls(self) -> bool:
        return self.controls.strip() not in ("", "1", "0", "-1")

    @property
    def outcome_variables(self) -> list[str]:
        return _ordered_variables(self.outcome)

    @property
    def control_variables(self) -> list[str]:
        return _ordered_variables(self.controls) if self.has_controls else []

    @property
    def categorical_modifiers(self) -> list[str]:
        """Modifier variables written as ``C(...)`` in any part."""
        names = [m for p in self.parts for m in p.categorical_modifiers]
        return list(dict.fromkeys(names))

    @property
    def treatments(self) -> list[str]:
        return [p.treatment for p in self.parts]

    @property
    def variables(self) -> list[str]:
        """Every data variable the formula uses, without repeats."""
        names = self.outcome_variables + self.control_variables
        names += self.intercept_variables
        for part in self.parts:
            names += [part.treatment, *part.modifier_variables]
            names += [part.group_by] if part.group_by else []
        return list(dict.fromkeys(names))

    def with_groups(self, groups: dict[str, str] | None) -> ParsedFormula:
        """The formula with ``groups`` ({treatment: variable}) as each part's
        ``group_by``: the ``groups=`` argument, an alias of ``treat : z ~ site``.

        Raises
        ------
        OptionError
            For a treatment the formula does not have, or one whose formula
            part already names other groups.
        """
        if not groups:
            return self
        from hetfx.errors import OptionError

        if not isinstance(groups, dict):
            raise OptionError(
                "groups must be a dict such as {'treat': 'state'}, got "
                f"{type(groups).__name__}."
            )
        unknown = [t for t in groups if t not in self.treatments]
        if unknown:
            raise OptionError(
                f"groups names {unknown[0]!r}, which is not a treatment; "
                f"treatments are {self.treatments}."
            )
        parts = []
        for part in self.parts:
            new = groups.get(part.treatment)
            if new is None or new == part.group_by:
                parts.append(part)
                continue
            if part.group_by:
                raise OptionError(
                    f"Treatment {part.treatment!r} is grouped by "
                    f"{part.group_by!r} in the formula and by {new!r} in groups=; "
                    "give one."
                )
            parts.append(part.with_group_by(str(new)))
        controls = " + ".join([self.controls, *(f"(1 | {f})" for f in self.intercepts)])
        rhs = " | ".join([controls, *(p.text for p in parts)])
        parsed = ParsedFormula(
            f"{self.outcome} ~ {rhs}",
            self.outcome,
            self.controls,
            tuple(parts),
            self.intercepts,
        )
        _check_roles(parsed)
        return parsed


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


def _ordered_variables(expr: str) -> list[str]:
    """Data variables used by a formulaic right-hand side, in textual order."""
    try:
        from formulaic import Formula

        found = Formula(expr).required_variables
    except Exception as exc:  # formulaic raises several parser error types
        raise FormulaError(f"Cannot parse {expr!r}: {exc}") from exc
    position = {name: _first_position(expr, name) for name in found}
    return sorted(found, key=lambda name: (position[name], name))


def _first_position(expr: str, name: str) -> int:
    match = re.search(rf"(?<![\w.`]){re.escape(name)}(?![\w.`])", expr)
    return match.start() if match else len(expr)


def _strip_name(name: str) -> str:
    name = name.strip()
    return name[1:-1] if name.startswith("`") and name.endswith("`") else name


def _fail(formula: str, where: str, problem: str) -> FormulaError:
    return FormulaError(f"In formula {formula!r}, {where}: {problem}")


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
        raise _fail(
            text, "the outcome", "there is no '~' separating outcome and terms."
        )
    # a later '~' may only name the groups of a treatment part (treat : z ~ site)
    outcome, rhs = sides[0].strip(), "~".join(sides[1:])
    if not outcome:
        raise _fail(text, "the outcome", "nothing stands left of '~'.")
    chunks = split_top_level(rhs, "|")
    if len(chunks) == 1:
        raise _fail(
            text,
            "the right-hand side",
            "there is no '| treatment : modifiers' part; write e.g. "
            "'y ~ x | treat : z'.",
        )
    controls = chunks[0].strip()
    if len(split_top_level(controls, "~")) > 1:
        raise _fail(text, "the outcome", "there is more than one '~'.")
    controls, intercepts = _varying_intercepts(text, controls)
    parts = tuple(_parse_part(text, chunk, i) for i, chunk in enumerate(chunks[1:], 1))
    parsed = ParsedFormula(text, outcome, controls, parts, intercepts)
    _check_roles(parsed)
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
                raise _fail(formula, where, f"cannot read {term.strip()!r}.")
            kept.append(term)
            continue
        if match["lhs"] != "1":
            raise _fail(
                formula,
                where,
                f"({match['lhs']} | {match['rhs']}): varying slopes in the outcome "
                "equation are not supported; use (1 | group) for varying "
                "intercepts (the treatment's variation is the heterogeneity "
                "equation's job).",
            )
        path = [p.strip() for p in match["rhs"].split("/")]
        for name in (n for p in path for n in p.split(":")):
            if not _NAME.match(name.strip()):
                raise _fail(
                    formula, where, f"(1 | {match['rhs']}): {name!r} is not a name."
                )
        for depth in range(1, len(path) + 1):
            factor = ":".join(
                _strip_name(n) for p in path[:depth] for n in p.split(":")
            )
            if factor not in factors:
                factors.append(factor)
    if not factors:
        return controls, ()
    return " + ".join(t.strip() for t in kept if t.strip()) or "1", tuple(factors)


def _parse_part(formula: str, chunk: str, index: int) -> TreatmentPart:
    where = f"treatment part {index} ({chunk.strip()!r})"
    if not chunk.strip():
        raise _fail(formula, f"treatment part {index}", "the part after '|' is empty.")
    pieces = split_top_level(chunk, ":")
    if len(pieces) == 1:
        raise _fail(
            formula,
            where,
            "there is no ':' separating the treatment from its modifiers; "
            "write 'treat : z1 + z2', or 'treat : 1' for no modifiers.",
        )
    treatment = pieces[0].strip()
    modifiers = ":".join(pieces[1:]).strip()
    by = split_top_level(modifiers, "~")
    if len(by) > 2:
        raise _fail(formula, where, "there is more than one '~'.")
    group_by = None
    if len(by) == 2:
        modifiers, group_by = by[0].strip() or "1", by[1].strip()
        if not _NAME.match(group_by):
            raise _fail(
                formula,
                where,
                f"the groups right of '~' ({group_by!r}) must be one variable "
                "name, e.g. 'treat : gdp + ideology ~ state'.",
            )
        group_by = _strip_name(group_by)
    if not treatment:
        raise _fail(formula, where, "the treatment left of ':' is empty.")
    if not _NAME.match(treatment):
        raise _fail(
            formula,
            where,
            f"the treatment {treatment!r} must be a single variable name "
            "(use `backticks` for unusual names).",
        )
    if not modifiers:
        raise _fail(
            formula, where, "the modifiers right of ':' are empty; write '1' for none."
        )
    return TreatmentPart(_strip_name(treatment), modifiers, chunk.strip(), group_by)


def _check_roles(f: ParsedFormula) -> None:
    outcome_vars = set(f.outcome_variables)
    if not outcome_vars:
        raise _fail(f.text, "the outcome", f"{f.outcome!r} names no variable.")
    if f.control_variables:
        clash = outcome_vars & set(f.control_variables)
        if clash:
            raise _fail(
                f.text,
                f"the controls ({f.controls!r})",
                f"the outcome {sorted(clash)[0]!r} is also used as a control.",
            )
    clash = set(f.intercept_variables) & (outcome_vars | set(f.treatments))
    if clash:
        raise _fail(
            f.text,
            f"the controls ({f.controls!r})",
            f"{sorted(clash)[0]!r} groups varying intercepts and is also the outcome "
            "or a treatment.",
        )
    seen: set[str] = set()
    for i, part in enumerate(f.parts, 1):
        where = f"treatment part {i} ({part.text!r})"
        if part.treatment in seen:
            raise _fail(f.text, where, f"treatment {part.treatment!r} appears twice.")
        seen.add(part.treatment)
        if part.treatment in outcome_vars:
            raise _fail(f.text, where, "the outcome is used as the treatment.")
        if part.treatment in f.control_variables:
            raise _fail(
                f.text,
                where,
                f"treatment {part.treatment!r} is also a control; remove it "
                "from the controls.",
            )
        mods = part.modifier_variables
        if part.treatment in mods:
            raise _fail(
                f.text, where, f"treatment {part.treatment!r} is its own modifier."
            )
        clash = outcome_vars & set(mods)
        if clash:
            raise _fail(f.text, where, "the outcome is used as a modifier.")
        if part.group_by and part.group_by in {*mods, part.treatment, *outcome_vars}:
            raise _fail(
                f.text,
                where,
                f"the groups {part.group_by!r} must be a variable of their own, "
                "not the outcome, the treatment or a modifier.",
            )
