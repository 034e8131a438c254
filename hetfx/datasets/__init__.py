"""Datasets: simulated experiments with known effects, a multi-site trial, and
the Tomz and Weeks (2021) survey experiment."""

from hetfx.datasets.designs import (
    ROBUSTNESS_DESIGNS,
    robustness_design,
    simulate_conjoint,
    simulate_sites,
)
from hetfx.datasets.simulate import FAMILIES, FAMILY_OPTIONS, Simulation, simulate
from hetfx.datasets.tomz_weeks import TOMZ_WEEKS_FORMULA, TOMZ_WEEKS_SOURCE, tomz_weeks

__all__ = [
    "FAMILIES",
    "FAMILY_OPTIONS",
    "ROBUSTNESS_DESIGNS",
    "TOMZ_WEEKS_FORMULA",
    "TOMZ_WEEKS_SOURCE",
    "Simulation",
    "robustness_design",
    "simulate",
    "simulate_conjoint",
    "simulate_sites",
    "tomz_weeks",
]
