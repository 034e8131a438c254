"""The sampler at default settings on the designs users run (not a test).

{one binary modifier, 8 data-rich groups, 64 small groups, a binned continuous
modifier} x {gaussian, bernoulli}, 4 chains x (1000 + 1000), several seeds:
divergences, max R-hat, min bulk ESS, mean tree depth, warm fit time and the
parameterisation chosen. tests/test_robustness.py asserts the same designs at
one seed.

Usage: python benchmarks/robustness.py [--seeds 1 2 3] [--families gaussian]
"""

from __future__ import annotations

import argparse
import time
import warnings

import hetfx
from hetfx.datasets import robustness_design

DESIGNS = ("one_binary", "rich8", "small64", "binned")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--families", nargs="+", default=["gaussian", "bernoulli"])
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    print(
        f"{'family':10s} {'design':11s} {'seed':>4s} {'div':>4s} {'R-hat':>6s}"
        f" {'ESS':>6s} {'depth':>5s} {'secs':>6s}  form"
    )
    for family in args.families:
        for name in DESIGNS:
            for seed in args.seeds:
                formula, data = robustness_design(name, family, seed)
                model = hetfx.HetModel(formula, family=family, backend=args.backend)
                model.compile()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    start = time.perf_counter()
                    fit = model.fit(data, seed=seed, show_progress=False)
                    secs = time.perf_counter() - start
                diag = fit.diagnostics()
                depth = float(fit.idata.sample_stats["tree_depth"].mean())
                form = fit.info.get("centred_groups"), fit.info.get("noncentred_groups")
                print(
                    f"{family:10s} {name:11s} {seed:4d} {diag['divergences']:4d}"
                    f" {diag['max_rhat']:6.3f} {diag['min_ess_bulk']:6.0f} {depth:5.2f}"
                    f" {secs:6.1f}  centred/non-centred {form[0]}/{form[1]}"
                    + (
                        f", {fit.info['deviations']}"
                        if "deviations" in fit.info
                        else ""
                    )
                )


if __name__ == "__main__":
    main()
