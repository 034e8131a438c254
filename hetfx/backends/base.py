"""What every backend provides: compile once, then sample into InferenceData."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hetfx.backends.options import SamplerOptions

if TYPE_CHECKING:
    import arviz as az

# named dims of the Stan program's variables (coords come from the design)
DIMS = {
    "beta": ["control"],
    "beta_std": ["control"],
    "a": ["treatment"],
    "a_centred": ["treatment"],
    "sigma_theta": ["treatment"],
    "ate": ["treatment"],
    "lambda": ["modifier"],
    "lambda_std": ["modifier"],
    "theta": ["group"],
    "b": ["level"],
    "sd_factor": ["factor"],
}


@dataclass
class Compiled:
    """A compiled program.

    Attributes
    ----------
    handle : object
        What the backend samples with (a CmdStanModel, or the program text).
    compiled_now : bool
        Whether this call compiled (False when the cache had it).
    seconds : float
        Time spent compiling or loading.
    """

    name: str
    code: str
    handle: Any
    compiled_now: bool
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """A way to compile and run the hetfx Stan program."""

    name: str = ""

    @classmethod
    @abstractmethod
    def available(cls) -> tuple[bool, str]:
        """Whether the backend can run here, and why not."""

    @abstractmethod
    def version_tag(self) -> str:
        """Backend name and version, the first level of the cache folder."""

    @abstractmethod
    def compile(self, name: str, code: str, example_data: dict[str, Any]) -> Compiled:
        """Compile ``code`` once per machine (cached, locked)."""

    @abstractmethod
    def sample(
        self,
        compiled: Compiled,
        data: dict[str, Any],
        inits: dict[str, Any],
        options: SamplerOptions,
        coords: dict[str, list[str]],
    ) -> az.InferenceData:
        """Run NUTS and return the draws with named dims."""


CATEGORY_VARS = ("alpha", "alpha_centred", "alpha_raw")


def dims_for(coords: dict[str, list[str]]) -> dict[str, list[str]]:
    """The DIMS whose coordinate is known; categorical models add ``category``."""
    dims = {k: v for k, v in DIMS.items() if all(d in coords for d in v)}
    if "category" in coords:
        dims = {k: [*v, "category"] for k, v in dims.items()}
        dims.update({k: ["category"] for k in CATEGORY_VARS})
    return dims
