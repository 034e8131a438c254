"""fit_many: manifest, failures, reruns, a killed batch, executors, job files."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

import hetfx
from hetfx.backends.cache import list_programs
from hetfx.batch.jobs import as_job, read_jobs

FORMULA = "y ~ x1 | treat : z1 + z2 + z3"
FAST = {"chains": 2, "iter_warmup": 150, "iter_sampling": 150}


def write_datasets(folder, count=5):
    """Small simulated datasets as CSV files; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(count):
        sim = hetfx.datasets.simulate(n=300, n_modifiers=3, n_controls=1, seed=seed)
        path = folder / f"d{seed}.csv"
        sim.data.to_csv(path, index=False)
        paths.append(path)
    sim = hetfx.datasets.simulate(
        n=300, n_modifiers=3, n_controls=1, family="bernoulli", seed=9
    )
    path = folder / "binary.csv"
    sim.data.to_csv(path, index=False)
    return paths, path


def six_jobs(folder):
    """4 gaussian jobs, 1 bernoulli job and 1 job that fails (unknown variable)."""
    paths, binary = write_datasets(folder, 4)
    jobs = [
        {"name": f"g{i}", "data": p, "formula": FORMULA, "seed": i, **FAST}
        for i, p in enumerate(paths)
    ]
    jobs.append(
        {
            "name": "bern",
            "data": binary,
            "formula": FORMULA,
            "family": "bernoulli",
            "seed": 7,
            **FAST,
        }
    )
    jobs.append({"name": "bad", "data": paths[0], "formula": "y ~ nope | treat : z1"})
    for job in jobs:
        job["backend"] = "pystan"
    return jobs


@pytest.fixture(scope="module")
def serial_batch(tmp_path_factory, gaussian_model, bernoulli_model):
    """The six jobs, run once serially into a fresh cache folder."""
    root = tmp_path_factory.mktemp("batch")
    jobs = six_jobs(root / "data")
    cache = root / "cache"
    old = os.environ["HETFX_CACHE_DIR"]
    os.environ["HETFX_CACHE_DIR"] = str(cache)
    try:
        manifest = hetfx.fit_many(jobs, root / "out", progress=False)
        programs = list_programs()
    finally:
        os.environ["HETFX_CACHE_DIR"] = old
    return root, jobs, manifest, programs


@pytest.mark.sampling
def test_batch_records_every_job_and_its_failure(serial_batch):
    root, jobs, manifest, _ = serial_batch
    assert list(manifest["name"]) == [j["name"] for j in jobs]
    done = manifest.set_index("name")
    assert (done.loc[["g0", "g1", "g2", "g3", "bern"], "status"] == "done").all()
    assert done.loc["bad", "status"] == "failed" and done.loc["bad", "run"] == "failed"
    assert done.loc["bad", "error"].startswith(
        "DataError: Variable 'nope' in formula 'y ~ nope | treat : z1' is not in"
    )
    for name in ["g0", "bern"]:
        folder = root / "out" / name
        effects = pd.read_csv(folder / "effects.csv")
        assert len(effects) == 8 and {"mean", "lower", "upper"} <= set(effects)
        assert (folder / "fit" / "posterior.nc").is_file()
        assert (
            hetfx.load(folder / "fit")
            .effects()["mean"]
            .round(6)
            .equals(effects["mean"].round(6))
        )
    on_disk = json.loads((root / "out" / "manifest.json").read_text())
    assert {r["name"]: r["status"] for r in on_disk["jobs"]} == dict(
        zip(manifest["name"], manifest["status"], strict=True)
    )
    assert done.loc["g0", "max_rhat"] < 1.2 and "sampling_seconds" in done


@pytest.mark.sampling
def test_one_compile_per_distinct_program(serial_batch):
    root, _, manifest, programs = serial_batch
    on_disk = json.loads((root / "out" / "manifest.json").read_text())
    prepared = on_disk["programs"]
    assert sorted(p["program"] for p in prepared) == ["binomial", "gaussian"]
    assert all(p["built"] for p in prepared)  # into the fresh cache folder
    assert len(programs) == 2  # and nothing else was built there
    done = manifest[manifest["status"] == "done"]
    assert not done["program_built"].any() and not done["compiled"].any()


@pytest.mark.sampling
def test_rerun_skips_finished_jobs(serial_batch):
    root, jobs, first, _ = serial_batch
    before = {
        j: json.loads((root / "out" / j / "job.json").read_text())
        for j in ["g0", "g1", "g2", "g3", "bern"]
    }
    again = hetfx.fit_many(jobs, root / "out", progress=False).set_index("name")
    assert (again.loc[list(before), "run"] == "skipped").all()
    assert again.loc["bad", "run"] == "failed"  # unfinished jobs are retried
    for name, record in before.items():
        assert json.loads((root / "out" / name / "job.json").read_text()) == record
        assert again.loc[name, "finished"] == record["finished"]


@pytest.mark.sampling
def test_fail_fast_stops_at_the_first_failure(tmp_path, gaussian_model):
    paths, _ = write_datasets(tmp_path / "data", 2)
    jobs = [
        {"name": "bad", "data": paths[0], "formula": "y ~ nope | treat : z1"},
        {"name": "good", "data": paths[1], "formula": FORMULA, **FAST},
    ]
    with pytest.raises(hetfx.BatchError, match="^Job 'bad' failed: DataError"):
        hetfx.fit_many(jobs, tmp_path / "out", fail_fast=True, progress=False)
    assert not (tmp_path / "out" / "good").exists()
    manifest = hetfx.read_manifest(tmp_path / "out")
    assert list(manifest["name"]) == ["bad"]


