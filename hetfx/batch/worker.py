"""One batch job, in whichever process runs it: fit, write the tables and the
saved fit into a temporary folder, and rename it into place (atomic)."""

from __future__ import annotations

import atexit
import datetime as dt
import json
import multiprocessing.util
import os
import shutil
import time
import traceback
import uuid
import warnings
from pathlib import Path
from typing import Any

from hetfx.batch.jobs import RECORD, TABLES, BatchError
from hetfx.errors import hetfx_warnings
from hetfx.model import HetModel


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
        "started": now(),
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
                "finished": now(),
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
                "finished": now(),
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


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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
