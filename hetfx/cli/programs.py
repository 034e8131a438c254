"""``hetfx compile``, ``info`` and ``install-cmdstan``: the Stan programs and
the backends that run them."""

from __future__ import annotations

import argparse
import socket
import sys

import pandas as pd

from hetfx import __version__
from hetfx.cli.common import EXIT_FAIL, EXIT_OK

CMDSTAN_HOST = ("github.com", 443)


def _online(host: tuple[str, int] = CMDSTAN_HOST, timeout: float = 5.0) -> bool:
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False


def cmd_install_cmdstan(args: argparse.Namespace) -> int:
    """Install CmdStan with cmdstanpy's installer (downloads from GitHub)."""
    if not _online():
        print(
            "hetfx: error: cannot reach github.com to download CmdStan (no network); "
            "use the pystan backend instead (pip install pystan; backend='pystan').",
            file=sys.stderr,
        )
        return EXIT_FAIL
    import cmdstanpy

    ok = cmdstanpy.install_cmdstan(
        version=args.version, dir=args.dir, cores=args.cores, progress=True
    )
    if not ok:
        print("hetfx: error: cmdstanpy could not install CmdStan.", file=sys.stderr)
        return EXIT_FAIL
    print(f"CmdStan installed: {cmdstanpy.cmdstan_path()}")
    return EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    """Precompile every program (one per likelihood structure) for the backend."""
    from hetfx.datasets import FAMILY_OPTIONS
    from hetfx.families import get_family
    from hetfx.model import HetModel
    from hetfx.program.render import PROGRAMS, program_of

    programs = list(PROGRAMS)
    if args.family:  # every program a family runs (gaussian: two)
        wanted = {program_of(f) for f in args.family}
        wanted |= {p for p in PROGRAMS for f in args.family if f in PROGRAMS[p]}
        programs = [p for p in PROGRAMS if p in wanted]
    for program in programs:
        name = PROGRAMS[program][0]
        family = get_family(name, **FAMILY_OPTIONS.get(name, {}))
        varying = " + (1 | g)" if program == "gaussian_rows" else ""
        model = HetModel(
            f"y ~ x1{varying} | treat : z1",
            family=family,
            backend=args.backend,
            collapsed=program == "gaussian_collapsed" if name == "gaussian" else None,
        )
        compiled = model.compile()
        state = "compiled" if compiled.compiled_now else "already cached"
        print(
            f"{program:18s} {model.backend.name:10s} {state:15s} "
            f"{compiled.seconds:6.1f} s  families: {', '.join(PROGRAMS[program])}"
        )
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    """Show the backends, CmdStan, the cache folder and the programs in it."""
    from hetfx.backends import BACKENDS
    from hetfx.backends.cache import cache_dir, folder_size, list_programs, read_meta
    from hetfx.program.render import PROGRAMS

    print(f"hetfx {__version__}")
    for name, cls in BACKENDS.items():
        ok, why = cls.available()
        print(f"backend {name:10s} {'available' if ok else 'not available: ' + why}")
        if ok:
            print(f"  cache tag {cls().version_tag()}")
    try:
        import cmdstanpy

        print(f"CmdStan path: {cmdstanpy.cmdstan_path()}")
        print(f"CmdStan version: {cmdstanpy.cmdstan_version()}")
    except Exception as exc:  # no CmdStan: cmdstanpy raises ValueError
        print(f"CmdStan: not found ({exc})")
    print(f"cache folder: {cache_dir()}")
    programs = list_programs()
    print(f"compiled programs: {len(programs)}")
    rows = []
    for path in programs:
        meta = read_meta(path)
        program = str(meta.get("program", "?")).removeprefix("hetfx_")
        rows.append(
            {
                "program": program,
                "families": ", ".join(PROGRAMS.get(program, ())) or "?",
                "backend": path.parent.name,
                "compiled": meta.get("built", "?"),
                "size": f"{folder_size(path) / 2**20:.1f} MiB",
                "folder": path.name,
            }
        )
    if rows:
        print(pd.DataFrame(rows).to_string(index=False))
    return EXIT_OK
