"""Public data files fetched on first use into the user cache, checked by checksum.

As ``bambi.load_data`` and statsmodels' ``get_rdataset`` do: the first call
downloads the file, verifies its SHA-256 and keeps it in
``<hetfx cache>/data/<name>/``; later calls read the cached copy. Nothing is
ever shipped in the package.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hetfx.backends.cache import cache_dir
from hetfx.errors import DataError

TIMEOUT = 60.0


@dataclass(frozen=True)
class Source:
    """A public data file.

    Attributes
    ----------
    name : str
        Folder of the cached copy.
    filename : str
    sha256 : str
        Checksum of the published file.
    citation : str
        Where the file comes from, for error messages and docs.
    url_env : str
        Environment variable that gives (or overrides) the download address.
    url : str or None
        The default download address, if one is known.
    """

    name: str
    filename: str
    sha256: str
    citation: str
    url_env: str
    url: str | None = None

    def cached_path(self) -> Path:
        return cache_dir() / "data" / self.name / self.filename


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: Source, url: str | None = None) -> Path:
    """The cached copy of ``source``, downloaded and verified on first use.

    Parameters
    ----------
    url : str, optional
        Download address; else ``$<url_env>``, else ``source.url``.

    Raises
    ------
    DataError
        When no address is known, the download fails (offline) or the file
        does not match its checksum; the message says where to get the file.
    """
    target = source.cached_path()
    if target.is_file() and sha256_of(target) == source.sha256:
        return target
    address = url or os.environ.get(source.url_env) or source.url
    where = (
        f"Get {source.filename} from {source.citation} and pass its path "
        f"(path=...), or give its download address with url=... or "
        f"${source.url_env}."
    )
    if not address:
        raise DataError(f"No download address for {source.filename}. {where}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{source.filename}-")
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(address, timeout=TIMEOUT) as response,
        ):
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
        found = sha256_of(Path(tmp))
        if found != source.sha256:
            raise DataError(
                f"The file downloaded from {address} does not match the checksum "
                f"of {source.filename} (sha256 {found[:12]}..., expected "
                f"{source.sha256[:12]}...). {where}"
            )
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DataError(
            f"Could not download {source.filename} from {address} ({exc}). {where}"
        ) from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target
