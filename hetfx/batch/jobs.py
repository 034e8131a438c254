"""Batch jobs: what one job is (:class:`Job`), and job files (TOML, JSON, YAML).

:func:`hetfx.batch.run.fit_many` runs them; :mod:`hetfx.batch.worker` fits one.
"""

from __future__ import annotations

import re
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hetfx.backends.options import KNOWN as SAMPLER_OPTIONS
from hetfx.errors import HetfxError, OptionError
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
    "groups",
    "weights",
    "normalize_weights",
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
