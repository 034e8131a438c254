"""Groups given by a variable (sites, states, schools): ``treat : gdp ~ state``.

Each value of the variable is a group; the modifiers are the groups' own
predictors, so they must not vary within a group, and zbar_g is the group's
value. The groups' table shows each group's predictors beside its sizes.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hetfx.design.data import check_variables
from hetfx.design.grouping import Grouping, GroupingWarning, format_value, make_grouping
from hetfx.errors import DataError

if TYPE_CHECKING:
    from hetfx.design.treatment import Arm
    from hetfx.formula import TreatmentPart


def check_group_predictors(
    frame: pd.DataFrame, group_by: str, modifiers: list[str], label: str
) -> None:
    """DataError naming the modifiers that vary within a group of ``group_by``."""
    if not modifiers:
        return
    counts = frame.groupby(group_by, sort=False, observed=True)[modifiers].nunique(
        dropna=False
    )
    varying = [m for m in modifiers if (counts[m] > 1).any()]
    if varying:
        m = varying[0]
        where = counts.index[np.argmax(counts[m].to_numpy() > 1)]
        raise DataError(
            f"Treatment {label!r} is grouped by {group_by!r}, so its modifiers are "
            f"the groups' predictors and must be constant within each group; "
            f"{', '.join(map(repr, varying))} vary within groups (e.g. "
            f"{m!r} takes {int(counts.loc[where, m])} values in "
            f"{group_by}={format_value(where)}). Move unit-level variables to the "
            "controls, or aggregate them to the group level."
        )


def with_group_predictors(
    table: pd.DataFrame, frame: pd.DataFrame, group_by: str, modifiers: list[str]
) -> pd.DataFrame:
    """The group table with each group's predictor values as columns."""
    if not modifiers or table.empty:
        return table
    values = frame.groupby(group_by, sort=False, observed=True)[modifiers].first()
    extra = values.reindex(table[group_by].to_numpy()).reset_index(drop=True)
    position = list(table.columns).index(group_by) + 1
    front, back = table.iloc[:, :position], table.iloc[:, position:]
    return pd.concat([front, extra, back], axis=1)


def warn_about_sites(
    cells: np.ndarray, treated: np.ndarray, binary: bool, label: str, group_by: str
) -> None:
    """Warn about groups without treated units (no group effect) and, for a
    binary treatment, groups without control units."""
    n_cells = int(cells.max()) + 1 if cells.size else 0
    n = np.bincount(cells, minlength=n_cells)
    n_treated = np.bincount(cells[treated], minlength=n_cells)
    untreated = int(((n_treated == 0) & (n > 0)).sum())
    if untreated:
        warnings.warn(
            f"Treatment {label!r}: {untreated} of {n_cells} values of {group_by!r} "
            "have no treated units; they get no group effect (their units still "
            "inform the controls).",
            GroupingWarning,
            stacklevel=4,
        )
    if binary:
        no_control = int(((n_treated == n) & (n > 0)).sum())
        if no_control:
            warnings.warn(
                f"Treatment {label!r}: {no_control} of {n_cells} values of "
                f"{group_by!r} have no control units; their effects rest on the "
                "controls' fit of the untreated outcome elsewhere (add "
                f"C({group_by}) to the controls only where every group has both).",
                GroupingWarning,
                stacklevel=4,
            )


def arm_grouping(
    frame: pd.DataFrame, part: TreatmentPart, arm: Arm, bins: dict[str, Any]
) -> Grouping:
    """The groups of one arm: modifier combinations, or the values of the
    part's ``group_by`` variable with the modifiers as their predictors."""
    if not part.group_by:
        return make_grouping(frame, part.modifier_variables, arm.treated, bins)
    check_variables(frame, [part.group_by], part.text)
    modifiers = part.modifier_variables
    check_group_predictors(frame, part.group_by, modifiers, arm.label)
    grouping = make_grouping(frame, [part.group_by], arm.treated, {part.group_by: None})
    table = with_group_predictors(grouping.table, frame, part.group_by, modifiers)
    return replace(grouping, table=table)
