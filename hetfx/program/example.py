"""Stan data to compile a program with before any real data arrive."""

from __future__ import annotations

from hetfx.design.build import build_design
from hetfx.families import Family
from hetfx.program.standata import StanInput, build_stan_input


def example_input(family: Family, program: str | None = None) -> StanInput:
    """Stan data of a tiny simulated design, to compile a program without data
    (with a varying intercept for the ``gaussian_rows`` program)."""
    from hetfx.datasets import simulate

    sim = simulate(n=60, n_modifiers=2, n_controls=1, family=family.name, seed=1)
    fam = sim.family_object
    formula = sim.formula
    if program == "gaussian_rows":
        sim.data["g"] = sim.data.index % 6
        formula = formula.replace(" |", " + (1 | g) |", 1)
    design = build_design(
        formula, sim.data, warn_groups=False, extra_variables=tuple(fam.variables)
    )
    return build_stan_input(design, fam, program=program)
