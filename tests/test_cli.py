"""The command line, run as a user would: a real `hetfx` process."""

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

import hetfx
from conftest import TOMZ_WEEKS, TOMZ_WEEKS_FORMULA


def run(*args, timeout=900):
    exe = shutil.which("hetfx")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "hetfx.cli", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ}
    )


def test_help_everywhere():
    for args in (
        [],
        ["demo"],
        ["fit"],
        ["groups"],
        ["batch"],
        ["compile"],
        ["info"],
        ["install-cmdstan"],
    ):
        out = run(*args, "--help")
        assert out.returncode == 0 and "usage: hetfx" in out.stdout


def test_info_lists_backends_and_cache():
    out = run("info")
    assert out.returncode == 0
    assert "backend pystan" in out.stdout and "backend cmdstanpy" in out.stdout
    assert f"cache folder: {os.environ['HETFX_CACHE_DIR']}" in out.stdout
    assert "compiled programs:" in out.stdout and "CmdStan" in out.stdout


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
    # warnings go to stderr, apart from the table
    assert "warning: Treatment 'alliance': 3 of 24 groups" in out.stderr
    assert "warning" not in out.stdout
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


def small_csv(folder, seed=0, n=400):
    import hetfx

    sim = hetfx.datasets.simulate(n=n, n_modifiers=3, n_controls=1, seed=seed)
    path = folder / f"study{seed}.csv"
    sim.data.to_csv(path, index=False)
    return path, sim


FIT_ARGS = ["--backend", "pystan", "--chains", "2", "--iter-warmup", "200"]
FIT_ARGS += ["--iter-sampling", "200", "--seed", "1"]


@pytest.mark.sampling
def test_fit_prints_and_writes_tables_fit_and_plots(tmp_path, gaussian_model):
    path, sim = small_csv(tmp_path)
    out = tmp_path / "res"
    args = ["fit", str(path), "-f", sim.formula, "--out", str(out), *FIT_ARGS]
    done = run(*args, "--prior", "sigma_theta=half_normal(0.5)")
    assert done.returncode == 0, done.stderr
    assert "Group effects" in done.stdout and "z1=0, z2=0, z3=0" in done.stdout
    assert "Average treatment effect" in done.stdout and "Diagnostics:" in done.stdout
    for name in ["effects", "modifiers", "coefficients", "ate", "diagnostics"]:
        assert (out / f"{name}.csv").is_file()
    for name in ["effects", "modifiers", "shrinkage", "ppc"]:
        assert (out / f"{name}.png").stat().st_size > 1000
    import hetfx

    saved = hetfx.load(out / "fit")
    assert "half_normal(0.5)" in set(saved.prior_summary()["prior"])
    # no --adapt-delta: the program's default (the collapsed gaussian's 0.95)
    assert saved.options["adapt_delta"] == 0.95
    again = run(*args)
    assert again.returncode == 2
    assert again.stderr.strip().startswith("hetfx: error: Output folder")


