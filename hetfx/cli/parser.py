"""The argument parser of the ``hetfx`` command line, one function per command."""

from __future__ import annotations

import argparse
from typing import Any

from hetfx import __version__
from hetfx.cli.fitting import cmd_batch, cmd_demo, cmd_fit, cmd_groups
from hetfx.cli.programs import cmd_compile, cmd_info, cmd_install_cmdstan
from hetfx.datasets import FAMILIES as SIM_FAMILIES


def _grouping_arguments(parser: argparse.ArgumentParser) -> None:
    """``--bins``, ``--control`` and ``--groups``, shared by ``fit`` and
    ``groups``."""
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
    parser.add_argument(
        "--groups",
        action="append",
        metavar="TREAT=VAR",
        help="groups given by a variable: treat=state (repeatable); the same as "
        "'treat : gdp ~ state' in the formula",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(
        prog="hetfx",
        description="Bayesian hierarchical models of heterogeneous treatment effects.",
    )
    parser.add_argument("--version", action="version", version=f"hetfx {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(sub)
    _add_groups(sub)
    _add_compile(sub)
    _add_info(sub)
    _add_fit(sub)
    _add_batch(sub)
    _add_install_cmdstan(sub)
    return parser


def _add_demo(sub: Any) -> None:
    """``hetfx demo``."""
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


def _add_groups(sub: Any) -> None:
    """``hetfx groups``."""
    grp = sub.add_parser(
        "groups", help="print the groups a formula makes of a data file"
    )
    grp.add_argument("data", help="CSV, TSV, Parquet or Stata file")
    grp.add_argument("--formula", "-f", required=True)
    grp.add_argument("--no-main-effects", action="store_true")
    _grouping_arguments(grp)
    grp.set_defaults(func=cmd_groups)


def _add_compile(sub: Any) -> None:
    """``hetfx compile``."""
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


def _add_info(sub: Any) -> None:
    """``hetfx info``."""
    info = sub.add_parser(
        "info", help="backends, CmdStan, cache folder and compiled programs"
    )
    info.set_defaults(func=cmd_info)


def _add_fit(sub: Any) -> None:
    """``hetfx fit``."""
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
    fit.add_argument("--weights", help="a column of survey weights")
    fit.add_argument(
        "--raw-weights",
        action="store_true",
        help="use the weights as given (default: scaled to mean 1)",
    )
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
    fit.add_argument(
        "--adapt-delta",
        type=float,
        default=None,
        help="target acceptance rate (default: 0.8 or 0.95, see fit())",
    )
    fit.add_argument("--out", "-o", help="output folder (default: <data>-hetfx)")
    fit.add_argument("--overwrite", action="store_true")
    fit.set_defaults(func=cmd_fit)


def _add_batch(sub: Any) -> None:
    """``hetfx batch``."""
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


def _add_install_cmdstan(sub: Any) -> None:
    """``hetfx install-cmdstan``."""
    inst = sub.add_parser(
        "install-cmdstan", help="install CmdStan (cmdstanpy's installer)"
    )
    inst.add_argument("--version", help="CmdStan version (default: latest)")
    inst.add_argument("--dir", help="install folder (default: cmdstanpy's)")
    inst.add_argument("--cores", type=int, default=1, help="cores for the build")
    inst.set_defaults(func=cmd_install_cmdstan)
