"""What every ``hetfx`` command shares: exit codes and printing."""

from __future__ import annotations

import sys
import warnings

import pandas as pd

from hetfx.errors import hetfx_warnings

EXIT_OK, EXIT_USER, EXIT_FAIL = 0, 2, 1


def _print_table(frame: pd.DataFrame) -> None:
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    """hetfx's own warnings (groups, convergence, missing data) on stderr, not
    the libraries' deprecation notices."""
    for w in hetfx_warnings(caught):
        print(f"warning: {w}", file=sys.stderr)
