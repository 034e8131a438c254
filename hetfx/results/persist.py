"""Save a fit to a folder and load it back, without the data or a compiler.

The folder holds ``posterior.nc`` (the draws and any posterior predictive or
log-likelihood groups, netCDF via arviz), ``spec.json`` (the model spec: the
formula, the family, the model spec (:class:`hetfx.design.spec.ModelSpec`:
equations, coders, groups, the layout of W), the design's arrays' places and
formulaic state, priors, options and run information) and ``arrays.npz`` (the design's
numeric arrays, read without pickle). ``spec.json`` carries a format number that
:func:`load` checks; no pickle is written or read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hetfx.design.spec import ModelSpec
from hetfx.errors import DataError
from hetfx.jsonable import Encoder, decode

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit

FORMAT = 2
SPEC_FILE = "spec.json"
ARRAYS_FILE = "arrays.npz"
DRAWS_FILE = "posterior.nc"


def fit_spec(fit: HetFit) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON record of ``fit`` (everything but the draws) and its arrays."""
    from hetfx import __version__

    encode = Encoder()
    family = fit.family_obj
    spec = {
        "format": FORMAT,
        "hetfx_version": __version__,
        "formula": fit.formula,
        "family": {
            "name": family.name,
            **{k: encode(getattr(family, k)) for k in ("trials", "exposure")},
            "reference": encode(family.reference),
        },
        "backend": fit.backend,
        "seed": fit.seed,
        "model_spec": fit.spec.to_dict(),
        "coords": encode(fit.coords, "coords"),
        "equations": encode(fit.equations, "equations"),
        "groups": encode(fit.group_table, "the group table"),
        "priors": encode(fit.priors, "the priors"),
        "options": encode(fit.options, "options"),
        "info": encode(fit.info, "info"),
        "design": encode(fit.design.without_frame(), "the design"),
    }
    return spec, encode.arrays


def save(fit: HetFit, path: str | os.PathLike) -> Path:
    """Write ``fit`` into the folder ``path`` (replaced atomically if it exists)."""
    spec, arrays = fit_spec(fit)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        fit.idata.to_netcdf(str(tmp / DRAWS_FILE))
        np.savez(tmp / ARRAYS_FILE, **arrays)
        (tmp / SPEC_FILE).write_text(json.dumps(spec, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_spec(folder: Path) -> dict[str, Any]:
    """The checked ``spec.json`` of a saved fit."""
    from hetfx import __version__

    if not (folder / SPEC_FILE).is_file():
        if (folder / "state.pkl").is_file():
            raise DataError(
                f"{str(folder)!r} was saved by an earlier hetfx in format 1 (a "
                f"pickle); hetfx {__version__} reads format {FORMAT}. Refit the "
                "model and save it again."
            )
        raise DataError(f"{str(folder)!r} is not a saved hetfx fit (no {SPEC_FILE}).")
    spec = json.loads((folder / SPEC_FILE).read_text())
    if spec.get("format") != FORMAT:
        raise DataError(
            f"{str(folder)!r} was saved in format {spec.get('format')!r} by hetfx "
            f"{spec.get('hetfx_version', '?')}; hetfx {__version__} reads format "
            f"{FORMAT}."
        )
    return spec


def load(path: str | os.PathLike) -> HetFit:
    """Restore a fit saved by :meth:`HetFit.save`; no data or compiling needed."""
    import arviz as az

    from hetfx.families import get_family
    from hetfx.results.fit import HetFit

    folder = Path(path)
    spec = read_spec(folder)
    with np.load(folder / ARRAYS_FILE, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    design = decode(spec["design"], arrays)
    if design.spec != ModelSpec.from_dict(spec["model_spec"]):
        raise DataError(f"{str(folder)!r}: the saved design does not match its spec.")
    family = spec["family"]
    options = {
        k: decode(family[k], arrays)
        for k in ("trials", "exposure", "reference")
        if family.get(k) is not None
    }
    return HetFit(
        az.from_netcdf(str(folder / DRAWS_FILE)),
        backend=spec["backend"],
        formula=spec["formula"],
        family=get_family(family["name"], **options),
        groups=decode(spec["groups"], arrays),
        coords=decode(spec["coords"], arrays),
        equations=decode(spec["equations"], arrays),
        priors=decode(spec["priors"], arrays),
        options=decode(spec["options"], arrays),
        info=decode(spec["info"], arrays),
        design=design,
    )
