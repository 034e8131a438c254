"""The pystan (httpstan) backend: installs from PyPI, compiles with a C++ compiler.

httpstan keeps compiled models in its own cache; hetfx also keeps a copy in
``<HETFX_CACHE_DIR>/pystan-<httpstan version>/<model>`` so that a prepared cache
folder (``hetfx compile``) serves a fresh machine or container.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np

from ..errors import SamplingError
from . import cache
from .base import Backend, Compiled, dims_for
from .options import SamplerOptions


def to_pystan_data(data: dict[str, Any]) -> dict[str, Any]:
    """Plain Python numbers and lists, as httpstan's JSON needs."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, np.ndarray):
            out[key] = value.tolist()
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, np.floating):
            out[key] = float(value)
        else:
            out[key] = value
    return out


def _has_module(folder: Path) -> bool:
    return folder.is_dir() and any(
        p.name.endswith(tuple(EXTENSION_SUFFIXES)) for p in folder.iterdir()
    )


@contextlib.contextmanager
def _compiler_output():
    """Send the C++ compiler's output (file descriptors 1 and 2) to a buffer file,
    and run in a scratch folder, since setuptools writes ``build/`` into the cwd."""
    with tempfile.TemporaryDirectory(prefix="hetfx-build-") as scratch:
        log_path = Path(scratch) / "compiler.log"
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        with open(log_path, "w+") as log, contextlib.chdir(scratch):
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield log
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in saved:
                    os.close(fd)


@contextlib.contextmanager
def _quiet(silence: bool):
    """Capture pystan's console output (returned as a buffer) when ``silence``."""
    if not silence:
        yield None
        return
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        yield buffer


class PystanBackend(Backend):
    """Compile and sample through pystan 3 / httpstan."""

    name = "pystan"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import httpstan  # noqa: F401

            import stan  # noqa: F401
        except ImportError as exc:
            return False, f"pystan is not installed ({exc}); pip install pystan"
        return True, ""

    def version_tag(self) -> str:
        import httpstan

        return f"pystan-{httpstan.__version__}"

    def compile(self, name: str, code: str, example_data: dict[str, Any]) -> Compiled:
        import httpstan.cache
        import httpstan.models

        import stan

        start = time.perf_counter()
        model_name = httpstan.models.calculate_model_name(code)
        working = httpstan.cache.model_directory(model_name)
        entry = cache.entry_dir(self.version_tag(), model_name.split("/")[1])
        compiled_now = False

        def build(folder: Path) -> None:
            nonlocal compiled_now
            if not _has_module(working):
                compiled_now = True
                with _compiler_output() as log, _quiet(True) as out:
                    try:
                        stan.build(code, data=to_pystan_data(example_data))
                    except Exception as exc:
                        log.seek(0)
                        text = (out.getvalue() if out else "") + log.read()[-5000:]
                        raise SamplingError(
                            f"pystan failed to compile: {exc}\n{text}"
                        ) from exc
            cache.copy_tree(working, folder, ignore=("fits",))

        built = cache.build_once(entry, build)
        if not _has_module(working):  # httpstan's copy is gone: restore ours
            working.parent.mkdir(parents=True, exist_ok=True)
            cache.copy_tree(entry, working, ignore=(cache.DONE, "*.lock"))
        return Compiled(
            name,
            code,
            code,
            compiled_now,
            time.perf_counter() - start,
            {"entry": str(entry), "model_name": model_name, "built": built},
        )

    def sample(
        self,
        compiled: Compiled,
        data: dict[str, Any],
        inits: dict[str, Any],
        options: SamplerOptions,
        coords: dict[str, list[str]],
    ) -> az.InferenceData:
        import stan

        kwargs = pystan_sample_args(options, inits)
        with _quiet(not options.show_progress) as out:
            try:
                model = stan.build(
                    compiled.code, data=to_pystan_data(data), random_seed=options.seed
                )
                fit = model.sample(**kwargs)
            except Exception as exc:
                log = out.getvalue() if out else ""
                raise SamplingError(f"pystan sampling failed: {exc}\n{log}") from exc
        return az.from_pystan(
            posterior=fit, posterior_model=model, coords=coords, dims=dims_for(coords)
        )


def pystan_sample_args(
    options: SamplerOptions, inits: dict[str, Any]
) -> dict[str, Any]:
    """Keyword arguments of ``stan.Model.sample`` for the shared options."""
    args: dict[str, Any] = {
        "num_chains": options.chains,
        "num_warmup": options.iter_warmup,
        "num_samples": options.iter_sampling,
        "delta": options.adapt_delta,
        "max_depth": options.max_treedepth,
    }
    if inits:
        args["init"] = [dict(inits) for _ in range(options.chains)]
    return args
