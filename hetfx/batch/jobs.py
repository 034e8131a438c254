"""Many fits in one call: :func:`fit_many`, its job files and its executors.

Every distinct Stan program is compiled (or loaded) once in this process before
the jobs fan out; the workers find it in the cache. Each finished job lands in
``out_dir/<name>/`` by an atomic rename, so a rerun after an interruption skips
exactly the finished jobs. ``out_dir/manifest.json`` records every job.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import multiprocessing.util
import os
import re
import shutil
import time
import tomllib
import traceback
import uuid
import warnings
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from hetfx.backends.options import KNOWN as SAMPLER_OPTIONS
from hetfx.errors import HetfxError, OptionError, hetfx_warnings
from hetfx.families import get_family
from hetfx.model import HetModel

MODEL_KEYS = (
    "formula",
    "family",
    "priors",
    "main_effects",
    "bins",
    "control",
    "treatment_type",
    "backend",
    "missing",
    "parameterization",
    "deviations",
    "collapsed",
)
FAMILY_KEYS = ("trials", "exposure", "reference")
SAMPLER_KEYS = (*SAMPLER_OPTIONS, "aggregate", "prior_only")
TABLES = ("effects", "modifiers", "coefficients", "ate")
MANIFEST = "manifest.json"
RECORD = "job.json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class BatchError(HetfxError):
    """A batch stopped early (``fail_fast=True``) or was set up wrongly."""


@dataclass
class Job:
    """One fit of a batch.

    Attributes
    ----------
    name : str
        Folder name of the results (letters, digits, ``.``, ``_``, ``-``).
    data : DataFrame or path
        A DataFrame, or a CSV, TSV, Parquet or Stata file (Parquet and Dask
        frames of gaussian models are read partition by partition).
    model : HetModel, str or dict
        A model, a formula, or :class:`HetModel` keyword arguments.
    sampler : dict
        ``chains``, ``iter_warmup``, ``iter_sampling``, ``seed``, ``adapt_delta``
        ... The seed defaults to one derived from the name, so a rerun is
        reproducible.
    """

    name: str
    data: Any
    model: HetModel | str | dict[str, Any]
    sampler: dict[str, Any] = field(default_factory=dict)

    def model_spec(self) -> dict[str, Any]:
        """Keyword arguments of :class:`HetModel` for this job."""
        if isinstance(self.model, HetModel):
            return self.model.spec()
        if isinstance(self.model, str):
            return {"formula": self.model}
        spec = dict(self.model)
        unknown = [k for k in spec if k not in MODEL_KEYS]
        if unknown or "formula" not in spec:
            raise OptionError(
                f"Job {self.name!r}: model options must include 'formula' and may "
                f"hold {', '.join(MODEL_KEYS)}; got {sorted(spec)}."
            )
        return spec

    def sampler_args(self) -> dict[str, Any]:
        unknown = [k for k in self.sampler if k not in SAMPLER_KEYS]
        if unknown:
            raise OptionError(
                f"Job {self.name!r}: unknown sampler option {unknown[0]!r}; known "
                f"options: {', '.join(SAMPLER_KEYS)}."
            )
        args = dict(self.sampler)
        args.setdefault("show_progress", False)  # the batch has its own bar
        if args.get("seed") is None:
            args["seed"] = zlib.crc32(self.name.encode()) % (2**31 - 1)
        return args


def as_job(item: Job | dict[str, Any]) -> Job:
    """A :class:`Job` from a Job or a dict with name, data, model and options."""
    if isinstance(item, Job):
        return item
    if not isinstance(item, dict) or "name" not in item or "data" not in item:
        raise OptionError(
            "A job is a hetfx.batch.Job or a dict with 'name', 'data' and 'model' "
            f"(or 'formula'); got {item!r:.80}."
        )
    item = dict(item)
    name, data = item.pop("name"), item.pop("data")
    sampler = {k: item.pop(k) for k in list(item) if k in SAMPLER_KEYS}
    sampler.update(item.pop("sampler", {}) or {})
    model = item.pop("model", None)
    if model is None:
        family_opts = {k: item.pop(k) for k in list(item) if k in FAMILY_KEYS}
        model = {k: item.pop(k) for k in list(item) if k in MODEL_KEYS}
        if family_opts:
            model["family"] = get_family(model.get("family", "gaussian"), **family_opts)
    if item:
        raise OptionError(
            f"Job {name!r}: unknown keys {sorted(item)}; use model options "
            f"({', '.join(MODEL_KEYS + FAMILY_KEYS)}) or sampler options "
            f"({', '.join(SAMPLER_KEYS)})."
        )
    return Job(str(name), data, model, sampler)


def read_jobs(path: str | Path) -> tuple[list[Job], dict[str, Any]]:
    """Jobs of a TOML job file, and its top-level settings (such as ``out``).

    The file has an optional ``[defaults]`` table, merged into every job, and
    one ``[[job]]`` table per job; data paths are relative to the file::

        out = "results"

        [defaults]
        formula = "y ~ x1 + x2 | treat : z1 + z2"
        family = "gaussian"
        chains = 4
        priors = { sigma_theta = "half_normal(0.5)" }

        [[job]]
        name = "site_a"
        data = "site_a.csv"
        seed = 1

    Raises
    ------
    OptionError
        For an unreadable file or bad keys.
    """
    from hetfx.priors import parse_priors

    path = Path(path)
    try:
        content = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise OptionError(f"Job file {str(path)!r} does not exist.") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise OptionError(f"Cannot read the job file {str(path)!r}: {exc}") from exc
    defaults = content.pop("defaults", {})
    entries = content.pop("job", [])
    if not entries:
        raise OptionError(f"Job file {str(path)!r} has no [[job]] tables.")
    jobs = []
    for entry in entries:
        merged = {**defaults, **entry}
        if "priors" in merged:
            merged["priors"] = parse_priors(merged["priors"])
        data = merged.get("data")
        if isinstance(data, str) and not Path(data).is_absolute():
            merged["data"] = str(path.parent / data)
        jobs.append(as_job(merged))
    return jobs, content


# ------------------------------------------------------------------ one job
def _diagnostics(fit: Any) -> dict[str, Any]:
    diag = fit.diagnostics()
    return {
        k: (v.item() if hasattr(v, "item") else v) for k, v in diag.to_dict().items()
    }


def write_results(fit: Any, folder: Path, prob: float = 0.9) -> None:
    """The tables (``prob`` intervals) as CSV and the saved fit, in ``folder``."""
    for table in TABLES:
        getattr(fit, table)(prob).to_csv(folder / f"{table}.csv", index=False)
    fit.diagnostics().to_frame("value").to_csv(folder / "diagnostics.csv")
    fit.save(folder / "fit")


def run_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Fit one job and write ``out_dir/<name>/`` atomically; never raises.

    Returns the job's manifest record.
    """
    name = payload["name"]
    out_dir = Path(payload["out_dir"])
    if payload.get("cache_dir"):
        os.environ.setdefault("HETFX_CACHE_DIR", payload["cache_dir"])
    if payload.get("worker"):
        _clean_exit()
    record: dict[str, Any] = {
        "name": name,
        "status": "failed",
        "started": _now(),
        "pid": os.getpid(),
        "host": os.uname().nodename,
    }
    start = time.perf_counter()
    try:
        model = HetModel(**payload["spec"])
        if model.backend.name == "pystan" and multiprocessing.current_process().daemon:
            raise BatchError(
                "pystan runs its chains in child processes, which daemonic "
                "workers cannot start: start the Dask cluster inside "
                "dask.config.set({'distributed.worker.daemon': False})."
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = model.fit(payload["data"], **payload["sampler"])
        tmp = out_dir / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        write_results(fit, tmp)
        record.update(
            {
                "status": "done",
                "seconds": round(time.perf_counter() - start, 3),
                "sampling_seconds": round(fit.timing.get("sampling", 0.0), 3),
                "compile_seconds": round(fit.timing.get("compile", 0.0), 3),
                "compiled": bool(fit.compiled),
                "program_built": bool(fit.info.get("program_built", False)),
                "backend": fit.backend,
                "family": fit.family,
                "seed": fit.seed,
                "rows": int(fit.info.get("n", 0)),
                "warnings": hetfx_warnings(caught),
                **_diagnostics(fit),
                "error": None,
                "finished": _now(),
            }
        )
        (tmp / RECORD).write_text(json.dumps(record, indent=2, default=str))
        final = out_dir / name
        if final.exists():  # an unfinished folder (no record) from a crash
            shutil.rmtree(final)
        os.replace(tmp, final)
    except Exception as exc:  # recorded; the batch goes on
        record.update(
            {
                "seconds": round(time.perf_counter() - start, 3),
                "error": f"{type(exc).__name__}: {exc}".strip(),
                "traceback": traceback.format_exc(limit=8),
                "finished": _now(),
            }
        )
    return record


def finished_record(folder: Path) -> dict[str, Any] | None:
    """The record of a finished job folder, else None."""
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("status") == "done" else None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------ manifest
def read_manifest(out_dir: str | Path) -> pd.DataFrame:
    """The manifest of a batch folder as a table (one row per job)."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise OptionError(f"No batch manifest in {str(out_dir)!r}.")
    return pd.DataFrame(json.loads(path.read_text())["jobs"])


def _write_manifest(out_dir: Path, records: dict[str, dict], extra: dict) -> None:
    content = {"updated": _now(), **extra, "jobs": list(records.values())}
    tmp = out_dir / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    tmp.write_text(json.dumps(content, indent=2, default=str))
    os.replace(tmp, out_dir / MANIFEST)


# ------------------------------------------------------------------ executors
def _is_dask_client(executor: Any) -> bool:
    return type(executor).__name__ == "Client" and hasattr(executor, "submit")


def _serial(payloads: list[dict]) -> Iterator[tuple[dict, dict]]:
    for p in payloads:
        yield p, run_job(p)


def _stop_children() -> None:
    """Terminate this worker's idle child processes (httpstan keeps a pool of
    them for its chains); a worker exiting with them alive waits forever."""
    for child in multiprocessing.active_children():
        child.terminate()


_CLEANUP: list[bool] = []


def _clean_exit() -> None:
    """Once per worker process: stop the children before multiprocessing (or a
    Dask nanny) waits for them at exit."""
    if not _CLEANUP:
        multiprocessing.util.Finalize(None, _stop_children, exitpriority=10)
        atexit.register(_stop_children)
        _CLEANUP.append(True)


def _processes(payloads: list[dict], workers: int) -> Iterator[tuple[dict, dict]]:
    # spawn: fresh interpreters, no forked event loops or locks
    context = get_context("spawn")
    with ProcessPoolExecutor(workers, context) as pool:
        futures = {pool.submit(run_job, p): p for p in payloads}
        try:
            for future in as_completed(futures):
                yield futures[future], _result(future, futures[future])
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def _dask(payloads: list[dict], client: Any) -> Iterator[tuple[dict, dict]]:
    from distributed import as_completed as dask_completed

    futures = {
        client.submit(
            run_job, p, pure=False, key=f"hetfx-{p['name']}-{uuid.uuid4()}"
        ): p
        for p in payloads
    }
    try:
        for future in dask_completed(list(futures)):
            yield futures[future], _result(future, futures[future])
    finally:
        client.cancel(list(futures))


def _result(future: Any, payload: dict) -> dict:
    """A future's record; a dead worker becomes a failed record."""
    try:
        return future.result()
    except Exception as exc:
        return {
            "name": payload["name"],
            "status": "failed",
            "error": f"worker failed: {type(exc).__name__}: {exc}",
            "finished": _now(),
        }


