"""Detect each treatment's type and turn it into heterogeneity equations.

binary      0/1, bool, or a 2-level categorical with a declared control level
continuous  a numeric variable with more than 2 values (the effect is a slope)
multi-arm   a categorical with a declared control level and 3+ levels: one
            binary equation per non-control arm
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hetfx.errors import DataError, OptionError

KINDS = ("binary", "continuous", "multiarm")


@dataclass(frozen=True)
class Arm:
    """One heterogeneity equation's treatment column.

    Attributes
    ----------
    label : str
        The equation's name in every table (``"treat"`` or ``"arm[B]"``).
    variable : str
        The data variable.
    kind : {"binary", "continuous"}
    values : numpy.ndarray
        T_e,i: 0/1 for binary arms, the raw value for continuous ones.
    treated : numpy.ndarray of bool
        Units that carry a group effect (every unit for a continuous treatment).
    level : object
        The arm's level for categorical treatments, else None.
    control : object
        The declared control level, else None.
    """

    label: str
    variable: str
    kind: str
    values: np.ndarray
    treated: np.ndarray
    level: Any = None
    control: Any = None


def _per_treatment(option: Any, name: str, treatment: str, n_parts: int) -> Any:
    """Read a per-treatment option given as a scalar or as a dict."""
    if option is None:
        return None
    if isinstance(option, dict):
        return option.get(treatment)
    if n_parts > 1:
        raise OptionError(
            f"{name}= must be a dict keyed by treatment when the formula has "
            f"several treatments, e.g. {name}={{{treatment!r}: ...}}."
        )
    return option


def _format_level(value: Any) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def make_arms(
    series: pd.Series, control: Any = None, kind: str | None = None
) -> list[Arm]:
    """Build the heterogeneity equations of one treatment variable.

    Parameters
    ----------
    series : pandas.Series
        The treatment column (no missing values).
    control : object, optional
        The control level of a categorical (or two-valued numeric) treatment.
    kind : {"binary", "continuous", "multiarm"}, optional
        Overrides the detected type.

    Examples
    --------
    >>> [a.label for a in make_arms(pd.Series(["a", "b", "c"], name="arm"), "a")]
    ['arm[b]', 'arm[c]']
    """
    name = str(series.name)
    if kind is not None and kind not in KINDS:
        raise OptionError(
            f"treatment_type for {name!r} must be one of {KINDS}, got {kind!r}."
        )
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(
        series
    )
    if kind == "continuous":
        if not numeric:
            raise DataError(f"Continuous treatment {name!r} must be numeric.")
        return [_continuous(series)]
    if pd.api.types.is_bool_dtype(series) and control is None:
        return [_binary(series.astype(bool).to_numpy(), name)]
    levels = pd.unique(series)
    if numeric and control is None and kind is None:
        values = set(np.asarray(levels, dtype=float).tolist())
        if values <= {0.0, 1.0}:
            return [_binary(series.to_numpy(dtype=float) == 1.0, name)]
        if len(values) > 2:
            return [_continuous(series)]
        raise DataError(
            f"Treatment {name!r} takes the two values "
            f"{sorted(values)}; recode it to 0/1 or name the control level: "
            f"control={{{name!r}: {_format_level(min(values))}}} in Python, "
            f"--control {name}={_format_level(min(values))} on the command line."
        )
    if numeric and control is None and kind == "binary":
        values = set(np.asarray(levels, dtype=float).tolist())
        if not values <= {0.0, 1.0}:
            raise DataError(
                f"Binary treatment {name!r} must be 0/1 or bool, or name its "
                f"control level with control=; it takes {sorted(values)[:5]}."
            )
        return [_binary(series.to_numpy(dtype=float) == 1.0, name)]
    if control is None:
        raise DataError(
            f"Categorical treatment {name!r} needs a control level: pass "
            f"control={{{name!r}: <level>}} in Python, --control {name}=<level> "
            f"on the command line, naming one of "
            f"{sorted(map(_format_level, levels))[:10]}."
        )
    matches = [lv for lv in levels if lv == control or str(lv) == str(control)]
    if not matches:
        raise DataError(
            f"Control level {control!r} of treatment {name!r} is not in the data; "
            f"its levels are {sorted(map(_format_level, levels))[:10]}."
        )
    control_level = matches[0]
    if len(levels) == 1:
        raise DataError(
            f"Treatment {name!r} has no treated units: every unit is "
            f"at the control level {control!r}."
        )
    others = _ordered_levels(series, control_level)
    is_control = (series == control_level).to_numpy()
    if len(others) == 1 and kind != "multiarm":
        return [_binary(~is_control, name, level=others[0], control=control_level)]
    return [
        _binary(
            (series == level).to_numpy(),
            f"{name}[{_format_level(level)}]",
            variable=name,
            level=level,
            control=control_level,
            n_control=int(is_control.sum()),
        )
        for level in others
    ]


def _ordered_levels(series: pd.Series, control: Any) -> list[Any]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        levels = [lv for lv in series.cat.categories if (series == lv).any()]
    else:
        levels = sorted(pd.unique(series), key=lambda v: (str(type(v)), v))
    return [lv for lv in levels if not (lv == control)]


def _binary(
    treated: np.ndarray,
    label: str,
    variable: str | None = None,
    level: Any = None,
    control: Any = None,
    n_control: int | None = None,
) -> Arm:
    variable = variable or label
    n_treated = int(treated.sum())
    n_untreated = int((~treated).sum()) if n_control is None else n_control
    if n_treated == 0:
        raise DataError(f"Treatment {label!r} has no treated units.")
    if n_untreated == 0:
        raise DataError(f"Treatment {label!r} has no control units.")
    return Arm(
        label, variable, "binary", treated.astype(float), treated, level, control
    )


def _continuous(series: pd.Series) -> Arm:
    values = series.to_numpy(dtype=float)
    name = str(series.name)
    if np.unique(values).size < 2:
        raise DataError(f"Continuous treatment {name!r} is constant.")
    return Arm(name, name, "continuous", values, np.ones(values.size, dtype=bool))


def arms_for(
    frame: pd.DataFrame,
    treatment: str,
    n_parts: int,
    control: Any = None,
    treatment_type: Any = None,
) -> list[Arm]:
    """The arms of ``treatment`` given the user's ``control=`` and type options."""
    return make_arms(
        frame[treatment].rename(treatment),
        _per_treatment(control, "control", treatment, n_parts),
        _per_treatment(treatment_type, "treatment_type", treatment, n_parts),
    )
