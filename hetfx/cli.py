"""The ``hetfx`` command line: demo, fit, groups, batch, compile, info,
install-cmdstan."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hetfx import __version__
from hetfx.datasets import FAMILIES as SIM_FAMILIES
from hetfx.errors import HetfxError, OptionError, hetfx_warnings

EXIT_OK, EXIT_USER, EXIT_FAIL = 0, 2, 1


def _print_table(frame: pd.DataFrame) -> None:
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    """hetfx's own warnings (groups, convergence, missing data) on stderr, not
    the libraries' deprecation notices."""
    for w in hetfx_warnings(caught):
        print(f"warning: {w}", file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    """Fit the built-in simulated experiment and compare with the truth."""
    from hetfx.datasets import simulate
    from hetfx.model import fit

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
    treated = sim.data[sim.data["treat"] == 1]
    at_means = sim.a + sum(v * treated[m].mean() for m, v in sim.lambda_.items())
    truth = {
        "intercept": sim.a,
        "intercept_at_means": at_means,
        **sim.lambda_,
        "sigma_theta": sim.sigma_theta,
    }
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
    _print_warnings(caught)
    return EXIT_OK


def _key_values(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise OptionError(f"Write {what} as key=value; got {item!r}.")
        out[key.strip()] = value.strip()
    return out


def _bins(items: list[str] | None) -> dict[str, Any] | None:
    """``age=5`` (quantile bins) or ``age=18,30,50,90`` (edges)."""
    out: dict[str, Any] = {}
    for key, value in _key_values(items, "--bins").items():
        try:
            numbers = [float(v) for v in value.split(",")]
        except ValueError as exc:
            raise OptionError(f"--bins {key}={value}: numbers expected.") from exc
        out[key] = int(numbers[0]) if len(numbers) == 1 else numbers
    return out or None


def _control(items: list[str] | None) -> Any:
    """``--control placebo`` (every treatment) or ``--control arm=placebo``."""
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        return items[0]
    return _key_values(items, "--control")


def _output_folder(args: argparse.Namespace) -> Path:
    """The output folder of ``hetfx fit``, checked before any compile or sampling."""
    out = Path(args.out or f"{Path(args.data).stem}-hetfx")
    if out.exists() and not out.is_dir():
        raise OptionError(f"Output folder {str(out)!r} is a file; pass --out DIR.")
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise OptionError(
            f"Output folder {str(out)!r} is not empty; pass --overwrite or --out."
        )
    return out


def _family(args: argparse.Namespace) -> Any:
    from hetfx.families import get_family

    options = {
        k: getattr(args, k)
        for k in ("trials", "exposure", "reference")
        if getattr(args, k, None)
    }
    return get_family(args.family, **options)


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit a formula to a data file; print and write the tables and plots."""
    from hetfx.batch.jobs import write_results
    from hetfx.model import HetModel
    from hetfx.priors import parse_priors

    out = _output_folder(args)
    model = HetModel(
        args.formula,
        family=_family(args),
        priors=parse_priors(args.prior or []),
        main_effects=not args.no_main_effects,
        bins=_bins(args.bins),
        control=_control(args.control),
        backend=args.backend,
        parameterization=args.parameterization,
        deviations={"auto": None, "yes": True, "no": False}[args.deviations],
    )
    data = args.data  # the model reads files; Parquet partition by partition
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(
            data,
            chains=args.chains,
            iter_warmup=args.iter_warmup,
            iter_sampling=args.iter_sampling,
            seed=args.seed,
            adapt_delta=args.adapt_delta,
        )
    _print_warnings(caught)
    print(
        f"hetfx fit: {args.formula}   family: {result.family}   "
        f"rows: {result.info['n']}   scale: {result.scale_name()}"
    )
    for title, table in (
        ("Group effects", result.effects(args.prob)),
        ("Modifiers", result.modifiers(args.prob)),
        ("Average treatment effect", result.ate(args.prob)),
    ):
        print(f"\n{title} ({args.prob:.0%} intervals)")
        _print_table(table.drop(columns=["ess_tail"], errors="ignore"))
    diag = result.diagnostics()
    print("\nDiagnostics: " + ", ".join(f"{k} {v:.4g}" for k, v in diag.items()))
    out.mkdir(parents=True, exist_ok=True)
    if (out / "fit").exists():
        shutil.rmtree(out / "fit")
    write_results(result, out, prob=args.prob)
    written = _write_plots(result, out)
    print(f"\nWrote tables (CSV), the saved fit and {written} plots (PNG) to {out}")
    return EXIT_OK


def _write_plots(result: Any, out: Path) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = ["plot_effects", "plot_modifiers"]
    if result.design.has_rows and not result.categories:
        plots += ["plot_shrinkage", "plot_ppc"]
    for name in plots:
        ax = getattr(result, name)()
        ax.figure.savefig(out / f"{name.removeprefix('plot_')}.png", dpi=120)
        plt.close(ax.figure)
    return len(plots)


def cmd_batch(args: argparse.Namespace) -> int:
    """Run the jobs of a TOML job file; exit 1 when a job failed."""
    from hetfx.batch.jobs import fit_many, read_jobs

    jobs, settings = read_jobs(args.jobs)
    out = args.out or settings.get("out")
    if not out:
        raise OptionError(
            "Give the output folder: --out DIR, or out = ... in the file."
        )
    if not os.path.isabs(out) and not args.out:
        out = os.path.join(os.path.dirname(os.path.abspath(args.jobs)), out)
    client = None
    executor: Any = None
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise OptionError(
                'The Dask executor needs the dask extra: pip install "hetfx[dask]".'
            ) from exc
        try:
            client = Client(args.scheduler, timeout="10s")
        except OSError as exc:
            raise OptionError(
                f"Cannot reach the Dask scheduler at {args.scheduler!r}: {exc}"
            ) from exc
        executor = client
    elif args.workers and args.workers > 1:
        executor = "processes"
    try:
        manifest = fit_many(
            jobs,
            out,
            executor,
            workers=args.workers,
            fail_fast=args.fail_fast,
            progress=not args.no_progress,
        )
    finally:
        if client is not None:
            client.close()
    cols = [c for c in ("name", "status", "run", "seconds", "error") if c in manifest]
    _print_table(manifest[cols].fillna(""))
    failed = int((manifest["status"] != "done").sum())
    done = len(manifest) - failed
    print(f"\n{done} done, {failed} failed; manifest: {out}/manifest.json")
    return EXIT_OK if failed == 0 else EXIT_FAIL


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


def cmd_groups(args: argparse.Namespace) -> int:
    """Print the group table of a formula on a data file."""
    from hetfx.design.build import groups
    from hetfx.io import read_data

    data = read_data(args.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = groups(
            args.formula,
            data,
            main_effects=not args.no_main_effects,
            bins=_bins(args.bins),
            control=_control(args.control),
        )
    _print_warnings(caught)
    _print_table(table)
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
        model = HetModel(
            "y ~ x1 | treat : z1",
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


def _grouping_arguments(parser: argparse.ArgumentParser) -> None:
    """``--bins`` and ``--control``, shared by ``fit`` and ``groups``."""
    parser.add_argument(
        "--bins",
        action="append",
        metavar="VAR=K|EDGES",
        help="bins of a continuous modifier: age=5 or age=18,30,50,90 (repeatable)",
    )
    parser.add_argument(
        "--control",
        action="append",
        metavar="[TREAT=]LEVEL",
        help="control level of a categorical treatment: arm=placebo (repeatable)",
    )


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
    _grouping_arguments(grp)
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

    info = sub.add_parser(
        "info", help="backends, CmdStan, cache folder and compiled programs"
    )
    info.set_defaults(func=cmd_info)

    fit = sub.add_parser("fit", help="fit a formula to a data file")
    fit.description = (
        "Fit, print the tables, and write effects.csv, modifiers.csv, "
        "coefficients.csv, ate.csv, diagnostics.csv, the saved fit (fit/) and "
        "the plots (PNG) to --out. Parquet data of gaussian models is read "
        "partition by partition."
    )
    fit.add_argument("data", help="CSV, TSV, Parquet or Stata file")
    fit.add_argument("--formula", "-f", required=True)
    fit.add_argument("--family", default="gaussian")
    fit.add_argument("--trials", help="binomial: the trials column")
    fit.add_argument("--exposure", help="poisson/negative binomial: exposure column")
    fit.add_argument("--reference", help="categorical: the reference category")
    fit.add_argument(
        "--prior",
        action="append",
        metavar="KEY=DIST",
        help="e.g. sigma_theta=half_normal(0.5) (repeatable)",
    )
    _grouping_arguments(fit)
    fit.add_argument("--no-main-effects", action="store_true")
    fit.add_argument(
        "--prob", type=float, default=0.9, help="interval level (default 0.9)"
    )
    fit.add_argument(
        "--parameterization",
        default="auto",
        choices=["auto", "noncentred", "centred"],
    )
    fit.add_argument(
        "--deviations",
        default="auto",
        choices=["auto", "yes", "no"],
        help="group deviations from a + zbar lambda (auto: where the data inform them)",
    )
    fit.add_argument(
        "--backend", default="auto", choices=["auto", "cmdstanpy", "pystan"]
    )
    fit.add_argument("--chains", type=int, default=4)
    fit.add_argument("--iter-warmup", type=int, default=1000)
    fit.add_argument("--iter-sampling", type=int, default=1000)
    fit.add_argument("--seed", type=int, default=None)
    fit.add_argument("--adapt-delta", type=float, default=0.8)
    fit.add_argument("--out", "-o", help="output folder (default: <data>-hetfx)")
    fit.add_argument("--overwrite", action="store_true")
    fit.set_defaults(func=cmd_fit)

    batch = sub.add_parser("batch", help="run the jobs of a TOML job file")
    batch.description = (
        "Run every [[job]] of a TOML file (see hetfx.batch.read_jobs and the "
        "README); finished jobs are skipped on a rerun. Exit 0 when every job "
        "is done, 1 when some failed."
    )
    batch.add_argument("jobs", help="the TOML job file")
    batch.add_argument("--out", "-o", help="output folder (or out = ... in the file)")
    where = batch.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes")
    where.add_argument("--scheduler", help="address of a Dask scheduler")
    batch.add_argument("--fail-fast", action="store_true")
    batch.add_argument("--no-progress", action="store_true")
    batch.set_defaults(func=cmd_batch)

    inst = sub.add_parser(
        "install-cmdstan", help="install CmdStan (cmdstanpy's installer)"
    )
    inst.add_argument("--version", help="CmdStan version (default: latest)")
    inst.add_argument("--dir", help="install folder (default: cmdstanpy's)")
    inst.add_argument("--cores", type=int, default=1, help="cores for the build")
    inst.set_defaults(func=cmd_install_cmdstan)
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
