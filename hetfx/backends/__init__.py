"""Backends: cmdstanpy + CmdStan (primary) and pystan (installs from PyPI)."""

from __future__ import annotations

from hetfx.backends.base import Backend, Compiled
from hetfx.backends.cmdstan_backend import CmdStanBackend
from hetfx.backends.options import SamplerOptions, sampler_options
from hetfx.backends.pystan_backend import PystanBackend
from hetfx.errors import BackendError, OptionError

BACKENDS: dict[str, type[Backend]] = {
    "cmdstanpy": CmdStanBackend,
    "pystan": PystanBackend,
}

INSTALL_ADVICE = {
    "cmdstanpy": (
        "install CmdStan with `python -m cmdstanpy.install_cmdstan` (needs network) "
        "or set CMDSTAN to an existing installation"
    ),
    "pystan": "pip install pystan (Linux and macOS; needs a C++ compiler)",
}


def get_backend(name: str = "auto") -> Backend:
    """The backend to use: ``"auto"`` prefers cmdstanpy, then pystan.

    Raises
    ------
    BackendError
        When the forced backend is not usable, with install advice.
    """
    if name == "auto":
        reasons = []
        for key, cls in BACKENDS.items():
            ok, why = cls.available()
            if ok:
                return cls()
            reasons.append(f"{key}: {why}")
        raise BackendError(
            "No Stan backend is available ("
            + "; ".join(reasons)
            + "). To fix: "
            + "; or ".join(INSTALL_ADVICE.values())
            + "."
        )
    if name not in BACKENDS:
        raise OptionError(
            f"backend must be 'auto', 'cmdstanpy' or 'pystan', got {name!r}."
        )
    ok, why = BACKENDS[name].available()
    if not ok:
        raise BackendError(
            f"Backend {name!r} is not usable: {why}. To fix: {INSTALL_ADVICE[name]}."
        )
    return BACKENDS[name]()


__all__ = [
    "BACKENDS",
    "Backend",
    "CmdStanBackend",
    "PystanBackend",
    "Compiled",
    "SamplerOptions",
    "get_backend",
    "sampler_options",
]
