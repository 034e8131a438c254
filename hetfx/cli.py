"""The ``hetfx`` command line: demo, groups, compile, info."""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Sequence

import pandas as pd

from . import __version__
from .datasets import FAMILIES as SIM_FAMILIES
from .errors import HetfxError

EXIT_OK, EXIT_USER, EXIT_FAIL = 0, 2, 1


def _print_table(frame: pd.DataFrame) -> None:
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def cmd_demo(args: argparse.Namespace) -> int:
    """Fit the built-in simulated experiment and compare with the truth."""
    from .datasets import simulate
    from .model import fit

    sim = simulate(
        n=args.n, n_modifiers=args.modifiers, family=args.family, seed=args.seed
    )
    print(f"hetfx demo: {args.n} simulated units, {2**args.modifiers} groups")
    print(f"formula: {sim.formula}   family: {args.family}\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(
            sim.formula,
            sim.data,
            family=sim.family_object,
            backend=args.backend,
            chains=args.chains,
            iter_warmup=args.iter,
            iter_sampling=args.iter,
            seed=args.seed,
        )
    effects = result.effects().merge(sim.effects, on=["treatment", "group"])
    inside = (effects["lower"] <= effects["true_effect"]) & (
        effects["true_effect"] <= effects["upper"]
    )
    effects["covered"] = inside.map({True: "yes", False: "no"})
    print("Group effects: estimate (90% interval) against the truth")
    _print_table(
        effects[
            ["group", "n_treated", "mean", "lower", "upper", "true_effect", "covered"]
        ]
    )
    ate = result.ate().iloc[0]
    print(
        f"\nATE: {ate['mean']:.3f} ({ate['lower']:.3f}, {ate['upper']:.3f}); "
        f"true {sim.ate:.3f}"
    )
    mods = result.modifiers()
    truth = {"intercept": sim.a, **sim.lambda_, "sigma_theta": sim.sigma_theta}
    mods["true"] = mods["parameter"].map(truth)
    print("\nModifiers against the truth")
    _print_table(mods[["parameter", "mean", "lower", "upper", "true"]])
    print(
        f"\nCoverage of the 90% intervals: {inside.mean():.0%} of {len(effects)} groups"
    )
    diag = result.diagnostics()
    print(
        f"\nDiagnostics ({result.backend}): "
        + ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in diag.items()
        )
    )
    print(
        f"Timing: compile/load {result.timing['compile']:.1f} s, sampling "
        f"{result.timing['sampling']:.1f} s"
    )
    for w in caught:
        print(f"warning: {w.message}")
    return EXIT_OK


def cmd_groups(args: argparse.Namespace) -> int:
    """Print the group table of a formula on a data file."""
    from .design import groups
    from .io import read_data

    data = read_data(args.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = groups(args.formula, data, main_effects=not args.no_main_effects)
    _print_table(table)
    for w in caught:
        print(f"warning: {w.message}")
    return EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    """Precompile every program (one per likelihood structure) for the backend."""
    from .datasets import FAMILY_OPTIONS
    from .families import get_family
    from .model import HetModel
    from .program import PROGRAMS, program_of

    programs = list(PROGRAMS)
    if args.family:
        programs = list(dict.fromkeys(program_of(f) for f in args.family))
    for program in programs:
        name = PROGRAMS[program][0]
        family = get_family(name, **FAMILY_OPTIONS.get(name, {}))
        model = HetModel("y ~ x1 | treat : z1", family=family, backend=args.backend)
        compiled = model.compile()
        state = "compiled" if compiled.compiled_now else "already cached"
        print(
            f"{program:10s} {model.backend.name:10s} {state:15s} "
            f"{compiled.seconds:6.1f} s  families: {', '.join(PROGRAMS[program])}"
        )
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    """Show the backends, CmdStan, the cache folder and the programs in it."""
    from .backends import BACKENDS
    from .backends.cache import cache_dir, list_programs

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
    for path in programs:
        print(f"  {path.parent.name}/{path.name}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hetfx",
        description="Bayesian hierarchical models of heterogeneous treatment effects.",
    )
    parser.add_argument("--version", action="version", version=f"hetfx {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="fit a simulated experiment with known effects")
    demo.add_argument("--family", default="gaussian", choices=list(SIM_FAMILIES))
    demo.add_argument(
        "--backend", default="auto", choices=["auto", "cmdstanpy", "pystan"]
    )
    demo.add_argument("--n", type=int, default=2000, help="units (default 2000)")
    demo.add_argument("--modifiers", type=int, default=4, help="binary modifiers")
    demo.add_argument("--chains", type=int, default=4)
    demo.add_argument("--iter", type=int, default=1000, help="warmup = sampling iters")
    demo.add_argument("--seed", type=int, default=2026)
    demo.set_defaults(func=cmd_demo)

    grp = sub.add_parser(
        "groups", help="print the groups a formula makes of a data file"
    )
    grp.add_argument("data", help="CSV, TSV, Parquet or Stata file")
    grp.add_argument("--formula", "-f", required=True)
    grp.add_argument("--no-main-effects", action="store_true")
    grp.set_defaults(func=cmd_groups)

    comp = sub.add_parser("compile", help="precompile every family's Stan program")
    comp.description = (
        "Compile the Stan programs into the cache folder, once per machine: "
        "gaussian, binomial (bernoulli, binomial), count (poisson, negative "
        "binomial), student_t and ordinal."
    )
    comp.add_argument(
        "--backend", default="auto", choices=["auto", "cmdstanpy", "pystan"]
    )
    comp.add_argument(
        "--family", action="append", help="only this family's program (repeatable)"
    )
    comp.set_defaults(func=cmd_compile)

    info = sub.add_parser("info", help="backends, CmdStan, cache folder")
    info.set_defaults(func=cmd_info)
    return parser


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
