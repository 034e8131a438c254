"""A fit as text (``print(fit)``) and as HTML (notebooks), every table with the
scale it is on and ESS as whole numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit

COLUMNS = ["mean", "sd", "lower", "upper", "rhat", "ess_bulk"]


def _tables(fit: HetFit, prob: float) -> list[tuple[str, pd.DataFrame]]:
    """Titled tables of the summary, the statistics rounded for reading."""
    scale = fit.scale_name("link")
    parts = [
        (
            f"Average treatment effects ({scale}, {prob:.0%} intervals)",
            fit.ate(prob),
            ["treatment"],
        ),
        (
            f"Modifiers ({scale}; intercept at modifiers = 0, intercept_at_means "
            "at the treated units' mean modifiers)",
            fit.modifiers(prob),
            ["treatment", "parameter"],
        ),
        (f"Group effects ({scale})", fit.effects(prob), ["treatment", "group"]),
    ]
    out = []
    for title, table, keys in parts:
        if "n_treated" in table.columns:
            keys = [*keys, "n_treated"]
        table = table[[*keys, *COLUMNS]].copy()
        table["ess_bulk"] = table["ess_bulk"].round().astype("Int64")
        out.append((title, table))
    return out


def summary_text(fit: HetFit, prob: float = 0.9) -> str:
    """The text of ``print(fit)``."""
    diag = fit.diagnostics()
    n_groups = len(fit.effects(prob))
    lines = [
        f"hetfx fit: {fit.formula}",
        f"  family {fit.family}, backend {fit.backend}, "
        f"{fit.info.get('n', '?')} units, {n_groups} groups, "
        f"{diag['chains']} chains x {diag['draws']} draws, seed {fit.seed}",
        f"  effects on the link scale: {fit.scale_name('link')}",
        *sampling_notes(fit.info),
    ]
    for title, table in _tables(fit, prob):
        text = table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
        lines += ["", f"{title}:", text]
    lines += [
        "",
        "Diagnostics: "
        + ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in diag.items()
        ),
    ]
    return "\n".join(lines)


def sampling_notes(info: dict) -> list[str]:
    """How the fit was sampled: the program, the form of the group effects and
    the equations fitted without group deviations."""
    notes = []
    program = info.get("program")
    if program == "gaussian_collapsed":
        notes.append(
            "  sampled: the scales only (sigma, sigma_theta, intercept sds); "
            "coefficients integrated out"
        )
    elif info.get("program_note"):
        notes.append(f"  sampled: {info['program_note']}")
    if "centred_groups" in info and program != "gaussian_collapsed":
        notes.append(
            f"  group effects: {info['centred_groups']} mostly centred, "
            f"{info['noncentred_groups']} mostly non-centred (adaptive)"
        )
    plain = [label for label, kept in info.get("deviations", {}).items() if not kept]
    if plain:
        notes.append(
            f"  no group deviations (interaction model) for: {', '.join(plain)}"
        )
    return notes


def summary_html(fit: HetFit, prob: float = 0.9) -> str:
    """The notebook display of a fit."""
    parts = [
        f"<h4>hetfx fit</h4><p><code>{fit.formula}</code> &middot; "
        f"{fit.family} &middot; {fit.backend}</p>"
    ]
    for title, table in _tables(fit, prob):
        parts += [
            f"<b>{title}</b>",
            table.to_html(index=False, float_format="%.3f"),
        ]
    parts += ["<b>Diagnostics</b>", fit.diagnostics().to_frame().to_html()]
    return "\n".join(parts)
