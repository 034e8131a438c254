"""The parts of a hetfx formula: the outcome, the controls (with any varying
intercepts), and one ``treatment : modifiers [~ groups]`` part per equation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hetfx.errors import FormulaError

NAME = re.compile(r"^(?:[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`)$")
CATEGORICAL = re.compile(r"(?<![\w.])C\(\s*(`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)")


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
        return ordered_variables(self.modifiers)

    @property
    def categorical_modifiers(self) -> list[str]:
        """Modifier variables coded as categorical with ``C(...)``: they group by
        level, never by bins of their numeric values.

        Examples
        --------
        >>> from hetfx.formula import parse_formula
        >>> parse_formula("y ~ x | t : C(ideo) + age").parts[0].categorical_modifiers
        ['ideo']
        """
        names = [strip_name(m) for m in CATEGORICAL.findall(self.modifiers)]
        return [m for m in names if m in self.modifier_variables]


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed hetfx formula.

    Examples
    --------
    >>> from hetfx.formula import parse_formula
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
        return ordered_variables(self.outcome)

    @property
    def control_variables(self) -> list[str]:
        return ordered_variables(self.controls) if self.has_controls else []

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
        check_roles(parsed)
        return parsed


def ordered_variables(expr: str) -> list[str]:
    """Data variables used by a formulaic right-hand side, in textual order."""
    try:
        from formulaic import Formula

        found = Formula(expr).required_variables
    except Exception as exc:  # formulaic raises several parser error types
        raise FormulaError(f"Cannot parse {expr!r}: {exc}") from exc
    position = {name: first_position(expr, name) for name in found}
    return sorted(found, key=lambda name: (position[name], name))


def first_position(expr: str, name: str) -> int:
    match = re.search(rf"(?<![\w.`]){re.escape(name)}(?![\w.`])", expr)
    return match.start() if match else len(expr)


def strip_name(name: str) -> str:
    name = name.strip()
    return name[1:-1] if name.startswith("`") and name.endswith("`") else name


def fail(formula: str, where: str, problem: str) -> FormulaError:
    return FormulaError(f"In formula {formula!r}, {where}: {problem}")


def check_roles(f: ParsedFormula) -> None:
    outcome_vars = set(f.outcome_variables)
    if not outcome_vars:
        raise fail(f.text, "the outcome", f"{f.outcome!r} names no variable.")
    if f.control_variables:
        clash = outcome_vars & set(f.control_variables)
        if clash:
            raise fail(
                f.text,
                f"the controls ({f.controls!r})",
                f"the outcome {sorted(clash)[0]!r} is also used as a control.",
            )
    clash = set(f.intercept_variables) & (outcome_vars | set(f.treatments))
    if clash:
        raise fail(
            f.text,
            f"the controls ({f.controls!r})",
            f"{sorted(clash)[0]!r} groups varying intercepts and is also the outcome "
            "or a treatment.",
        )
    seen: set[str] = set()
    for i, part in enumerate(f.parts, 1):
        where = f"treatment part {i} ({part.text!r})"
        if part.treatment in seen:
            raise fail(f.text, where, f"treatment {part.treatment!r} appears twice.")
        seen.add(part.treatment)
        if part.treatment in outcome_vars:
            raise fail(f.text, where, "the outcome is used as the treatment.")
        if part.treatment in f.control_variables:
            raise fail(
                f.text,
                where,
                f"treatment {part.treatment!r} is also a control; remove it "
                "from the controls.",
            )
        mods = part.modifier_variables
        if part.treatment in mods:
            raise fail(
                f.text, where, f"treatment {part.treatment!r} is its own modifier."
            )
        clash = outcome_vars & set(mods)
        if clash:
            raise fail(f.text, where, "the outcome is used as a modifier.")
        if part.group_by and part.group_by in {*mods, part.treatment, *outcome_vars}:
            raise fail(
                f.text,
                where,
                f"the groups {part.group_by!r} must be a variable of their own, "
                "not the outcome, the treatment or a modifier.",
            )
