"""The command line, run as a user would: a real `hetfx` process."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import TOMZ_WEEKS, TOMZ_WEEKS_FORMULA


def run(*args, timeout=900):
    exe = shutil.which("hetfx")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "hetfx.cli", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ}
    )


def test_help_everywhere():
    for args in ([], ["demo"], ["groups"], ["compile"], ["info"]):
        out = run(*args, "--help")
        assert out.returncode == 0 and "usage: hetfx" in out.stdout


def test_info_lists_backends_and_cache():
    out = run("info")
    assert out.returncode == 0
    assert "backend pystan" in out.stdout and "backend cmdstanpy" in out.stdout
    assert f"cache folder: {os.environ['HETFX_CACHE_DIR']}" in out.stdout


@pytest.mark.sampling
def test_compile_then_demo(gaussian_model, bernoulli_model):
    out = run("compile", "--backend", "pystan", timeout=3600)  # may compile 4 programs
    assert out.returncode == 0, out.stderr
    assert "gaussian" in out.stdout and "already cached" in out.stdout
    demo = run("demo", "--backend", "pystan", "--chains", "2", "--iter", "300")
    assert demo.returncode == 0, demo.stderr
    assert "Group effects: estimate (90% interval) against the truth" in demo.stdout
    assert "true_effect" in demo.stdout and "Diagnostics (pystan)" in demo.stdout
    assert "Coverage of the 90% intervals" in demo.stdout


def test_groups_on_a_data_file():
    if not TOMZ_WEEKS.is_file():
        pytest.skip(f"Tomz-Weeks data not found at {TOMZ_WEEKS}")
    import pandas as pd

    from conftest import tomz_weeks_frame

    path = os.path.join(os.environ["HETFX_CACHE_DIR"], "tw.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tomz_weeks_frame().to_csv(path, index=False)
    out = run("groups", path, "--formula", TOMZ_WEEKS_FORMULA, "--no-main-effects")
    assert out.returncode == 0, out.stderr
    assert "dem=0, rep=0, high_newsint=0, white=0, male=0" in out.stdout
    assert "warning: Treatment 'alliance': 3 of 24 groups" in out.stdout
    assert pd.read_csv(path).shape[0] == 1200


def test_bad_input_exits_with_one_line():
    out = run("groups", "/no/such/file.csv", "--formula", "y ~ x | t : z")
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == "hetfx: error: Data file '/no/such/file.csv' does not exist."
    )
    bad = run("groups", __file__, "--formula", "y ~ x | t : z")
    assert bad.returncode == 2 and "Cannot read" in bad.stderr
    assert "Traceback" not in bad.stderr
    usage = run("demo", "--chains", "many")
    assert usage.returncode == 2 and "invalid int value" in usage.stderr


def test_bad_formula_and_debug(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("y,t,z\n1,0,1\n2,1,0\n")
    out = run("groups", str(path), "--formula", "y ~ t z")
    assert out.returncode == 2
    assert out.stderr.startswith("hetfx: error: In formula 'y ~ t z'")
    assert len(out.stderr.strip().splitlines()) == 1
    debug = run("--debug", "groups", str(path), "--formula", "y ~ t z")
    assert debug.returncode == 2 and "Traceback" in debug.stderr