KILL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import hetfx
    jobs = json.loads(open(sys.argv[1]).read())
    hetfx.fit_many(jobs, sys.argv[2], progress=False)
    """
)


@pytest.mark.sampling
def test_killed_batch_resumes_without_loss_or_refit(tmp_path, gaussian_model):
    paths, _ = write_datasets(tmp_path / "data", 5)
    paths = paths + paths[:1]
    jobs = [
        {
            "name": f"k{i}",
            "data": str(p),
            "formula": FORMULA,
            "seed": i,
            "backend": "pystan",
            "chains": 2,
            "iter_warmup": 400,
            "iter_sampling": 400,
        }
        for i, p in enumerate(paths)
    ]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "run.py").write_text(KILL_SCRIPT)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "run.py"), str(tmp_path / "jobs.json"), out],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while time.time() < deadline:
        finished = [j["name"] for j in jobs if (out / j["name"] / "job.json").exists()]
        if len(finished) >= 2 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the worker and its chain processes
    proc.wait()
    finished = [j["name"] for j in jobs if (out / j["name"] / "job.json").exists()]
    assert 2 <= len(finished) < len(jobs), finished
    records = {n: (out / n / "job.json").read_text() for n in finished}
    manifest = hetfx.fit_many(jobs, out, progress=False).set_index("name")
    assert (manifest["status"] == "done").all()
    assert set(manifest.index[manifest["run"] == "skipped"]) == set(finished)
    assert all((out / n / "job.json").read_text() == r for n, r in records.items())
    assert not list(out.glob(".tmp-*"))


@pytest.mark.sampling
def test_processes_and_dask_give_the_serial_tables(serial_batch, tmp_path):
    root, jobs, _, _ = serial_batch
    good = [j for j in jobs if j["name"] != "bad"][:4]
    procs = hetfx.fit_many(
        good, tmp_path / "procs", executor="processes", workers=2, progress=False
    )
    assert (procs["status"] == "done").all()
    assert os.getpid() not in set(procs["pid"])  # fitted in worker processes

    distributed = pytest.importorskip("distributed")
    import dask

    # pystan starts chain processes: Dask workers must not be daemonic
    with dask.config.set({"distributed.worker.daemon": False}):
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            viadask = hetfx.fit_many(
                good, tmp_path / "dask", executor=client, progress=False
            )
    assert (viadask["status"] == "done").all()
    for job in good:
        serial = pd.read_csv(root / "out" / job["name"] / "effects.csv")
        for folder in ("procs", "dask"):
            other = pd.read_csv(tmp_path / folder / job["name"] / "effects.csv")
            pd.testing.assert_frame_equal(other, serial)


def test_job_file_format(tmp_path):
    (tmp_path / "jobs.toml").write_text(
        textwrap.dedent(
            """
            out = "results"

            [defaults]
            formula = "y ~ x1 | treat : z1 + z2"
            chains = 2
            priors = { sigma_theta = "half_normal(0.5)" }

            [[job]]
            name = "a"
            data = "a.csv"
            seed = 1

            [[job]]
            name = "b"
            data = "b.parquet"
            family = "binomial"
            trials = "n"
            iter_sampling = 300
            """
        )
    )
    jobs, settings = read_jobs(tmp_path / "jobs.toml")
    assert settings == {"out": "results"}
    a, b = jobs
    assert a.data == str(tmp_path / "a.csv") and a.sampler == {"chains": 2, "seed": 1}
    assert a.model_spec()["priors"] == {"sigma_theta": hetfx.priors.HalfNormal(0.5)}
    assert b.model_spec()["family"].trials == "n"
    assert b.sampler_args()["iter_sampling"] == 300
    assert b.sampler_args()["seed"] == b.sampler_args()["seed"]  # from the name


def test_job_errors(tmp_path):
    with pytest.raises(hetfx.OptionError, match=r"^Job 'x': unknown keys \['colour'\]"):
        as_job({"name": "x", "data": "d.csv", "formula": "y ~ 1 | t : z", "colour": 1})
    with pytest.raises(hetfx.OptionError, match="^Two jobs are named 'x'"):
        hetfx.fit_many(
            [{"name": "x", "data": "d.csv", "formula": "y ~ 1 | t : z"}] * 2,
            tmp_path,
        )
    with pytest.raises(hetfx.OptionError, match="^Job name 'a/b' must start"):
        hetfx.fit_many(
            [{"name": "a/b", "data": "d.csv", "formula": "y ~ 1 | t : z"}], tmp_path
        )
    with pytest.raises(hetfx.OptionError, match="^executor must be None"):
        hetfx.fit_many(
            [{"name": "a", "data": "d.csv", "formula": "y ~ 1 | t : z"}],
            tmp_path,
            executor="threads",
            progress=False,
        )
    (tmp_path / "bad.toml").write_text("[[job]]\nname = 'a'\ndata = 'a.csv'\nx =")
    with pytest.raises(hetfx.OptionError, match="^Cannot read the job file"):
        read_jobs(tmp_path / "bad.toml")
