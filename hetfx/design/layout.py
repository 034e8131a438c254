"""The layout of W and of the parameter vectors, named once for every stage.

    W     = [1, X, T, T.*(Z - zbar_g), T.*1{g}]
    gamma = [alpha, beta, a, lambda, theta]

``lambda`` stacks the modifier coefficients of every equation and ``theta`` the
group effects of every equation with groups. The Stan data, the posterior's
unit effects, the tables and the partitioned statistics index W and the
parameters through a :class:`Layout` instead of offsets kept by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hetfx.design.build import Design


@dataclass(frozen=True)
class EquationBlock:
    """Where one heterogeneity equation's parameters sit.

    Attributes
    ----------
    label : str
        The treatment label (``treat``, ``arm[low]``).
    z_names : tuple of str
        Its modifier columns (empty for ``treat : 1``).
    n_groups : int
        Its groups; 0 for an equation without modifiers (one pooled effect).
    lambda_start, theta_start : int
        First index of its modifier coefficients in lambda and of its group
        effects in theta.
    """

    label: str
    z_names: tuple[str, ...]
    n_groups: int
    lambda_start: int
    theta_start: int

    @property
    def has_groups(self) -> bool:
        return self.n_groups > 0

    @property
    def lambdas(self) -> slice:
        """Its modifier coefficients in lambda (and its columns of T.*(Z - zbar))."""
        return slice(self.lambda_start, self.lambda_start + len(self.z_names))

    @property
    def thetas(self) -> slice:
        """Its group effects in theta (and its columns of T.*1{g})."""
        return slice(self.theta_start, self.theta_start + self.n_groups)


@dataclass(frozen=True)
class Layout:
    """The column blocks of W and the equations' places in lambda and theta.

    Examples
    --------
    >>> lay = Layout.build(["x1"], [("treat", ("z1", "z2"), 4)])
    >>> lay.deviations, lay.groups, lay.equations[0].thetas
    (slice(3, 5, None), slice(5, 9, None), slice(0, 4, None))
    """

    controls: tuple[str, ...]
    equations: tuple[EquationBlock, ...]

    @classmethod
    def build(
        cls, controls: list[str], equations: list[tuple[str, tuple[str, ...], int]]
    ) -> Layout:
        """From the control names and (label, modifier columns, groups) of each
        equation, in order."""
        blocks, l0, g0 = [], 0, 0
        for label, z_names, n_groups in equations:
            blocks.append(EquationBlock(label, tuple(z_names), n_groups, l0, g0))
            l0 += len(z_names)
            g0 += n_groups
        return cls(tuple(controls), tuple(blocks))

    @classmethod
    def from_design(cls, design: Design) -> Layout:
        return cls.build(
            list(design.x_names),
            [(eq.label, tuple(eq.z_names), eq.n_groups) for eq in design.equations],
        )

    @property
    def K(self) -> int:
        return len(self.controls)

    @property
    def E(self) -> int:
        return len(self.equations)

    @property
    def L(self) -> int:
        return sum(len(b.z_names) for b in self.equations)

    @property
    def G(self) -> int:
        return sum(b.n_groups for b in self.equations)

    @property
    def P(self) -> int:
        """Columns of W."""
        return 1 + self.K + self.E + self.L + self.G

    # the column blocks of W
    @property
    def intercept(self) -> slice:
        return slice(0, 1)

    @property
    def control_columns(self) -> slice:
        return slice(1, 1 + self.K)

    @property
    def treatment(self) -> slice:
        """T, one column per equation (used by equations without groups)."""
        return slice(1 + self.K, 1 + self.K + self.E)

    @property
    def deviations(self) -> slice:
        """T.*(Z - zbar_g): the within-group modifier deviations."""
        start = self.treatment.stop
        return slice(start, start + self.L)

    @property
    def groups(self) -> slice:
        """T.*1{g}: one column per group effect."""
        start = self.deviations.stop
        return slice(start, start + self.G)

    def lambda_equation(self) -> list[int]:
        """The (1-based) equation of every lambda, as the Stan data has it."""
        return [e + 1 for e, b in enumerate(self.equations) for _ in b.z_names]

    def group_equation(self) -> list[int]:
        """The (1-based) equation of every theta."""
        return [e + 1 for e, b in enumerate(self.equations) for _ in range(b.n_groups)]

    def theta_index(self) -> list[int]:
        """Per row of the group table: its theta, or -1 (an equation without
        groups has one row, its pooled effect)."""
        out: list[int] = []
        for b in self.equations:
            out += list(range(b.thetas.start, b.thetas.stop)) if b.has_groups else [-1]
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        blocks = tuple(
            EquationBlock(
                b["label"],
                tuple(b["z_names"]),
                int(b["n_groups"]),
                int(b["lambda_start"]),
                int(b["theta_start"]),
            )
            for b in data["equations"]
        )
        return cls(tuple(data["controls"]), blocks)