@pytest.mark.sampling
def test_fit_reads_parquet_partition_by_partition(tmp_path, gaussian_model):
    path, sim = small_csv(tmp_path)
    parquet = tmp_path / "study.parquet"
    import pandas as pd

    pd.read_csv(path).to_parquet(parquet)
    out = tmp_path / "pq"
    done = run(
        "fit", str(parquet), "-f", sim.formula, "--out", str(out), *FIT_ARGS,
        "--adapt-delta", "0.9",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (out / "effects.png").is_file() and not (out / "ppc.png").exists()
    assert hetfx.load(out / "fit").options["adapt_delta"] == 0.9


@pytest.mark.sampling
def test_batch_command(tmp_path, gaussian_model):
    path, sim = small_csv(tmp_path)
    (tmp_path / "jobs.toml").write_text(
        f"""
out = "results"

[defaults]
formula = "{sim.formula}"
backend = "pystan"
chains = 2
iter_warmup = 150
iter_sampling = 150

[[job]]
name = "ok"
data = "{path.name}"

[[job]]
name = "missing"
data = "nowhere.csv"
"""
    )
    done = run("batch", str(tmp_path / "jobs.toml"), "--no-progress")
    assert done.returncode == 1, done.stderr  # one job failed
    assert "1 done, 1 failed" in done.stdout
    assert "DataError: Data file" in done.stdout
    assert (tmp_path / "results" / "ok" / "effects.csv").is_file()
    again = run("batch", str(tmp_path / "jobs.toml"), "--no-progress")
    assert "skipped" in again.stdout


def test_install_cmdstan_without_network():
    from hetfx.cli.programs import _online

    if _online():
        pytest.skip("network available: would really download CmdStan")
    done = run("install-cmdstan")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no network" in lines[0] and "pystan" in lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "nowhere.csv", "-f", "y ~ x | t : z"], "Data file 'nowhere.csv'"),
        (["fit", "{csv}", "-f", "y ~ x1 | treat :"], "the modifiers right of ':'"),
        (
            ["fit", "{csv}", "-f", "y ~ x1 | treat : z1", "--family", "weird"],
            "Unknown family 'weird'",
        ),
        (
            ["fit", "{csv}", "-f", "y ~ x1 | treat : z1", "--prior", "a=foo(1)"],
            "Unknown prior 'foo'",
        ),
        (
            ["fit", "{csv}", "-f", "y ~ x1 | treat : z1", "--bins", "z1"],
            "Write --bins as key=value",
        ),
        (["batch", "nowhere.toml"], "Job file 'nowhere.toml' does not exist."),
        (["groups", "{csv}", "-f", "y ~ x9 | treat : z1"], "Variable 'x9'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, message):
    path, _ = small_csv(tmp_path)
    done = run(*[a.format(csv=path) for a in args])
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hetfx: error: ")
    assert message in lines[0]


def test_argparse_errors_exit_2():
    done = run("batch", "jobs.toml", "--workers", "2", "--scheduler", "tcp://x:1")
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
    assert run("fit").returncode == 2


def test_fit_refuses_a_full_output_folder_before_any_work(tmp_path):
    path, sim = small_csv(tmp_path)
    out = tmp_path / "res"
    out.mkdir()
    (out / "old.csv").write_text("x\n")
    done = run("fit", str(path), "-f", sim.formula, "--out", str(out), *FIT_ARGS)
    assert done.returncode == 2
    assert done.stdout == ""  # nothing fitted, nothing printed
    assert done.stderr.strip() == (
        f"hetfx: error: Output folder {str(out)!r} is not empty; pass --overwrite "
        "or --out."
    )


def test_groups_with_bins_and_control(tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "arm": rng.choice(["placebo", "drug"], n),
            "age": rng.integers(18, 90, n),
        }
    )
    path = tmp_path / "trial.csv"
    frame.to_csv(path, index=False)
    need = run("groups", str(path), "-f", "y ~ 1 | arm : age")
    assert need.returncode == 2
    assert "--control arm=<level>" in need.stderr
    out = run(
        "groups", str(path), "-f", "y ~ 1 | arm : age", "--control", "arm=placebo"
    )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip().splitlines()) == 1 + 4  # 4 quantile bins
    three = run(
        "groups",
        str(path),
        "-f",
        "y ~ 1 | arm : age",
        "--control",
        "placebo",
        "--bins",
        "age=3",
    )
    assert three.returncode == 0, three.stderr
    assert len(three.stdout.strip().splitlines()) == 1 + 3
    assert three.stdout.split()[0] == "treatment"


@pytest.mark.sampling
def test_fit_with_control_level_and_interval_level(tmp_path, gaussian_model):
    path, sim = small_csv(tmp_path)
    frame = pd.read_csv(path)
    frame["treat"] = frame["treat"].map({0: "no", 1: "yes"})
    frame.to_csv(path, index=False)
    out = tmp_path / "res"
    args = ["fit", str(path), "-f", sim.formula, "--out", str(out), *FIT_ARGS]
    done = run(*args, "--control", "treat=no", "--prob", "0.8")
    assert done.returncode == 0, done.stderr
    assert "Group effects (80% intervals)" in done.stdout
    assert "scale: outcome units" in done.stdout
    assert "warning" not in done.stdout  # warnings go to stderr
    effects = pd.read_csv(out / "effects.csv")
    saved = hetfx.load(out / "fit")
    pd.testing.assert_frame_equal(
        effects, saved.effects(0.8), check_exact=False, check_dtype=False
    )
