"""Save a fit to a folder and load it back, without the data or a compiler.

The folder holds ``posterior.nc`` (the draws, netCDF via arviz), ``state.pkl``
(design arrays, group coders, formulaic specs, tables) and ``meta.json`` (a
readable record: formula, family, priors, options, hetfx version). ``state.pkl``
is a pickle: load only folders you trust.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from hetfx.errors import DataError

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit

FORMAT = 1


def save(fit: HetFit, path: str | os.PathLike) -> Path:
    """Write ``fit`` into the folder ``path`` (replaced atomically if it exists)."""
    from hetfx import __version__

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        fit.idata.to_netcdf(str(tmp / "posterior.nc"))
        state = {
            "format": FORMAT,
            "design": fit.design.without_frame(),
            "groups": fit._groups,
            "priors": fit._priors,
            "coords": fit._coords,
            "equations": fit._equations,
            "options": fit.options,
            "info": fit.info,
            "backend": fit.backend,
            "family": fit.family_obj,  # with its trials/exposure/reference
        }
        with open(tmp / "state.pkl", "wb") as fh:
            pickle.dump(state, fh)
        meta = {
            "hetfx_version": __version__,
            "format": FORMAT,
            "formula": fit.formula,
            "family": fit.family,
            "backend": fit.backend,
            "seed": fit.seed,
            "options": fit.options,
            "priors": fit._priors.to_dict("records"),
            "groups": fit._groups.drop(columns="theta_index")
            .astype(str)
            .to_dict("records"),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load(path: str | os.PathLike) -> HetFit:
    """Restore a fit saved by :meth:`HetFit.save`; no data or compiling needed."""
    from hetfx.families import get_family
    from hetfx.results.fit import HetFit

    folder = Path(path)
    if not (folder / "state.pkl").is_file():
        raise DataError(f"{str(folder)!r} is not a saved hetfx fit (no state.pkl).")
    with open(folder / "state.pkl", "rb") as fh:
        state = pickle.load(fh)
    import arviz as az

    idata = az.from_netcdf(str(folder / "posterior.nc"))
    return HetFit(
        idata,
        backend=state["backend"],
        formula=state["design"].formula.text,
        family=get_family(state["family"]),  # a Family object passes through
        groups=state["groups"],
        coords=state["coords"],
        equations=state["equations"],
        priors=state["priors"],
        options=state["options"],
        info=state["info"],
        design=state["design"],
    )
