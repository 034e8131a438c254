"""Exceptions raised by hetfx.

Every problem with the user's formula, data, priors or options raises a subclass
of :class:`HetfxError`, which is also a :class:`ValueError`.
"""


class HetfxError(ValueError):
    """Base class of every error hetfx raises about user input."""


class FormulaError(HetfxError):
    """The formula is malformed or inconsistent."""


class DataError(HetfxError):
    """The data do not fit the formula or the model."""


class PriorError(HetfxError):
    """A prior is unknown, malformed or of the wrong kind."""


class OptionError(HetfxError):
    """An option (family, backend, sampler setting, ...) is invalid."""


class BackendError(HetfxError):
    """A requested backend is not installed or not usable."""


class SamplingError(HetfxError, RuntimeError):
    """The sampler failed; the message carries the backend's own output."""


def hetfx_warnings(caught: list) -> list[str]:
    """Messages of the hetfx warnings among ``warnings.catch_warnings`` records."""
    return [
        str(w.message)
        for w in caught
        if getattr(w.category, "__module__", "").startswith("hetfx")
    ]
