"""The worked example: Tomz and Weeks (2021), respondent heterogeneity.

Fits the paper's respondent-heterogeneity model with hetfx, compares the
hierarchical group effects with the fully interacted OLS model, and writes the
figures and tables of docs/worked-example.md.

Usage: python docs/scripts/tomz_weeks.py [--out docs/figures] [--backend auto]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import hetfx  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = (
    ROOT.parent / "shared" / "data" / "tomz-weeks-2021" / "2017-04-YouGov-extracted.dta"
)
FORMULA = hetfx.datasets.TOMZ_WEEKS_FORMULA


def load_data(path: Path = DATA) -> pd.DataFrame:
    """The paper's coding of the YouGov survey experiment."""
    return hetfx.datasets.tomz_weeks(path)


def main(out: Path, backend: str = "auto") -> dict[str, pd.DataFrame]:
    out.mkdir(parents=True, exist_ok=True)
    df = load_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        groups = hetfx.groups(FORMULA, df, main_effects=False)
        fit = hetfx.fit(
            FORMULA,
            df,
            main_effects=False,
            backend=backend,
            seed=2021,
            adapt_delta=0.95,
        )
    comp = fit.compare_ols()
    tables = {
        "groups": groups,
        "ate": fit.ate(),
        "modifiers": fit.modifiers(),
        "by_modifier": fit.by_modifier(),
        "compare_ols": comp,
        "diagnostics": fit.diagnostics().to_frame(),
    }
    for name, table in tables.items():
        table.to_csv(out / f"tomz_weeks_{name}.csv", index=name == "diagnostics")
    figures = {
        "effects": lambda: fit.plot_effects(ols=True),
        "shrinkage": fit.plot_shrinkage,
        "modifiers": fit.plot_modifiers,
        "ppc": fit.plot_ppc,
    }
    for name, draw in figures.items():
        ax = draw()
        ax.figure.savefig(out / f"tomz_weeks_{name}.png", dpi=110)
        plt.close(ax.figure)
    gap = np.sqrt(np.nanmean((comp["ols"] - comp["mean"]) ** 2))
    results = [
        "# Tomz-Weeks results (generated)",
        "",
        "Written by `docs/scripts/tomz_weeks.py`; do not edit by hand.",
        "",
        "## Average effect of an alliance",
        "",
        markdown_table(fit.ate(), ["treatment", "mean", "sd", "lower", "upper"]),
        "",
        "## Modifiers",
        "",
        markdown_table(
            fit.modifiers(),
            ["parameter", "mean", "sd", "lower", "upper", "prob_positive"],
        ),
        "",
        "## Effect by modifier value",
        "",
        markdown_table(
            fit.by_modifier(),
            ["modifier", "value", "kind", "n_treated", "mean", "lower", "upper"],
        ),
        "",
        "## Hierarchical against OLS group effects",
        "",
        markdown_table(
            comp,
            [
                "group",
                "n_treated",
                "mean",
                "lower",
                "upper",
                "ols",
                "ols_lower",
                "ols_upper",
                "shrinkage",
            ],
        ),
        "",
        f"Root mean square gap between the OLS and hierarchical estimates: {gap:.3f}.",
        f"Diagnostics: {dict(fit.diagnostics())}.",
        "",
    ]
    (out / "tomz_weeks_results.md").write_text("\n".join(results))
    print("\n".join(results))
    return tables


def markdown_table(frame: pd.DataFrame, columns: list[str]) -> str:
    """A small pipe table, numbers to 3 decimals."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.3f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in frame[columns].iterrows():
        lines.append("| " + " | ".join(cell(row[c]) for c in columns) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    main(args.out, args.backend)
