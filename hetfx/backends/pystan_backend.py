"""The pystan (httpstan) backend: installs from PyPI, compiles with a C++ compiler.

httpstan names a compiled model by a hash that includes ``sys.executable``, so
the same program started through another path to Python (a symlink, a relative
path, ``python`` against ``python3``, another virtual environment) would be
compiled again. hetfx keeps each program once in
``<HETFX_CACHE_DIR>/pystan-<httpstan version>/<key>``, keyed by the program, the
httpstan version and the Python version only, and copies it under the name that
httpstan computes for the running executable before ``stan.build`` asks for it.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import functools
import hashlib
import io
import os
import shutil
import sys
import tempfile
import time
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hetfx.backends import cache
from hetfx.backends.base import Backend, Compiled, dims_for
from hetfx.backends.options import SamplerOptions
from hetfx.backends.pystan_fits import removing_fits, sample_rereading
from hetfx.errors import SamplingError

if TYPE_CHECKING:
    import arviz as az


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


COMPILER_LOG = "stderr.log"  # httpstan writes it after the module: a finished build


def _has_module(folder: Path) -> bool:
    return folder.is_dir() and any(
        p.name.endswith(tuple(EXTENSION_SUFFIXES)) for p in folder.iterdir()
    )


def build_problem(folder: Path) -> str | None:
    """What a compiled-model folder lacks (None when it is complete)."""
    if not _has_module(folder):
        return "no compiled module"
    if not (folder / COMPILER_LOG).is_file():
        return f"no {COMPILER_LOG}"
    return None


def portable_key(code: str) -> str:
    """httpstan's model hash without the Python executable's path.

    The program, httpstan's version, the platform and the Python version decide
    whether a compiled module can be loaded; the path to the interpreter does not.
    """
    import httpstan

    digest = hashlib.blake2b(digest_size=5)
    for part in (code, httpstan.__version__, sys.platform, str(sys.maxsize)):
        digest.update(part.encode())
    digest.update(sys.version.encode())
    return base64.b32encode(digest.digest()).decode().lower()


@functools.cache
def _preload_httpstan_libraries() -> None:
    """Load httpstan's shared libraries (TBB, SUNDIALS) into the process.

    A module records the library folder of the httpstan that built it; loaded
    from another virtual environment, it then finds the libraries already loaded.
    """
    import httpstan

    for lib in sorted((Path(httpstan.__file__).parent / "lib").glob("lib*.so*")):
        with contextlib.suppress(OSError):
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)


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


def _finish_timed_out_build(folder: Path) -> None:
    """Complete httpstan's folder after pystan's compile request timed out.

    pystan's HTTP client gives up after aiohttp's 300 s, while the compiler's
    thread runs on and ``asyncio.run`` waits for it: the module is then built,
    but httpstan's request handler, cancelled, never wrote the compiler's log,
    without which httpstan cannot report the module as cached.
    """
    if not _has_module(folder):
        raise SamplingError(
            "pystan's compile request timed out (aiohttp's 300 s) and left no "
            f"compiled module in {folder}; run the fit again when the machine is "
            "less busy."
        )
    log = folder / COMPILER_LOG
    if not log.is_file():
        log.write_text("(the compiler's output was lost: pystan's request timed out)\n")


def _build_module(code: str, example_data: dict[str, Any], folder: Path) -> None:
    """Compile through ``stan.build`` into httpstan's ``folder``, the compiler's
    output kept for errors; a compile slower than pystan's timeout still counts."""
    import stan

    data = to_pystan_data(example_data)
    with _compiler_output() as log, _quiet(True) as out:
        try:
            try:
                stan.build(code, data=data)
            except TimeoutError:
                _finish_timed_out_build(folder)
                stan.build(code, data=data)  # found in httpstan's cache now
        except SamplingError:
            raise
        except Exception as exc:
            log.seek(0)
            text = (out.getvalue() if out else "") + log.read()[-5000:]
            raise SamplingError(f"pystan failed to compile: {exc}\n{text}") from exc


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

        start = time.perf_counter()
        # httpstan's name for this program under the running executable
        model_name = httpstan.models.calculate_model_name(code)
        working = httpstan.cache.model_directory(model_name)
        entry = cache.entry_dir(self.version_tag(), portable_key(code))
        compiled_now = False

        def build(folder: Path) -> None:
            nonlocal compiled_now
            problem = build_problem(working)
            if problem is not None:
                if _has_module(working):  # a compile killed half-way
                    warnings.warn(
                        f"httpstan's compiled model {working} is incomplete "
                        f"({problem}); removing it and compiling again.",
                        cache.BrokenCacheWarning,
                        stacklevel=4,
                    )
                shutil.rmtree(working, ignore_errors=True)
                compiled_now = True
                program = name.removeprefix("hetfx_")
                with cache.announce_compile(program, "pystan", "2 minutes"):
                    _build_module(code, example_data, working)
            cache.copy_files(working, folder)

        meta = {"program": name, "backend": "pystan", "httpstan_name": model_name}
        built = cache.build_once(entry, build, build_problem, meta)
        problem = build_problem(working)
        if problem is not None:  # not under this executable's name: copy ours
            if _has_module(working):
                warnings.warn(
                    f"httpstan's compiled model {working} is incomplete ({problem}); "
                    "replacing it with hetfx's verified copy.",
                    cache.BrokenCacheWarning,
                    stacklevel=3,
                )
            working.parent.mkdir(parents=True, exist_ok=True)
            cache.copy_files(entry, working, ignore=(cache.DONE, cache.META))
        _preload_httpstan_libraries()
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
        with _quiet(not options.show_progress) as out, removing_fits():
            try:
                model = stan.build(
                    compiled.code, data=to_pystan_data(data), random_seed=options.seed
                )
                fit = sample_rereading(model, **kwargs)
            except Exception as exc:
                log = out.getvalue() if out else ""
                raise SamplingError(f"pystan sampling failed: {exc}\n{log}") from exc
        import arviz as az

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
    if options.iter_warmup > 0:
        args["term_buffer"] = options.adapt_term_buffer
    if inits:
        args["init"] = [dict(inits) for _ in range(options.chains)]
    return args
