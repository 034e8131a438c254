"""The cmdstanpy + CmdStan backend, the primary one where CmdStan is installed.

Executables are cached in ``<HETFX_CACHE_DIR>/cmdstan-<version>/<hash>/`` and
loaded with ``CmdStanModel(exe_file=...)``, which never recompiles.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hetfx.backends import cache
from hetfx.backends.base import Backend, Compiled, dims_for
from hetfx.backends.options import SamplerOptions
from hetfx.errors import SamplingError
from hetfx.program.render import program_hash

if TYPE_CHECKING:
    import arviz as az

EXE_SUFFIX = ".exe" if os.name == "nt" else ""


def cmdstan_paths(version_tag: str, name: str, code: str) -> tuple[Path, Path, Path]:
    """Cache entry, Stan file and executable of a program.

    Examples
    --------
    >>> entry, stan_file, exe = cmdstan_paths("cmdstan-2.36", "hetfx_gaussian", "x")
    >>> stan_file.name, exe.parent == entry
    ('hetfx_gaussian.stan', True)
    """
    entry = cache.entry_dir(version_tag, f"{name}-{program_hash(code)}")
    stan_file = entry / f"{name}.stan"
    return entry, stan_file, entry / f"{name}{EXE_SUFFIX}"


def cmdstan_sample_args(
    options: SamplerOptions, inits: dict[str, Any]
) -> dict[str, Any]:
    """Keyword arguments of ``CmdStanModel.sample`` for the shared options."""
    args: dict[str, Any] = {
        "chains": options.chains,
        "parallel_chains": options.cores,
        "iter_warmup": options.iter_warmup,
        "iter_sampling": options.iter_sampling,
        "seed": options.seed,
        "adapt_delta": options.adapt_delta,
        "max_treedepth": options.max_treedepth,
        "show_progress": options.show_progress,
    }
    if options.iter_warmup > 0:
        args["adapt_step_size"] = options.adapt_term_buffer  # Stan's term_buffer
    if inits:
        args["inits"] = dict(inits)
    return args


class CmdStanBackend(Backend):
    """Compile with CmdStan and sample through cmdstanpy."""

    name = "cmdstanpy"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import cmdstanpy
        except ImportError as exc:  # pragma: no cover - a core dependency
            return False, f"cmdstanpy is not installed ({exc})"
        try:
            path = cmdstanpy.cmdstan_path()
        except (ValueError, RuntimeError) as exc:
            return False, f"no CmdStan installation found ({exc})"
        if not Path(path).is_dir():
            return False, f"CmdStan path {path} does not exist"
        return True, ""

    def version_tag(self) -> str:
        import cmdstanpy

        version = cmdstanpy.cmdstan_version()
        tag = (
            ".".join(map(str, version))
            if version
            else Path(cmdstanpy.cmdstan_path()).name
        )
        return f"cmdstan-{tag}"

    def compile(self, name: str, code: str, example_data: dict[str, Any]) -> Compiled:
        from cmdstanpy import CmdStanModel

        start = time.perf_counter()
        entry, stan_file, exe = cmdstan_paths(self.version_tag(), name, code)

        def build(folder: Path) -> None:
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".stan")
            with os.fdopen(fd, "w") as fh:
                fh.write(code)
            os.replace(tmp, stan_file)
            program = name.removeprefix("hetfx_")
            try:  # compiles next to the Stan file: <entry>/<name>[.exe]
                with cache.announce_compile(program, "CmdStan", "1 minute"):
                    CmdStanModel(stan_file=str(stan_file))
            except Exception as exc:
                raise SamplingError(
                    f"CmdStan failed to compile {stan_file}: {exc}"
                ) from exc

        def problem(folder: Path) -> str | None:
            return None if exe.is_file() else f"no executable {exe.name}"

        meta = {"program": name, "backend": "cmdstanpy"}
        compiled_now = cache.build_once(entry, build, problem, meta)
        model = CmdStanModel(exe_file=str(exe))
        return Compiled(
            name,
            code,
            model,
            compiled_now,
            time.perf_counter() - start,
            {"entry": str(entry), "exe": str(exe)},
        )

    def sample(
        self,
        compiled: Compiled,
        data: dict[str, Any],
        inits: dict[str, Any],
        options: SamplerOptions,
        coords: dict[str, list[str]],
    ) -> az.InferenceData:
        kwargs = cmdstan_sample_args(options, inits)
        with tempfile.TemporaryDirectory(prefix="hetfx-cmdstan-") as out:
            try:
                fit = compiled.handle.sample(data=data, output_dir=out, **kwargs)
            except Exception as exc:  # cmdstanpy raises RuntimeError
                raise SamplingError(
                    f"CmdStan sampling failed: {exc}\n{console_output(Path(out))}"
                ) from exc
            import arviz as az

            return az.from_cmdstanpy(
                posterior=fit, coords=coords, dims=dims_for(coords)
            )


def console_output(folder: Path, tail: int = 4000) -> str:
    """The end of every CmdStan console log (``*-stdout.txt``) in ``folder``."""
    parts = []
    for path in sorted(folder.glob("*stdout*.txt")):
        text = path.read_text(errors="replace")
        parts.append(f"--- {path.name}\n{text[-tail:]}")
    return "\n".join(parts) or "(no CmdStan console output was written)"
