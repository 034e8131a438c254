"""Render the Stan program of a likelihood family from the templates in ``stan/``."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import jinja2

from .families import Family, get_family


def stan_dir() -> Path:
    """The Stan templates: inside the wheel, or the source tree's ``stan/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "stan", here.parent / "stan"):
        if (candidate / "hetfx.stan.j2").is_file():
            return candidate
    raise FileNotFoundError("hetfx's Stan templates (stan/hetfx.stan.j2) are missing.")


@functools.cache
def render(family: str | Family) -> str:
    """The Stan program for ``family``; one program serves every dataset.

    Examples
    --------
    >>> "binomial_logit_glm" in render("bernoulli")
    True
    """
    fam = get_family(family)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(stan_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    text = env.get_template("hetfx.stan.j2").render(family=fam.name, link=fam.link)
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:  # collapse the blank runs left by the macros
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"


def program_hash(code: str) -> str:
    """A short, stable hash of a program's text."""
    return hashlib.sha256(code.encode()).hexdigest()[:16]
