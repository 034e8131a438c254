"""The Tomz and Weeks (2021) survey experiment, downloaded once and checked."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from hetfx.downloads import Source, fetch
from hetfx.errors import DataError

TOMZ_WEEKS_FORMULA = (
    "force ~ regime + stakes + costs + africa + eeurope + asia + age + educ4"
    " | alliance : dem + rep + high_newsint + white + male"
)
"""The paper's respondent-heterogeneity specification (fit with main_effects=False)."""


TOMZ_WEEKS_SOURCE = Source(
    name="tomz-weeks-2021",
    filename="2017-04-YouGov-extracted.dta",
    sha256="7f7c6268a16111055d5b6eb6b433550a69e9c92358c12b71fb361b8e4d91b643",
    citation=(
        "the replication archive of Tomz and Weeks (2021), 'Military Alliances "
        "and Public Support for War', International Studies Quarterly, on "
        "Harvard Dataverse"
    ),
    url_env="HETFX_TOMZ_WEEKS_URL",
)


def tomz_weeks(
    path: str | os.PathLike | None = None, *, url: str | None = None
) -> pd.DataFrame:
    """The Tomz and Weeks (2021) survey experiment, coded as in the paper.

    Michael Tomz and Jessica L. P. Weeks (2021), "Military Alliances and Public
    Support for War", International Studies Quarterly 65(3); replication data
    on Harvard Dataverse. The file ``2017-04-YouGov-extracted.dta`` is not
    shipped with hetfx: pass the path of a local copy, or let hetfx download it
    once into the cache folder (``url=`` or ``$HETFX_TOMZ_WEEKS_URL`` give the
    address of the file in the archive); the download is checked against the
    published file's SHA-256 and read from the cache afterwards.

    Raises
    ------
    DataError
        Offline, on a failed or altered download, or when no address is known;
        the message says where to get the file.

    Returns
    -------
    pandas.DataFrame
        ``force`` (pref >= 4), ``pref`` (1..5), the treatment ``alliance``, the
        modifiers ``dem``, ``rep``, ``high_newsint``, ``white``, ``male`` and the
        controls ``regime``, ``stakes``, ``costs``, ``africa``, ``asia``,
        ``eeurope``, ``age`` (decades) and ``educ4`` (1..4); plus ``region``
        and the survey's ``weight`` (mean 1).
    """
    if path is None:
        path = fetch(TOMZ_WEEKS_SOURCE, url)
    elif not Path(path).is_file():
        raise DataError(
            f"No file at {str(path)!r}. Get {TOMZ_WEEKS_SOURCE.filename} from "
            f"{TOMZ_WEEKS_SOURCE.citation}."
        )
    raw = pd.read_stata(path, convert_categoricals=False)
    return pd.DataFrame(
        {
            "force": (raw["pref"] >= 4).astype(int),
            "pref": raw["pref"].astype(int),
            "alliance": (raw["alliance"] == 2).astype(int),
            "dem": (raw["pid7"] <= 2).astype(int),
            "rep": raw["pid7"].isin([6, 7]).astype(int),
            "high_newsint": (raw["newsint"] == 1).astype(int),
            "white": (raw["race"] == 1).astype(int),
            "male": (raw["gender"] == 1).astype(int),
            "regime": (raw["regime"] == 2).astype(int),
            "stakes": (raw["stakes"] == 1).astype(int),
            "costs": (raw["costs"] == 2).astype(int),
            "region": raw["region"].astype(int),
            "africa": (raw["region"] == 1).astype(int),
            "asia": (raw["region"] == 2).astype(int),
            "eeurope": (raw["region"] == 3).astype(int),
            "age": (2016 - raw["birthyr"]) / 10,
            "educ4": raw["educ"].map({1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 4}),
            "weight": raw["weight"].astype(float),
        }
    )
