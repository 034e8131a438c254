"""Grouping factors of varying intercepts in the outcome equation: ``(1 | g)``.

Each factor has its levels (the distinct values of its variables, or of their
combination for ``site:respondent``) and the level of every unit; the Stan
program adds b[level] to each unit's linear predictor, b ~ N(0, sd_factor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hetfx.design.grouping import format_value

NEW_LEVEL = -1


@dataclass(frozen=True)
class Factor:
    """One ``(1 | name)`` term.

    Attributes
    ----------
    name : str
        ``respondent``, or ``site:respondent`` for a nested factor.
    levels : list of str
        The levels' labels (the variables' values, joined by ``:``), sorted.
    index : numpy.ndarray of int
        The level of every unit (0-based).
    """

    name: str
    levels: list[str]
    index: np.ndarray

    @property
    def variables(self) -> list[str]:
        return self.name.split(":")

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def assign(self, frame: pd.DataFrame) -> np.ndarray:
        """The level of each row of new data; ``NEW_LEVEL`` for unseen ones."""
        position = {label: j for j, label in enumerate(self.levels)}
        labels = level_labels(frame, self.variables)
        return np.array([position.get(label, NEW_LEVEL) for label in labels])


def level_labels(frame: pd.DataFrame, variables: list[str]) -> list[str]:
    """Each row's level label: its values of ``variables``, joined by ``:``."""
    columns = [frame[v].map(format_value) for v in variables]
    joined = columns[0] if len(columns) == 1 else columns[0].str.cat(columns[1:], ":")
    return joined.astype(str).tolist()


def make_factor(frame: pd.DataFrame, name: str) -> Factor:
    """The :class:`Factor` of ``(1 | name)`` over the rows of ``frame``."""
    labels = level_labels(frame, name.split(":"))
    codes, levels = pd.factorize(pd.Series(labels), sort=True)
    return Factor(name, [str(v) for v in levels], np.asarray(codes, dtype=int))


def level_offsets(factors: list[Factor]) -> list[int]:
    """Where each factor's levels start in the stacked vector b."""
    return [int(s) for s in np.cumsum([0, *(f.n_levels for f in factors)])[:-1]]


def factor_summary(factors: list[Factor]) -> dict[str, Any]:
    """The factors as the Stan data's common block wants them."""
    level_factor = [k + 1 for k, f in enumerate(factors) for _ in range(f.n_levels)]
    return {
        "n_factors": len(factors),
        "n_levels": len(level_factor),
        "level_factor": np.asarray(level_factor, dtype=int),
    }
