"""Build the design of a hetfx model: y, X, and per equation T, Z and groups.

formula -> (clean frame) -> formulaic matrices -> :class:`Design`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from hetfx.design.checks import (
    check_equation,
    check_full_design,
    find_collinear,
    warn_saturated,
)
from hetfx.design.data import (
    as_frame,
    check_finite,
    check_variables,
    drop_missing,
    materialise,
    normalised_weights,
    outcome_values,
    weight_values,
)
from hetfx.design.factors import Factor, make_factor
from hetfx.design.grouping import (
    NO_GROUP,
    Grouping,
    validate_bins,
    warn_about_groups,
)
from hetfx.design.layout import Layout
from hetfx.design.options import DesignOptions
from hetfx.design.sites import arm_grouping, warn_about_sites
from hetfx.design.spec import ModelSpec
from hetfx.design.treatment import Arm, arms_for
from hetfx.errors import DataError
from hetfx.formula import ParsedFormula, parse_formula


@dataclass
class Equation:
    """One heterogeneity equation: tau_e,i = a_e + Z_e,i lambda_e + sigma_e u_e,g(i).

    Attributes
    ----------
    arm : Arm
        The treatment column T_e and the treated units.
    Z : numpy.ndarray
        Modifier design (N x L_e), raw values, no intercept.
    z_names : list of str
        Column names of Z.
    modifiers : list of str
        Modifier variables (what the groups are made of, unless ``group_by``).
    grouping : Grouping
        Group of every unit and the group table.
    group_by : str, optional
        The variable whose values are the groups (sites); the modifiers are then
        the groups' predictors.
    """

    arm: Arm
    Z: np.ndarray
    z_names: list[str]
    modifiers: list[str]
    grouping: Grouping
    group_by: str | None = None
    _group_means: np.ndarray | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def label(self) -> str:
        return self.arm.label

    @property
    def has_groups(self) -> bool:
        """Whether the equation has groups (else one pooled effect)."""
        return bool(self.modifiers) or self.group_by is not None

    @property
    def n_groups(self) -> int:
        return self.grouping.n_groups if self.has_groups else 0

    @property
    def grouping_variables(self) -> list[str]:
        """What the groups are made of: ``group_by``, else the modifiers."""
        return [self.group_by] if self.group_by else list(self.modifiers)

    def group_means(self) -> np.ndarray:
        """zbar_g: mean Z over each group's treated units, shape (G_e, L_e).

        Computed once: the design matrix asks for it in every chunk of rows.
        """
        if self._group_means is None:
            idx = self.grouping.index
            has = idx != NO_GROUP
            counts = np.bincount(idx[has], minlength=self.n_groups)
            sums = np.zeros((self.n_groups, self.Z.shape[1]))
            for j in range(self.Z.shape[1]):  # np.add.at is slower
                sums[:, j] = np.bincount(idx[has], self.Z[has, j], self.n_groups)
            self._group_means = sums / np.maximum(counts, 1)[:, None]
        return self._group_means


@dataclass
class Design:
    """Everything the Stan program needs, plus the labels the tables need."""

    formula: ParsedFormula
    y: np.ndarray
    X: np.ndarray
    x_names: list[str]
    equations: list[Equation]
    frame: pd.DataFrame
    n_dropped: int = 0
    specs: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    n_rows: int | None = None
    weights: np.ndarray | None = None
    factors: list[Factor] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.y.shape[0]) if self.n_rows is None else self.n_rows

    @property
    def layout(self) -> Layout:
        """The column blocks of W and the equations' places in lambda, theta."""
        return Layout.from_design(self)

    @property
    def spec(self) -> ModelSpec:
        """The model spec: formula, controls, equations, coders, groups, layout."""
        return ModelSpec.of(self)

    @property
    def has_rows(self) -> bool:
        """False for designs summarised partition by partition (no rows kept)."""
        return self.n_rows is None

    def without_frame(self) -> Design:
        """A copy without the data frame (the arrays stay), for saving."""
        return replace(self, frame=pd.DataFrame())

    def new_rows(
        self, data: Any
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """X, and per equation Z and the group index, for new data.

        Rows whose modifier combination was not seen in training get
        ``NO_GROUP``. Missing values in used variables raise DataError.
        """
        frame = as_frame(data).reset_index(drop=True)
        used = [
            v
            for v in self.formula.variables
            if v not in self.formula.outcome_variables
            and v not in self.formula.treatments
        ]
        check_variables(frame, used, self.formula.text)
        if frame[used].isna().any().any():
            bad = [v for v in used if frame[v].isna().any()]
            raise DataError(f"New data have missing values in: {', '.join(bad)}.")
        columns: dict[str, np.ndarray] = {}
        z_of: dict[str, np.ndarray] = {}
        for key, spec in self.specs.items():
            if spec is None:
                if key != "controls":
                    z_of[key] = np.zeros((len(frame), 0))
                continue
            mm = spec.get_model_matrix(frame)
            names = [str(c) for c in mm.columns if c != "Intercept"]
            values = mm[names].to_numpy(dtype=float)
            if key != "controls":
                z_of[key] = values
            columns.update({n: values[:, j] for j, n in enumerate(names)})
        X = (
            np.column_stack([columns[n] for n in self.x_names])
            if self.x_names
            else np.zeros((len(frame), 0))
        )
        Zs = [z_of[eq.arm.variable] for eq in self.equations]
        groups = [eq.grouping.assign(frame) for eq in self.equations]
        return X, Zs, groups

    def treatment_values(self, data: Any) -> list[np.ndarray]:
        """T of each equation for new data, coded as in training."""
        frame = as_frame(data).reset_index(drop=True)
        check_variables(frame, self.formula.treatments, self.formula.text)
        out = []
        for eq in self.equations:
            col = frame[eq.arm.variable]
            if eq.arm.kind == "continuous":
                out.append(col.to_numpy(dtype=float))
            elif eq.arm.level is not None:
                out.append((col == eq.arm.level).to_numpy(dtype=float))
            else:
                out.append((col.astype(float) == 1.0).to_numpy(dtype=float))
        return out

    def group_table(self) -> pd.DataFrame:
        """The public group table: treatment, group, modifier values, counts."""
        frames = [eq.grouping.table.assign(treatment=eq.label) for eq in self.equations]
        table = pd.concat(frames, ignore_index=True)
        modifier_cols = [
            c
            for c in table.columns
            if c not in ("treatment", "group", "n_treated", "n")
        ]
        return table[["treatment", "group", *modifier_cols, "n_treated", "n"]]


def build_design(
    formula: str | ParsedFormula,
    data: Any,
    options: DesignOptions | None = None,
    *,
    warn_groups: bool = True,
    extra_variables: tuple[str, ...] = (),
    **changes: Any,
) -> Design:
    """Build the model design from a formula and data.

    Parameters
    ----------
    formula : str or ParsedFormula
    data : DataFrame-like
    options : DesignOptions, optional
        ``main_effects``, ``bins``, ``control``, ``treatment_type`` and
        ``missing``; keyword arguments of the same names change them.
    warn_groups : bool
        Warn about small or too many groups.
    extra_variables : tuple of str
        Columns the family needs (binomial trials, exposure), kept as arrays.

    Raises
    ------
    FormulaError, DataError, OptionError
    """
    opts = DesignOptions.of(options, **changes)
    parsed = formula if isinstance(formula, ParsedFormula) else parse_formula(formula)
    frame = as_frame(data)
    used = list(dict.fromkeys([*parsed.variables, *extra_variables]))
    check_variables(frame, used, parsed.text)
    if opts.weights is not None:
        check_variables(frame, [opts.weights], "weights=")
        weight_values(frame, opts.weights)  # before rows are dropped
    n_before = len(frame)
    frame = drop_missing(frame, used, opts.missing)
    check_finite(frame, used)
    frame = frame.reset_index(drop=True)
    modifier_vars = [m for p in parsed.parts for m in p.modifier_variables]
    bins = validate_bins(opts.bins, modifier_vars, parsed.categorical_modifiers)

    y = outcome_values(parsed, frame)
    X, x_names, x_spec = materialise(parsed.controls, frame, "the controls")
    specs: dict[str, Any] = {"controls": x_spec}
    equations: list[Equation] = []
    for part in parsed.parts:
        arms = arms_for(
            frame, part.treatment, len(parsed.parts), opts.control, opts.treatment_type
        )
        Z, z_names, z_spec = materialise(
            part.modifiers, frame, f"the modifiers of {part.treatment!r}"
        )
        specs[part.treatment] = z_spec
        for arm in arms:
            grouping = arm_grouping(frame, part, arm, bins)
            eq = Equation(
                arm, Z, z_names, part.modifier_variables, grouping, part.group_by
            )
            check_equation(eq)
            equations.append(eq)
        if opts.main_effects:
            new = [j for j, name in enumerate(z_names) if name not in x_names]
            X = np.column_stack([X, Z[:, new]]) if new else X
            x_names = x_names + [z_names[j] for j in new]

    problem = find_collinear(X, x_names)
    if problem:
        raise DataError(f"Control {problem}; drop or recode it in {parsed.controls!r}.")
    check_full_design(X, x_names, equations)
    extras = {v: frame[v].to_numpy(dtype=float) for v in extra_variables}
    factors = [make_factor(frame, name) for name in parsed.intercepts]
    weights = None
    if opts.weights is not None:
        values = weight_values(frame, opts.weights)
        weights = normalised_weights(values, opts.weights, opts.normalize_weights)
    design = Design(
        parsed,
        y,
        X,
        x_names,
        equations,
        frame,
        n_before - len(frame),
        specs,
        extras,
        weights=weights,
        factors=factors,
    )
    if warn_groups:
        for eq in equations:
            if eq.has_groups:
                warn_about_groups(eq.grouping.table, eq.label)
                warn_saturated(eq)
            if eq.group_by:
                binary = eq.arm.kind == "binary"
                cells, treated = eq.grouping.cells, eq.arm.treated
                warn_about_sites(cells, treated, binary, eq.label, eq.group_by)
    return design


def groups(
    formula: str,
    data: Any,
    bins: dict[str, Any] | None = None,
    *,
    main_effects: bool = True,
    control: Any = None,
    treatment_type: Any = None,
    missing: str = "drop",
    groups: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The groups a formula makes of the data, before any fitting.

    Parameters
    ----------
    formula : str
        ``outcome ~ controls | treatment : modifiers``.
    data : DataFrame-like
    bins : dict, optional
        Binning of continuous modifiers (default: 4 quantile bins).
    groups : dict, optional
        ``{"treat": "state"}``: groups given by a variable (see
        :class:`hetfx.HetModel`).

    Returns
    -------
    pandas.DataFrame
        Columns ``treatment``, ``group``, one per modifier variable,
        ``n_treated`` and ``n``.

    Examples
    --------
    >>> import hetfx
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "t": [0, 1, 1, 0, 1, 1],
    ...                    "z": [0, 0, 1, 1, 0, 1]})
    >>> hetfx.groups("y ~ 1 | t : z", df)[["group", "n_treated", "n"]]
      group  n_treated  n
    0   z=0          2  3
    1   z=1          2  3
    """
    options = DesignOptions.of(
        main_effects=main_effects,
        bins=bins,
        control=control,
        treatment_type=treatment_type,
        missing=missing,
    )
    parsed = parse_formula(formula).with_groups(groups)
    return build_design(parsed, data, options).group_table()
