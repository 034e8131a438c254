"""Where compiled programs live, and the lock that makes compiling safe.

The cache folder is ``$HETFX_CACHE_DIR`` or the platform's user cache folder.
A program is compiled at most once per machine and backend: the first process
takes a file lock, compiles, checks the result, writes ``program.json`` (what
the program is, for ``hetfx info``) and a ``done`` marker last; the others wait
on the lock and then find the marker. An entry that fails its check (a compile
killed half-way) is removed and built again, with a warning.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from filelock import FileLock

ENV_VAR = "HETFX_CACHE_DIR"
DONE = "done"
META = "program.json"
LOCK_TIMEOUT = 3600.0


class BrokenCacheWarning(UserWarning):
    """A cached program was incomplete (a compile killed half-way) and is rebuilt."""


def cache_dir() -> Path:
    """The hetfx cache folder (``HETFX_CACHE_DIR`` overrides the default).

    Examples
    --------
    >>> import os; os.environ["HETFX_CACHE_DIR"] = "/tmp/hetfx-doc"
    >>> str(cache_dir())
    '/tmp/hetfx-doc'
    """
    override = os.environ.get(ENV_VAR)
    path = Path(override) if override else Path(platformdirs.user_cache_dir("hetfx"))
    return path.expanduser()


def entry_dir(backend_tag: str, key: str) -> Path:
    """Folder of one compiled program: ``<cache>/<backend-version>/<key>``."""
    return cache_dir() / backend_tag / key


def is_built(entry: Path) -> bool:
    """Whether ``entry`` holds a finished build."""
    return (entry / DONE).is_file()


def build_once(
    entry: Path,
    build: Callable[[Path], None],
    verify: Callable[[Path], str | None] | None = None,
    meta: dict[str, Any] | None = None,
) -> bool:
    """Run ``build(entry)`` unless the entry is built; safe across processes.

    Parameters
    ----------
    entry : Path
        The program's cache folder.
    build : callable
        Writes the compiled program into the folder it is given.
    verify : callable, optional
        Returns what is wrong with a folder (None when it is complete). A built
        entry that fails it is removed and built again with a
        :class:`BrokenCacheWarning`; a new build that fails it raises.
    meta : dict, optional
        Written to ``program.json`` beside the program (with the build date).

    Returns
    -------
    bool
        True when this call built the program, False when it was already built.
    """
    if is_built(entry) and (verify is None or verify(entry) is None):
        return False
    entry.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(entry) + ".lock", timeout=LOCK_TIMEOUT):
        if is_built(entry):
            problem = verify(entry) if verify else None
            if problem is None:
                return False
            warnings.warn(
                f"The cached program {entry} is incomplete ({problem}), probably "
                "from a compile that was killed; removing it and building again.",
                BrokenCacheWarning,
                stacklevel=3,
            )
            shutil.rmtree(entry, ignore_errors=True)
        entry.mkdir(parents=True, exist_ok=True)
        build(entry)
        problem = verify(entry) if verify else None
        if problem is not None:
            raise RuntimeError(f"The new build in {entry} is incomplete: {problem}.")
        _write_meta(entry, meta or {})
        marker = entry / DONE
        fd, tmp = tempfile.mkstemp(dir=entry, prefix=".done-")
        os.close(fd)
        os.replace(tmp, marker)
        return True


def _write_meta(entry: Path, meta: dict[str, Any]) -> None:
    record = {"built": time.strftime("%Y-%m-%d %H:%M:%S"), **meta}
    fd, tmp = tempfile.mkstemp(dir=entry, prefix=".meta-")
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh, indent=1)
    os.replace(tmp, entry / META)


def read_meta(entry: Path) -> dict[str, Any]:
    """``program.json`` of an entry ({} for entries built before it existed)."""
    try:
        return json.loads((entry / META).read_text())
    except (OSError, ValueError):
        return {}


def folder_size(folder: Path) -> int:
    """Bytes of the files below ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@contextmanager
def announce_compile(program: str, backend: str, minutes: str) -> Iterator[None]:
    """One line on stderr when a compile starts and one when it ends."""
    print(
        f"hetfx: compiling the {program} Stan program ({backend}); once per "
        f"machine, about {minutes}.",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    yield
    print(
        f"hetfx: compiled the {program} program in "
        f"{time.perf_counter() - start:.0f} s; later fits reuse it.",
        file=sys.stderr,
        flush=True,
    )


def copy_files(src: Path, dst: Path, ignore: tuple[str, ...] = ()) -> None:
    """Copy the files of ``src`` (not its folders) into ``dst``, each through a
    temporary name and a rename, so that a process reading ``dst`` meanwhile (a
    sampler writing its ``fits/`` there) never sees a partial file."""
    dst.mkdir(parents=True, exist_ok=True)
    skip = shutil.ignore_patterns(*ignore)(str(src), [p.name for p in src.iterdir()])
    for path in src.iterdir():
        if path.is_dir() or path.name in skip:
            continue
        fd, tmp = tempfile.mkstemp(dir=dst, prefix=f".{path.name}-")
        os.close(fd)
        shutil.copy2(path, tmp)
        os.replace(tmp, dst / path.name)


def list_programs() -> list[Path]:
    """Every built program in the cache."""
    root = cache_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob(f"*/*/{DONE}"))