# ------------------------------------------------------------------ fit_many
def fit_many(
    jobs: Iterable[Job | dict[str, Any]],
    out_dir: str | Path,
    executor: Any = None,
    *,
    workers: int | None = None,
    fail_fast: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Fit many jobs, writing each one's tables and saved fit to ``out_dir``.

    Parameters
    ----------
    jobs : iterable of Job or dict
        See :class:`Job`; dicts take ``name``, ``data``, ``model`` (or
        ``formula`` and the model options) and sampler options.
    out_dir : str or Path
        One folder per finished job (``effects.csv``, ``modifiers.csv``,
        ``coefficients.csv``, ``ate.csv``, ``diagnostics.csv``, ``fit/``,
        ``job.json``) and ``manifest.json``.
    executor : None, "processes" or dask.distributed.Client
        None runs the jobs here, one after the other; ``"processes"`` uses a
        local process pool of ``workers`` processes (default: one per core, each
        job's chains then get ``cores // workers`` cores); a Dask client runs
        them on its cluster.
    workers : int, optional
        Processes of the ``"processes"`` executor.
    fail_fast : bool
        Stop at the first failed job (raises :class:`BatchError`); by default a
        failure is recorded and the batch goes on.
    progress : bool
        Show a progress bar (done, failed, left, time remaining).

    Returns
    -------
    pandas.DataFrame
        The manifest: one row per job with ``status`` (``done`` or ``failed``),
        ``run`` (``fitted``, ``skipped`` or ``failed`` in this call), timings,
        diagnostics and ``error``.

    Examples
    --------
    >>> import hetfx
    >>> sims = [hetfx.datasets.simulate(n=500, seed=s) for s in range(3)]
    >>> jobs = [{"name": f"sim{s}", "data": sim.data, "formula": sim.formula}
    ...         for s, sim in enumerate(sims)]
    >>> hetfx.fit_many(jobs, "results", executor="processes")  # doctest: +SKIP
    """
    if not (executor in (None, "processes") or _is_dask_client(executor)):
        raise OptionError(
            "executor must be None, 'processes' or a dask.distributed.Client; got "
            f"{executor!r}."
        )
    jobs = [as_job(j) for j in jobs]
    _check_names(jobs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".tmp-*"):  # a job interrupted while writing
        shutil.rmtree(stale, ignore_errors=True)
    records: dict[str, dict] = {}
    if (out / MANIFEST).is_file():
        try:
            previous = json.loads((out / MANIFEST).read_text())["jobs"]
            records = {r["name"]: r for r in previous if "name" in r}
        except (OSError, ValueError, KeyError):
            records = {}
    pending = []
    for job in jobs:
        done = finished_record(out / job.name)
        if done is not None:
            records[job.name] = {**done, "run": "skipped"}
        else:
            pending.append(job)
    extra: dict[str, Any] = {"programs": []}
    bar = _progress(len(jobs), len(jobs) - len(pending), progress)
    counts = {"done": len(jobs) - len(pending), "failed": 0}

    def record(rec: dict) -> None:
        records[rec["name"]] = rec
        counts["done" if rec["status"] == "done" else "failed"] += 1
        _write_manifest(out, records, extra)
        if bar is not None:
            bar.set_postfix(
                done=counts["done"],
                failed=counts["failed"],
                left=len(jobs) - counts["done"] - counts["failed"],
                refresh=False,
            )
            bar.update(1)

    payloads = []
    try:
        prepared = _prepare_programs(pending, extra)
        cores = None
        if executor == "processes":
            workers = int(workers or os.cpu_count() or 1)
            cores = max(1, (os.cpu_count() or 1) // workers)
        for job in pending:
            spec_or_error = prepared[job.name]
            if isinstance(spec_or_error, str):
                rec = {"name": job.name, "status": "failed", "run": "failed"}
                rec.update({"error": spec_or_error, "finished": _now()})
                record(rec)
                if fail_fast:
                    raise BatchError(f"Job {job.name!r} failed: {spec_or_error}")
                continue
            sampler = job.sampler_args()
            if cores is not None:
                sampler.setdefault("cores", cores)
            payloads.append(
                {
                    "name": job.name,
                    "spec": spec_or_error,
                    "data": _portable(job.data),
                    "sampler": sampler,
                    "out_dir": str(out),
                    "cache_dir": os.environ.get("HETFX_CACHE_DIR"),
                    "worker": executor is not None,
                }
            )
        _write_manifest(out, records, extra)
        for _, rec in _execute(payloads, executor, workers):
            rec["run"] = "fitted" if rec["status"] == "done" else "failed"
            record(rec)
            if fail_fast and rec["status"] != "done":
                raise BatchError(f"Job {rec['name']!r} failed: {rec.get('error')}")
    finally:
        if bar is not None:
            bar.close()
    order = {job.name: i for i, job in enumerate(jobs)}
    table = pd.DataFrame([records[j.name] for j in jobs if j.name in records])
    return table.sort_values("name", key=lambda s: s.map(order)).reset_index(drop=True)


def _execute(payloads: list[dict], executor: Any, workers: int | None):
    if executor is None:
        return _serial(payloads)
    if executor == "processes":
        return _processes(payloads, int(workers or os.cpu_count() or 1))
    return _dask(payloads, executor)


def _check_names(jobs: list[Job]) -> None:
    seen = set()
    for job in jobs:
        if not NAME.fullmatch(job.name):
            raise OptionError(
                f"Job name {job.name!r} must start with a letter or digit and use "
                "only letters, digits, '.', '_' and '-' (it names a folder)."
            )
        if job.name in seen:
            raise OptionError(f"Two jobs are named {job.name!r}; names must differ.")
        seen.add(job.name)


def _portable(data: Any) -> Any:
    """Paths travel as strings (workers read them); frames as themselves."""
    return str(data) if isinstance(data, os.PathLike) else data


def _prepare_programs(jobs: list[Job], extra: dict) -> dict[str, dict | str]:
    """Compile (or load) each distinct program once, here, before fanning out.

    Returns each job's model spec with the backend resolved, or an error text.
    """
    out: dict[str, dict | str] = {}
    ready: dict[tuple[str, str], str | None] = {}
    for job in jobs:
        try:
            spec = job.model_spec()
            model = HetModel(**spec)
            key = (model.backend.name, model.program)
            if key not in ready:
                try:
                    compiled = model.compile()
                    ready[key] = None
                    extra["programs"].append(
                        {
                            "program": model.family.program,
                            "backend": model.backend.name,
                            "compiled": bool(compiled.compiled_now),
                            "built": bool(
                                compiled.info.get("built", compiled.compiled_now)
                            ),
                            "seconds": round(compiled.seconds, 3),
                        }
                    )
                except Exception as exc:
                    ready[key] = f"{type(exc).__name__}: {exc}"
            if ready[key] is not None:
                out[job.name] = ready[key]
            else:
                out[job.name] = {**spec, "backend": model.backend.name}
        except Exception as exc:  # a bad formula or option fails this job only
            out[job.name] = f"{type(exc).__name__}: {exc}"
    return out


def _progress(total: int, initial: int, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="hetfx jobs", unit="job")
