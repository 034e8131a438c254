"""How rows become a design: one object instead of five keyword arguments
threaded through every function that builds a design."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class DesignOptions:
    """The options of a design, shared by in-memory and partitioned data.

    Attributes
    ----------
    main_effects : bool
        Add the modifiers' design columns to the outcome equation (constituent
        terms).
    bins : dict
        Binning of continuous modifiers for grouping, e.g. ``{"age": 5}`` or
        edges; ``None`` for a modifier groups by its values.
    control : object or dict, optional
        Control level of categorical treatments (``"placebo"`` or
        ``{"arm": "placebo"}``).
    treatment_type : str or dict, optional
        Override the detected treatment type: binary, continuous or multiarm.
    missing : {"drop", "raise"}
        Rows with missing values in used variables: dropped with a warning, or
        an error.
    weights : str, optional
        A column of survey weights: each unit's log-likelihood is multiplied
        by its weight (a pseudo-likelihood, as brms's ``y | weights(w)``).
    normalize_weights : bool
        Scale the weights to mean 1 over the rows used (the default), so the
        posterior's width reflects the number of units, not the weights' sum.
    """

    main_effects: bool = True
    bins: dict[str, Any] = field(default_factory=dict)
    control: Any = None
    treatment_type: Any = None
    missing: str = "drop"
    weights: str | None = None
    normalize_weights: bool = True

    @classmethod
    def of(cls, options: DesignOptions | None = None, **changes: Any) -> DesignOptions:
        """``options`` (or the defaults) with ``changes`` applied; ``bins=None``
        means no binning options."""
        if "bins" in changes and changes["bins"] is None:
            changes["bins"] = {}
        base = options if options is not None else cls()
        return replace(base, **changes) if changes else base

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
