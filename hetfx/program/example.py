"""Stan data to compile a program with before any real data arrive."""

from __future__ import annotations

from hetfx.design.build import build_design
from hetfx.families import Family
from hetfx.program.standata import StanInput, build_stan_input


def example_input(family: Family) -> StanInput:
    """Stan data of a tiny simulated design, to compile a program without data."""
    from hetfx.datasets import simulate

    sim = simulate(n=60, n_modifiers=2, n_controls=1, family=family.name, seed=1)
    fam = sim.family_object
    design = build_design(
        sim.formula, sim.data, warn_groups=False, extra_variables=tuple(fam.variables)
    )
    return build_stan_input(design, fam)
