"""Draws to tidy tables: one row per quantity, the posterior statistics as columns.

Every table of a fit (and of the interpretation functions) is built here, from
rows of labels and the draws of each row, shaped (chain, draw).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hetfx.design.grouping import format_value
from hetfx.errors import OptionError

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit

STAT_COLUMNS = [
    "mean",
    "sd",
    "lower",
    "upper",
    "median",
    "prob_positive",
    "rhat",
    "ess_bulk",
    "ess_tail",
]


def summarise(draws: np.ndarray, prob: float = 0.9) -> dict[str, float]:
    """Posterior statistics of one quantity's draws, shaped (chain, draw).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(summarise(rng.normal(size=(4, 1000)))["prob_positive"], 1)
    0.5
    """
    import arviz as az

    flat = draws.reshape(-1)
    tail = (1 - prob) / 2
    lower, median, upper = np.quantile(flat, [tail, 0.5, 1 - tail])
    constant = np.ptp(flat) == 0
    return {
        "mean": float(flat.mean()),
        "sd": float(flat.std(ddof=1)) if flat.size > 1 else 0.0,
        "lower": float(lower),
        "upper": float(upper),
        "median": float(median),
        "prob_positive": float((flat > 0).mean()),
        "rhat": np.nan if constant else float(az.rhat(draws)),
        "ess_bulk": np.nan if constant else float(az.ess(draws, method="bulk")),
        "ess_tail": np.nan if constant else float(az.ess(draws, method="tail")),
    }


def check_prob(prob: float) -> float:
    """``prob`` as a float in (0, 1), or OptionError."""
    if not isinstance(prob, float | int) or not 0 < prob < 1:
        raise OptionError(f"prob must be between 0 and 1, got {prob!r}.")
    return float(prob)


def tidy_table(
    rows: list[dict[str, Any]], draws: list[np.ndarray], prob: float
) -> pd.DataFrame:
    """One row per quantity: its labels (``rows``) and statistics of its draws."""
    prob = check_prob(prob)
    stats = [summarise(d, prob) for d in draws]
    out = pd.DataFrame([{**r, **s} for r, s in zip(rows, stats, strict=True)])
    if out.empty:
        out = pd.DataFrame(columns=[*(rows[0] if rows else {}), *STAT_COLUMNS])
    return out


def expand_table(
    table: pd.DataFrame, draws: np.ndarray, prob: float, levels: list | None = None
) -> pd.DataFrame:
    """Rows x draws (chain, draw, rows[, categories]) -> a tidy table; a trailing
    axis of outcome ``levels`` gives one row per (row, category)."""
    rows, cols = [], []
    for r, row in enumerate(table.to_dict("records")):
        if draws.ndim == 4:
            for k, level in enumerate(levels or []):
                rows.append({**row, "category": format_value(level)})
                cols.append(draws[:, :, r, k])
        else:
            rows.append(row)
            cols.append(draws[:, :, r])
    return tidy_table(rows, cols, prob)


def modifier_draws(fit: HetFit) -> Iterator[tuple[dict[str, str], np.ndarray]]:
    """({treatment, parameter}, draws) of every row of ``fit.modifiers()``."""
    a, lam, sig = fit.draws("a"), fit.draws("lambda"), fit.draws("sigma_theta")
    at_means = fit.draws("a_centred")
    for e, block in enumerate(fit.design.layout.equations):
        label = block.label
        yield {"treatment": label, "parameter": "intercept"}, a[..., e]
        if block.z_names:
            yield (
                {"treatment": label, "parameter": "intercept_at_means"},
                at_means[..., e],
            )
        for j, z in enumerate(block.z_names):
            yield {"treatment": label, "parameter": z}, lam[..., block.lambda_start + j]
        if block.has_groups and fit.info.get("deviations", {}).get(label, True):
            yield {"treatment": label, "parameter": "sigma_theta"}, sig[..., e]


def coefficient_draws(fit: HetFit) -> Iterator[tuple[dict[str, str], np.ndarray]]:
    """({parameter}, draws) of every row of ``fit.coefficients()``."""
    if "alpha" in fit.idata.posterior:
        yield {"parameter": "alpha"}, fit.draws("alpha")
    controls = fit.coords["control"]
    beta = fit.draws("beta") if controls else None  # no controls: no beta
    for k, name in enumerate(controls):
        yield {"parameter": f"beta[{name}]"}, beta[..., k]
    for name in fit.info.get("family_params", ()):
        values = fit.draws(name)
        if values.ndim == 2:
            yield {"parameter": name}, values
            continue
        labels = vector_labels(name, values.shape[-1], fit.info.get("levels"))
        for k, label in enumerate(labels):
            yield {"parameter": label}, values[..., k]
    factors = fit.coords.get("factor", [])
    if factors:  # the sds of the varying intercepts
        sd = fit.draws("sd_factor")
        for k, name in enumerate(factors):
            yield {"parameter": f"sd_{name}"}, sd[..., k]


def vector_labels(name: str, size: int, levels: list | None = None) -> list[str]:
    """Row labels of a vector parameter: cutpoints between named levels, else
    ``name[1]``, ``name[2]``, ..."""
    if name == "cutpoints" and levels:
        pairs = zip(levels[:-1], levels[1:], strict=True)
        return [f"cutpoints[{format_value(a)}|{format_value(b)}]" for a, b in pairs]
    return [name] if size == 1 else [f"{name}[{k + 1}]" for k in range(size)]
