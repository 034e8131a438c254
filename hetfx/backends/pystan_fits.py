"""Remove the fits httpstan would otherwise keep on disk.

httpstan stores every fit made with a random seed in its cache folder (one
compressed file per chain, tens of MB for a model with thousands of intercepts)
and answers a repeated request from it; pystan deletes a fit only when no seed
was given, and hetfx always gives one. Left alone, batch jobs fill the disk, and
a repeated fit returns the stored draws without sampling (which would make a
benchmark measure a file read).

pystan starts an httpstan application (``httpstan.app.make_app``) for each
sampling call, in the calling thread, and that application records the fits it
made. :func:`removing_fits` notes the applications started in its thread and,
once pystan has read the draws, deletes their fits: only this call's, so
processes sampling the same program at the same time are unaffected.

pystan reads the draws with one pysimdjson parser, which refuses a line while
an object parsed from the line before is alive. pystan drops each object in
time, but a profiler that holds a frame for a moment (Dask's workers sample
their threads' frames every 10 ms) can keep one alive: :func:`sample_rereading`
then asks again, and httpstan answers from the fit it stored.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any

_started = threading.local()


@functools.cache
def _record_applications() -> None:
    """Wrap ``httpstan.app.make_app`` so each thread can see the applications
    it starts (once per process)."""
    import httpstan.app

    make_app = httpstan.app.make_app

    @functools.wraps(make_app)
    def make_and_record(*args: Any, **kwargs: Any) -> Any:
        app = make_app(*args, **kwargs)
        apps = getattr(_started, "apps", None)
        if apps is not None:
            apps.append(app)
        return app

    httpstan.app.make_app = make_and_record


def fit_names(app: Any) -> list[str]:
    """The names (``models/<model>/fits/<id>``) of the fits an httpstan
    application made or answered from its cache."""
    names = []
    for operation in app.get("operations", {}).values():
        fit = (operation.get("metadata") or {}).get("fit") or {}
        if fit.get("name"):
            names.append(fit["name"])
    return names


@contextlib.contextmanager
def removing_fits() -> Iterator[None]:
    """Delete from httpstan's cache the fits made by pystan calls in this block
    (on the way out, when pystan has read them)."""
    import httpstan.cache

    _record_applications()
    outer = getattr(_started, "apps", None)
    _started.apps = []
    try:
        yield
    finally:
        apps, _started.apps = _started.apps, outer
        for app in apps:
            for name in fit_names(app):
                with contextlib.suppress(KeyError, OSError):
                    httpstan.cache.delete_fit(name)


# pysimdjson's refusal to parse while an object of the last line is alive
PARSER_REUSE = "Tried to re-use a parser"


def _parser_reuse(exc: BaseException | None) -> bool:
    """Whether pysimdjson's re-use check is ``exc`` or its cause (pystan's
    ``del msg`` in a ``finally`` turns it into an UnboundLocalError)."""
    while exc is not None:
        if PARSER_REUSE in str(exc):
            return True
        exc = exc.__context__
    return False


def sample_rereading(model: Any, **kwargs: Any) -> Any:
    """``model.sample(**kwargs)``, asked once more when pystan's reading of the
    draws meets pysimdjson's re-use check: inside :func:`removing_fits` httpstan
    still holds the fit, so the second call reads it again without sampling."""
    try:
        return model.sample(**kwargs)
    except (RuntimeError, UnboundLocalError) as exc:
        if not _parser_reuse(exc):
            raise
    return model.sample(**kwargs)
