"""``hetfx demo``, ``groups``, ``fit`` and ``batch``."""

from __future__ import annotations

import argparse
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from hetfx.cli.common import EXIT_FAIL, EXIT_OK, _print_table, _print_warnings
from hetfx.errors import OptionError


def cmd_demo(args: argparse.Namespace) -> int:
    """Fit the built-in simulated experiment and compare with the truth."""
    from hetfx.api import fit
    from hetfx.datasets import simulate

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
    from hetfx.batch.worker import write_results
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
        groups=_key_values(args.groups, "--groups") or None,
        weights=args.weights,
        normalize_weights=not args.raw_weights,
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
            **({} if args.adapt_delta is None else {"adapt_delta": args.adapt_delta}),
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
    from hetfx.batch import fit_many, read_jobs

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
            groups=_key_values(args.groups, "--groups") or None,
        )
    _print_warnings(caught)
    _print_table(table)
    return EXIT_OK
