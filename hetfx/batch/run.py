"""Many fits in one call: :func:`fit_many`, its manifest and its executors.

Every distinct Stan program is compiled (or loaded) once in this process before
the jobs fan out; the workers find it in the cache. Each finished job lands in
``out_dir/<name>/`` by an atomic rename, so a rerun after an interruption skips
exactly the finished jobs. ``out_dir/manifest.json`` records every job.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from hetfx.batch.jobs import MANIFEST, NAME, BatchError, Job, as_job
from hetfx.batch.worker import finished_record, now, run_job
from hetfx.errors import OptionError
from hetfx.model import HetModel


def read_manifest(out_dir: str | Path) -> pd.DataFrame:
    """The manifest of a batch folder as a table (one row per job)."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise OptionError(f"No batch manifest in {str(out_dir)!r}.")
    return pd.DataFrame(json.loads(path.read_text())["jobs"])


def _is_dask_client(executor: Any) -> bool:
    return type(executor).__name__ == "Client" and hasattr(executor, "submit")


def _serial(payloads: list[dict]) -> Iterator[tuple[dict, dict]]:
    for p in payloads:
        yield p, run_job(p)


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
            "finished": now(),
        }


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
    manifest = Manifest(out, previous_records(out))
    pending = []
    for job in jobs:
        done = finished_record(out / job.name)
        if done is not None:
            manifest.records[job.name] = {**done, "run": "skipped"}
        else:
            pending.append(job)
    manifest.start_progress(len(jobs), len(jobs) - len(pending), progress)
    try:
        if executor == "processes":
            workers = int(workers or os.cpu_count() or 1)
        payloads = _payloads(pending, manifest, executor, workers, fail_fast)
        manifest.write()
        for _, rec in _execute(payloads, executor, workers):
            rec["run"] = "fitted" if rec["status"] == "done" else "failed"
            manifest.record(rec)
            if fail_fast and rec["status"] != "done":
                raise BatchError(f"Job {rec['name']!r} failed: {rec.get('error')}")
    finally:
        manifest.close()
    order = {job.name: i for i, job in enumerate(jobs)}
    records = manifest.records
    table = pd.DataFrame([records[j.name] for j in jobs if j.name in records])
    return table.sort_values("name", key=lambda s: s.map(order)).reset_index(drop=True)


def previous_records(out: Path) -> dict[str, dict]:
    """Create ``out``, drop folders of interrupted jobs, read the old manifest."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".tmp-*"):  # a job interrupted while writing
        shutil.rmtree(stale, ignore_errors=True)
    if not (out / MANIFEST).is_file():
        return {}
    try:
        previous = json.loads((out / MANIFEST).read_text())["jobs"]
    except (OSError, ValueError, KeyError):
        return {}
    return {r["name"]: r for r in previous if "name" in r}


class Manifest:
    """The batch's records, written to ``manifest.json`` after every job, and
    the progress bar that counts them."""

    def __init__(self, out: Path, records: dict[str, dict]) -> None:
        self.out = out
        self.records = records
        self.extra: dict[str, Any] = {"programs": []}
        self.counts = {"done": 0, "failed": 0}
        self.total = 0
        self.bar: Any = None

    def start_progress(self, total: int, finished: int, show: bool) -> None:
        self.total, self.counts["done"] = total, finished
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total, initial=finished, desc="hetfx jobs", unit="job"
            )

    def record(self, rec: dict) -> None:
        self.records[rec["name"]] = rec
        self.counts["done" if rec["status"] == "done" else "failed"] += 1
        self.write()
        if self.bar is not None:
            left = self.total - self.counts["done"] - self.counts["failed"]
            self.bar.set_postfix(**self.counts, left=left, refresh=False)
            self.bar.update(1)

    def write(self) -> None:
        content = {"updated": now(), **self.extra, "jobs": list(self.records.values())}
        tmp = self.out / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
        tmp.write_text(json.dumps(content, indent=2, default=str))
        os.replace(tmp, self.out / MANIFEST)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _payloads(
    pending: list[Job],
    manifest: Manifest,
    executor: Any,
    workers: int | None,
    fail_fast: bool,
) -> list[dict[str, Any]]:
    """What each worker receives; jobs whose model fails to build are recorded
    as failed here."""
    prepared = _prepare_programs(pending, manifest.extra)
    cores = None
    if executor == "processes":  # each job's chains share the cores
        cores = max(1, (os.cpu_count() or 1) // int(workers or 1))
    payloads = []
    for job in pending:
        spec_or_error = prepared[job.name]
        if isinstance(spec_or_error, str):
            rec = {"name": job.name, "status": "failed", "run": "failed"}
            manifest.record({**rec, "error": spec_or_error, "finished": now()})
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
                "out_dir": str(manifest.out),
                "cache_dir": os.environ.get("HETFX_CACHE_DIR"),
                "worker": executor is not None,
            }
        )
    return payloads


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
