"""The ``hetfx`` command line: demo, fit, groups, batch, compile, info,
install-cmdstan."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

from hetfx.cli.common import EXIT_FAIL, EXIT_USER
from hetfx.cli.parser import build_parser
from hetfx.errors import HetfxError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HetfxError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"hetfx: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("hetfx: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or a backend crash: one line unless --debug
        if args.debug:
            traceback.print_exc()
        print(f"hetfx: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAIL
