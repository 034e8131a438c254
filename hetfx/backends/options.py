"""Sampler options shared by every backend."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hetfx.errors import OptionError

KNOWN = (
    "chains",
    "iter_warmup",
    "iter_sampling",
    "seed",
    "adapt_delta",
    "adapt_term_buffer",
    "max_treedepth",
    "show_progress",
    "cores",
)


@dataclass(frozen=True)
class SamplerOptions:
    """NUTS settings, the same on both backends.

    Attributes
    ----------
    chains, iter_warmup, iter_sampling : int
    seed : int
        Drawn at random when not given, and recorded on the fit.
    adapt_delta : float
        Target acceptance rate in (0, 1); raise it to remove divergences.
    adapt_term_buffer : int
        Warmup iterations that adapt the step size last, after the metric
        (Stan's ``term_buffer``): by default ``default_term_buffer``.
    max_treedepth : int
    show_progress : bool
        Sampling progress on the console. By default shown in interactive use (a
        terminal or a notebook) and hidden otherwise (scripts piped to files,
        batch workers).
    cores : int
        Chains run in parallel on this many cores.
    """

    chains: int = 4
    iter_warmup: int = 1000
    iter_sampling: int = 1000
    seed: int = 0
    adapt_delta: float = 0.8
    adapt_term_buffer: int = 150
    max_treedepth: int = 10
    show_progress: bool = False
    cores: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sampler_options(
    chains: int = 4,
    iter_warmup: int = 1000,
    iter_sampling: int = 1000,
    seed: int | None = None,
    **extra: Any,
) -> SamplerOptions:
    """Validate the sampler options and fill in the defaults.

    Raises
    ------
    OptionError
        For an unknown option or a bad value, naming it.
    """
    unknown = [k for k in extra if k not in KNOWN]
    if unknown:
        raise OptionError(
            f"Unknown sampler option {unknown[0]!r}; known options: {', '.join(KNOWN)}."
        )
    values: dict[str, Any] = {
        "chains": chains,
        "iter_warmup": iter_warmup,
        "iter_sampling": iter_sampling,
    }
    for name, low in (("chains", 1), ("iter_warmup", 0), ("iter_sampling", 1)):
        _check_int(name, values[name], low)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
    _check_int("seed", seed, 0)
    values["seed"] = int(seed)
    adapt_delta = extra.get("adapt_delta", 0.8)
    if not isinstance(adapt_delta, float | int) or not 0 < adapt_delta < 1:
        raise OptionError(f"adapt_delta must be in (0, 1), got {adapt_delta!r}.")
    values["adapt_delta"] = float(adapt_delta)
    term_buffer = extra.get("adapt_term_buffer")
    if term_buffer is None:
        term_buffer = default_term_buffer(values["iter_warmup"])
    _check_int("adapt_term_buffer", term_buffer, 1)
    values["adapt_term_buffer"] = int(term_buffer)
    values["max_treedepth"] = extra.get("max_treedepth", 10)
    _check_int("max_treedepth", values["max_treedepth"], 1)
    show = extra.get("show_progress")
    values["show_progress"] = interactive() if show is None else bool(show)
    cores = extra.get("cores")
    if cores is None:
        cores = min(values["chains"], os.cpu_count() or 1)
    _check_int("cores", cores, 1)
    values["cores"] = int(cores)
    return SamplerOptions(**values)


def default_term_buffer(iter_warmup: int) -> int:
    """The last 15% of warmup (Stan: 50 iterations) adapts the step size alone.

    Dual averaging restarts after the last metric window; in 50 iterations its
    averaged step size stays below the one adapt_delta asks for (acceptance
    0.88-0.92 while sampling at adapt_delta 0.8 on the N = 5,000 bernoulli
    design), which doubled the leapfrog steps of some chains. 150 of 1000 let
    it settle. Short warmups keep Stan's 50 (its windows need the room).
    """
    return max(50, 3 * iter_warmup // 20)


def interactive() -> bool:
    """Whether a person watches: stderr is a terminal, or a notebook kernel runs."""
    shell = sys.modules.get("IPython")
    if shell is not None:
        ip = shell.get_ipython() if hasattr(shell, "get_ipython") else None
        if ip is not None and type(ip).__name__ == "ZMQInteractiveShell":
            return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _check_int(name: str, value: Any, low: int) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < low
    ):
        raise OptionError(f"{name} must be an integer >= {low}, got {value!r}.")
