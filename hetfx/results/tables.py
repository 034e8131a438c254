"""Tables for papers, in the layout modelsummary uses: one row per parameter, one
column per model, each cell the estimate over its interval, and a note saying
the scale and the interval type. Rendered by pandas (``to_markdown`` through
tabulate, ``to_latex``, ``to_html``).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd

from hetfx.errors import OptionError

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit

KINDS = ("effects", "modifiers", "ate", "coefficients", "compare_ols")
FORMATS = ("markdown", "latex", "html")


def _check(kind: str, format: str, digits: int) -> None:
    if kind not in KINDS:
        raise OptionError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    if format not in FORMATS:
        raise OptionError(
            f"format must be one of {', '.join(FORMATS)}; got {format!r}."
        )
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise OptionError(f"digits must be a whole number >= 0, got {digits!r}.")


def _estimates(fit: HetFit, kind: str, prob: float) -> pd.DataFrame:
    """``term``, ``mean``, ``lower``, ``upper`` of one kind of table."""
    several = len(fit.coords["treatment"]) > 1
    if kind == "effects":
        out = fit.effects(prob)
        terms = out["group"].astype(str)
    elif kind == "modifiers":
        out = fit.modifiers(prob)
        terms = out["parameter"].astype(str)
    elif kind == "ate":
        out = fit.ate(prob)
        terms, several = out["treatment"].astype(str), False
    else:
        out = fit.coefficients(prob)
        terms, several = out["parameter"].astype(str), False
    if several:
        terms = out["treatment"].astype(str) + ": " + terms
    return pd.DataFrame(
        {
            "term": terms.to_numpy(),
            "mean": out["mean"].to_numpy(),
            "lower": out["lower"].to_numpy(),
            "upper": out["upper"].to_numpy(),
        }
    )


def _layout(columns: dict[str, pd.DataFrame], digits: int) -> pd.DataFrame:
    """Rows: each term's estimate, then its interval below it; a column each."""
    terms = list(dict.fromkeys(t for est in columns.values() for t in est["term"]))
    body: dict[str, list[str]] = {name: [] for name in columns}
    index: list[str] = []
    for term in terms:
        index += [term, ""]
        for name, est in columns.items():
            hit = est[est["term"] == term]
            if hit.empty:
                body[name] += ["", ""]
                continue
            row = hit.iloc[0]
            if pd.isna(row["mean"]):
                body[name] += ["", ""]
                continue
            body[name].append(f"{row['mean']:.{digits}f}")
            interval = (
                f"[{row['lower']:.{digits}f}, {row['upper']:.{digits}f}]"
                if pd.notna(row["lower"])
                else ""
            )
            body[name].append(interval)
    return pd.DataFrame(body, index=pd.Index(index))


def render(frame: pd.DataFrame, format: str, note: str) -> str:
    """The table in ``format`` with its note below it."""
    if format == "markdown":
        return frame.to_markdown() + f"\n\n{note}\n"
    if format == "latex":
        tabular = frame.to_latex(escape=True, column_format="l" + "c" * frame.shape[1])
        return tabular + "\\par\\footnotesize " + note.replace("%", r"\%") + "\n"
    return frame.to_html(border=0) + f"\n<p>{html.escape(note)}</p>\n"


def table(
    models: dict[str, HetFit],
    kind: str = "modifiers",
    format: str = "markdown",
    digits: int = 3,
    prob: float = 0.9,
) -> str:
    """Several fits side by side, as modelsummary lays out regression tables.

    Parameters
    ----------
    models : dict
        Column title -> fit, e.g. ``{"Model 1": fit1, "Model 2": fit2}``.
    kind : {"modifiers", "effects", "ate", "coefficients"}
        Which table of each fit.
    format : {"markdown", "latex", "html"}
    digits : int
    prob : float
        Level of the intervals.

    Returns
    -------
    str
        The table; LaTeX output is a booktabs ``tabular`` followed by the note.
    """
    _check(kind, format, digits)
    if kind == "compare_ols":
        raise OptionError("compare_ols tables are of one fit: fit.to_table(kind=...).")
    if not isinstance(models, dict) or not models:
        raise OptionError("table() needs a dict of fits, e.g. {'Model 1': fit}.")
    columns = {str(name): _estimates(fit, kind, prob) for name, fit in models.items()}
    scales = list(dict.fromkeys(fit.scale_name("link") for fit in models.values()))
    note = (
        f"Posterior means with {prob:.0%} equal-tailed credible intervals in "
        f"brackets; scale: {'; '.join(scales)}."
    )
    return render(_layout(columns, digits), format, note)


def to_table(
    fit: HetFit,
    kind: str = "effects",
    format: str = "markdown",
    digits: int = 3,
    prob: float = 0.9,
) -> str:
    """One fit's table for a paper; ``kind="compare_ols"`` puts the hierarchical
    and the OLS estimates side by side (on the scale of ``compare_ols``)."""
    _check(kind, format, digits)
    if kind != "compare_ols":
        return table({"estimate": fit}, kind, format, digits, prob)
    comp = fit.compare_ols(prob)
    terms = comp["group"].astype(str).to_numpy()
    if comp["treatment"].nunique() > 1:
        terms = (comp["treatment"].astype(str) + ": " + comp["group"]).to_numpy()

    def side(mean: str, lower: str, upper: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "term": terms,
                "mean": comp[mean].to_numpy(),
                "lower": comp[lower].to_numpy(),
                "upper": comp[upper].to_numpy(),
            }
        )

    columns = {
        "hierarchical": side("mean", "lower", "upper"),
        "OLS": side("ols", "ols_lower", "ols_upper"),
    }
    note = (
        f"Hierarchical: posterior means with {prob:.0%} equal-tailed credible "
        f"intervals; OLS: the fully interacted regression with {prob:.0%} HC2 "
        f"confidence intervals; scale: {comp['scale'].iloc[0]}."
    )
    return render(_layout(columns, digits), format, note)
