"""The model spec: what a design is, without its rows.

A frozen, JSON-serialisable description of the formula, the controls, and per
equation its arm, modifier columns, coders and groups, together with the layout
of W. The in-memory design and the partitioned one build the same spec from the
same data (``tests/test_partitions.py``); a saved fit stores it in
``spec.json``.

Examples
--------
>>> import pandas as pd
>>> from hetfx.design.build import build_design
>>> df = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "t": [0, 1, 1, 0, 1, 1],
...                    "z": [0, 0, 1, 1, 0, 1]})
>>> spec = build_design("y ~ 1 | t : z", df).spec
>>> spec.equations[0].groups
(GroupSpec(label='z=0', values=(0,), n_treated=2, n=3), GroupSpec(label='z=1', \
values=(1,), n_treated=2, n=3))
>>> ModelSpec.from_json(spec.to_json()) == spec
True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hetfx.design.layout import Layout

if TYPE_CHECKING:
    from hetfx.design.build import Design, Equation

VERSION = 1


def plain(value: Any) -> Any:
    """A JSON-safe Python scalar (numpy scalars unwrapped)."""
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True)
class CoderSpec:
    """How one modifier's values become grouping values."""

    name: str
    categories: tuple[Any, ...]
    edges: tuple[float, ...] | None = None


@dataclass(frozen=True)
class GroupSpec:
    """One group: its label, its modifiers' grouping values and its sizes."""

    label: str
    values: tuple[Any, ...]
    n_treated: int
    n: int


@dataclass(frozen=True)
class EquationSpec:
    """One heterogeneity equation: its arm, modifiers, coders and groups."""

    label: str
    variable: str
    kind: str
    level: Any
    control: Any
    modifiers: tuple[str, ...]
    z_names: tuple[str, ...]
    coders: tuple[CoderSpec, ...]
    groups: tuple[GroupSpec, ...]

    @classmethod
    def of(cls, eq: Equation) -> EquationSpec:
        coders = tuple(
            CoderSpec(
                c.name,
                tuple(plain(v) for v in c.categories),
                None if c.edges is None else tuple(float(e) for e in c.edges),
            )
            for c in eq.grouping.coders.values()
        )
        table = eq.grouping.table
        groups = tuple(
            GroupSpec(
                str(row["group"]),
                tuple(plain(row[m]) for m in eq.grouping.coders),
                int(row["n_treated"]),
                int(row["n"]),
            )
            for _, row in table.iterrows()
        )
        arm = eq.arm
        return cls(
            arm.label,
            arm.variable,
            arm.kind,
            plain(arm.level),
            plain(arm.control),
            tuple(eq.modifiers),
            tuple(eq.z_names),
            coders,
            groups,
        )


@dataclass(frozen=True)
class FactorSpec:
    """A varying-intercept factor ``(1 | name)`` and its levels."""

    name: str
    levels: tuple[str, ...]


@dataclass(frozen=True)
class ModelSpec:
    """Formula, controls, equations, the layout of W and the varying
    intercepts' factors; no data rows."""

    formula: str
    outcome: str
    controls: tuple[str, ...]
    equations: tuple[EquationSpec, ...]
    layout: Layout
    version: int = VERSION
    factors: tuple[FactorSpec, ...] = ()

    @classmethod
    def of(cls, design: Design) -> ModelSpec:
        return cls(
            design.formula.text,
            design.formula.outcome,
            tuple(design.x_names),
            tuple(EquationSpec.of(eq) for eq in design.equations),
            design.layout,
            factors=tuple(FactorSpec(f.name, tuple(f.levels)) for f in design.factors),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        from hetfx.errors import DataError

        if data.get("version") != VERSION:
            raise DataError(
                f"Model spec version {data.get('version')!r}; this hetfx reads "
                f"version {VERSION}."
            )
        equations = tuple(
            EquationSpec(
                e["label"],
                e["variable"],
                e["kind"],
                e["level"],
                e["control"],
                tuple(e["modifiers"]),
                tuple(e["z_names"]),
                tuple(
                    CoderSpec(
                        c["name"],
                        tuple(c["categories"]),
                        None if c["edges"] is None else tuple(c["edges"]),
                    )
                    for c in e["coders"]
                ),
                tuple(
                    GroupSpec(g["label"], tuple(g["values"]), g["n_treated"], g["n"])
                    for g in e["groups"]
                ),
            )
            for e in data["equations"]
        )
        return cls(
            data["formula"],
            data["outcome"],
            tuple(data["controls"]),
            equations,
            Layout.from_dict(data["layout"]),
            data["version"],
            tuple(
                FactorSpec(f["name"], tuple(f["levels"]))
                for f in data.get("factors", [])
            ),
        )

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        return cls.from_dict(json.loads(text))
