"""The application: Tomz and Weeks (2021).

Fits the paper's respondent-heterogeneity model and its experimental-scenario
model with hetfx, compares the hierarchical group effects with the fully
interacted OLS model, refits the respondent model with the ordinal ``pref`` and
the bernoulli ``force`` outcomes, and writes the figures and tables of
docs/worked-example.md.

Usage: python docs/scripts/tomz_weeks.py [--out docs/figures] [--backend auto]
       [--data 2017-04-YouGov-extracted.dta]
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
RESPONDENT = "dem + rep + high_newsint + white + male"
# the alliance effect across the 32 scenarios: regime x stakes x costs x region
SCENARIO_FORMULA = (
    f"force ~ {RESPONDENT} + age + educ4"
    " | alliance : regime + stakes + costs + C(region)"
)
PREF_FORMULA = FORMULA.replace("force ~", "pref ~")


def load_data(path: Path | None = None) -> pd.DataFrame:
    """The paper's coding of the YouGov survey experiment: from ``path``, the
    project's shared copy, or hetfx's download cache (see
    ``hetfx.datasets.tomz_weeks``)."""
    if path is None and DATA.is_file():
        path = DATA
    return hetfx.datasets.tomz_weeks(path)


def main(
    out: Path, backend: str = "auto", data: Path | None = None
) -> dict[str, pd.DataFrame]:
    out.mkdir(parents=True, exist_ok=True)
    df = load_data(data)
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
    results += other_models(df, out, backend, tables)
    (out / "tomz_weeks_results.md").write_text("\n".join(results))
    print("\n".join(results))
    return tables


def other_models(
    df: pd.DataFrame, out: Path, backend: str, tables: dict[str, pd.DataFrame]
) -> list[str]:
    """The scenario model, and the respondent model with other outcomes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        scenario = hetfx.fit(
            SCENARIO_FORMULA, df, backend=backend, seed=2021, adapt_delta=0.95
        )
        pref = hetfx.fit(
            PREF_FORMULA,
            df,
            family="ordinal",
            main_effects=False,
            backend=backend,
            seed=2021,
        )
        force = hetfx.fit(
            FORMULA,
            df,
            family="bernoulli",
            main_effects=False,
            backend=backend,
            seed=2021,
        )
    tables["scenario_compare_ols"] = scenario.compare_ols()
    tables["scenario_by_modifier"] = scenario.by_modifier()
    tables["pref_modifiers"] = pref.modifiers()
    tables["force_ate_response"] = force.ate(scale="response")
    for name in ("scenario_compare_ols", "scenario_by_modifier"):
        tables[name].to_csv(out / f"tomz_weeks_{name}.csv", index=False)
    ax = scenario.plot_effects(ols=True)
    ax.figure.set_size_inches(7, 9)
    ax.figure.savefig(out / "tomz_weeks_scenarios.png", dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    by_mod = tables["scenario_by_modifier"]
    fig, ax = plt.subplots(figsize=(7, 4))
    levels = by_mod[by_mod["kind"] == "average"].reset_index(drop=True)
    comp = tables["scenario_compare_ols"]
    scenario_groups = hetfx.groups(SCENARIO_FORMULA, df)
    ols_means = []
    for _, row in levels.iterrows():
        mask = scenario_groups[row["modifier"]].astype(str) == str(row["value"])
        weights = comp.loc[mask.to_numpy(), "n_treated"]
        ols_means.append(np.average(comp.loc[mask.to_numpy(), "ols"], weights=weights))
    levels["ols"] = ols_means
    tables["scenario_levels"] = levels
    y = np.arange(len(levels))
    ax.errorbar(
        levels["mean"],
        y,
        xerr=[levels["mean"] - levels["lower"], levels["upper"] - levels["mean"]],
        fmt="o",
        label="hierarchical (90%)",
    )
    ax.plot(ols_means, y + 0.2, "x", color="C3", label="OLS groups, averaged")
    ax.set_yticks(
        y, [f"{m} = {v}" for m, v in zip(levels.modifier, levels.value, strict=True)]
    )
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("effect of an alliance on support for force")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "tomz_weeks_scenarios_by_modifier.png", dpi=110)
    plt.close(fig)
    return [
        "## Experimental scenarios: the alliance effect in 32 scenarios",
        "",
        markdown_table(scenario.ate(), ["treatment", "mean", "sd", "lower", "upper"]),
        "",
        markdown_table(
            by_mod, ["modifier", "value", "kind", "n_treated", "mean", "lower", "upper"]
        ),
        "",
        "## Ordinal outcome (pref, 5 levels): modifiers on the logit scale",
        "",
        markdown_table(pref.modifiers(), ["parameter", "mean", "sd", "lower", "upper"]),
        "",
        "## Bernoulli outcome (force): ATE in probability points",
        "",
        markdown_table(
            tables["force_ate_response"], ["treatment", "mean", "sd", "lower", "upper"]
        ),
        "",
        f"Gaussian (linear probability) ATE for comparison: "
        f"{float(tables['ate']['mean'][0]):.3f}.",
        "",
    ]


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
    parser.add_argument("--data", type=Path, help="a local copy of the .dta file")
    args = parser.parse_args()
    try:
        main(args.out, args.backend, args.data)
    except hetfx.DataError as error:  # no copy and no download: say where to get it
        raise SystemExit(f"tomz_weeks.py: {error}") from None
