"""Where compiled programs live, and the lock that makes compiling safe.

The cache folder is ``$HETFX_CACHE_DIR`` or the platform's user cache folder.
A program is compiled at most once per machine and backend: the first process
takes a file lock, compiles, and writes a ``done`` marker last; the others wait
on the lock and then find the marker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import platformdirs
from filelock import FileLock

ENV_VAR = "HETFX_CACHE_DIR"
DONE = "done"
LOCK_TIMEOUT = 3600.0


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


def build_once(entry: Path, build: Callable[[Path], None]) -> bool:
    """Run ``build(entry)`` unless the entry is built; safe across processes.

    Parameters
    ----------
    entry : Path
        The program's cache folder.
    build : callable
        Writes the compiled program into the folder it is given.

    Returns
    -------
    bool
        True when this call built the program, False when it was already built.
    """
    if is_built(entry):
        return False
    entry.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(entry) + ".lock", timeout=LOCK_TIMEOUT):
        if is_built(entry):
            return False
        entry.mkdir(parents=True, exist_ok=True)
        build(entry)
        marker = entry / DONE
        fd, tmp = tempfile.mkstemp(dir=entry, prefix=".done-")
        os.close(fd)
        os.replace(tmp, marker)
        return True


def copy_tree(src: Path, dst: Path, ignore: tuple[str, ...] = ()) -> None:
    """Copy ``src`` to ``dst`` through a temporary name, then rename."""
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}-"))
    shutil.copytree(
        src, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*ignore)
    )
    if dst.exists():
        shutil.rmtree(dst, ignore_errors=True)
    os.replace(tmp, dst)


def list_programs() -> list[Path]:
    """Every built program in the cache."""
    root = cache_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob(f"*/*/{DONE}"))
