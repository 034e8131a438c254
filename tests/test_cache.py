import multiprocessing as mp
import re
import time
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import hetfx
from hetfx.backends import cache
from hetfx.backends.cmdstan_backend import cmdstan_paths, cmdstan_sample_args
from hetfx.backends.options import sampler_options
from hetfx.backends.pystan_backend import (
    COMPILER_LOG,
    _finish_timed_out_build,
    build_problem,
    pystan_sample_args,
    to_pystan_data,
)
from hetfx.errors import SamplingError


def _slow_build(folder: Path) -> None:
    with open(folder.parent / "builds.log", "a") as log:
        log.write("built\n")
    time.sleep(0.5)
    (folder / "program.bin").write_text("compiled")


def _worker(root: str, queue) -> None:
    import os

    os.environ["HETFX_CACHE_DIR"] = root
    entry = cache.entry_dir("fake-1.0", "abc")
    built = cache.build_once(entry, _slow_build)
    queue.put((built, (entry / "program.bin").read_text()))


def test_cache_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("HETFX_CACHE_DIR", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("HETFX_CACHE_DIR")
    assert "hetfx" in str(cache.cache_dir())


def test_concurrent_processes_build_once(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(r[0] for r in results) == [False, False, False, True]
    assert all(r[1] == "compiled" for r in results)  # nobody read a half build
    assert (tmp_path / "fake-1.0" / "builds.log").read_text() == "built\n"


def test_cmdstan_paths_are_keyed_by_program_and_version(tmp_path, monkeypatch):
    monkeypatch.setenv("HETFX_CACHE_DIR", str(tmp_path))
    code = hetfx.HetModel("y ~ x | t : z").program
    entry, stan_file, exe = cmdstan_paths("cmdstan-2.36", "hetfx_gaussian", code)
    assert entry.parent == tmp_path / "cmdstan-2.36"
    assert stan_file.name == "hetfx_gaussian.stan" and exe.parent == entry
    other, _, _ = cmdstan_paths("cmdstan-2.37", "hetfx_gaussian", code)
    changed, _, _ = cmdstan_paths("cmdstan-2.36", "hetfx_gaussian", code + "\n// x")
    assert len({entry, other, changed}) == 3


def test_sampler_arguments_map_to_both_backends():
    opts = sampler_options(
        chains=3,
        iter_warmup=200,
        iter_sampling=300,
        seed=7,
        adapt_delta=0.95,
        max_treedepth=12,
        cores=2,
    )
    c = cmdstan_sample_args(opts, {"sigma": 1.0})
    assert c == {
        "chains": 3,
        "parallel_chains": 2,
        "iter_warmup": 200,
        "iter_sampling": 300,
        "seed": 7,
        "adapt_delta": 0.95,
        "max_treedepth": 12,
        "show_progress": False,
        "adapt_step_size": 50,  # cmdstanpy's name for Stan's term_buffer
        "inits": {"sigma": 1.0},
    }
    p = pystan_sample_args(opts, {"sigma": 1.0})
    assert p == {
        "num_chains": 3,
        "num_warmup": 200,
        "num_samples": 300,
        "delta": 0.95,
        "max_depth": 12,
        "term_buffer": 50,
        "init": [{"sigma": 1.0}] * 3,
    }
    # the step size's last adaptation: 15% of warmup, at least Stan's 50; none
    # without warmup (cmdstanpy refuses adaptation settings there)
    assert sampler_options().adapt_term_buffer == 150
    assert sampler_options(iter_warmup=2000).adapt_term_buffer == 300
    assert sampler_options(iter_warmup=100).adapt_term_buffer == 50
    opts = sampler_options(iter_warmup=1000, adapt_term_buffer=80)
    assert pystan_sample_args(opts, {})["term_buffer"] == 80
    assert cmdstan_sample_args(opts, {})["adapt_step_size"] == 80
    no_warmup = sampler_options(iter_warmup=0)
    assert "term_buffer" not in pystan_sample_args(no_warmup, {})
    assert "adapt_step_size" not in cmdstan_sample_args(no_warmup, {})


def test_sampler_option_errors():
    import pytest

    from hetfx import OptionError

    with pytest.raises(OptionError, match="Unknown sampler option 'adapt_detla'"):
        sampler_options(adapt_detla=0.9)
    with pytest.raises(OptionError, match="adapt_delta must be in"):
        sampler_options(adapt_delta=1.5)
    with pytest.raises(OptionError, match="chains must be an integer >= 1"):
        sampler_options(chains=0)
    with pytest.raises(OptionError, match="adapt_term_buffer must be an integer >= 1"):
        sampler_options(adapt_term_buffer=0)
    assert sampler_options().seed >= 0  # drawn and recorded when not given


def test_stan_data_serialises_for_both_backends(tmp_path):
    import json

    from cmdstanpy import write_stan_json

    from hetfx.design.build import build_design
    from hetfx.families import get_family
    from hetfx.program.standata import build_stan_input

    sim = hetfx.datasets.simulate(n=200, n_modifiers=2, seed=1)
    data = build_stan_input(
        build_design(sim.formula, sim.data), get_family("gaussian")
    ).data
    write_stan_json(str(tmp_path / "d.json"), data)
    loaded = json.loads((tmp_path / "d.json").read_text())
    assert loaded["G"] == data["G"] and len(loaded["WtW"]) == data["WtW"].shape[0]
    plain = to_pystan_data(data)
    json.dumps(plain)
    assert plain["group_eq"] == data["group_eq"].tolist()


def test_cmdstan_console_output_is_collected(tmp_path):
    from hetfx.backends.cmdstan_backend import console_output

    assert "no CmdStan console output" in console_output(tmp_path)
    (tmp_path / "hetfx_gaussian-20261125_1-stdout.txt").write_text(
        "method = sample\nRejecting initial value:\n  Error evaluating log density"
    )
    text = console_output(tmp_path)
    assert "hetfx_gaussian-20261125_1-stdout.txt" in text
    assert "Rejecting initial value" in text


def test_timed_out_compile_counts_when_its_module_was_built(tmp_path):
    """pystan's request times out after 300 s; the compile finishes anyway, but
    httpstan's cancelled handler leaves no compiler log: hetfx completes the
    folder, or says why it cannot."""
    folder = tmp_path / "models" / "abc"
    folder.mkdir(parents=True)
    with pytest.raises(
        SamplingError,
        match=re.escape(
            "pystan's compile request timed out (aiohttp's 300 s) and left no "
            f"compiled module in {folder}"
        ),
    ):
        _finish_timed_out_build(folder)
    (folder / f"stan_services_model_abc{EXTENSION_SUFFIXES[0]}").write_bytes(b"so")
    assert build_problem(folder) == f"no {COMPILER_LOG}"
    _finish_timed_out_build(folder)
    assert build_problem(folder) is None
    assert "timed out" in (folder / COMPILER_LOG).read_text()
