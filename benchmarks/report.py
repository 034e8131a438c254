"""Shared output helpers of the benchmark scripts."""

from __future__ import annotations

import pandas as pd


def markdown_table(frame: pd.DataFrame, caption: str) -> str:
    """A markdown table for the docs (numbers to 3 decimals) with a caption."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n*{caption}.*\n"
