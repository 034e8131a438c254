"""Small simulation-based calibration: fails on gross miscalibration."""

import numpy as np
import pytest
from scipy import stats

from conftest import load_benchmark


@pytest.mark.sampling
def test_sbc_ranks_are_not_grossly_miscalibrated(gaussian_model, tmp_path):
    sbc = load_benchmark("sbc")
    ranks = sbc.run_sbc("gaussian", reps=20, seed=7, backend="pystan")
    assert len(ranks) == 20
    assert ranks[sbc.RANKED].to_numpy().min() >= 0
    assert ranks[sbc.RANKED].to_numpy().max() <= sbc.THIN_TO
    table = sbc.uniformity(ranks, bins=4)
    # per parameter: a miscalibrated posterior piles ranks into one end
    assert (table["p_value"] > 0.001).all(), table
    # all parameters together: 160 ranks in 4 bins
    pooled = np.histogram(ranks[sbc.RANKED].to_numpy(), bins=4, range=(0, 100))[0]
    assert stats.chisquare(pooled).pvalue > 0.001, pooled
    assert abs(ranks[sbc.RANKED].to_numpy().mean() / sbc.THIN_TO - 0.5) < 0.15
    sbc.plot(ranks, tmp_path / "sbc.png", "gaussian", bins=4)
    assert (tmp_path / "sbc.png").stat().st_size > 10_000


def test_uniformity_detects_piled_up_ranks():
    sbc = load_benchmark("sbc")
    import pandas as pd

    rng = np.random.default_rng(0)
    uniform = pd.DataFrame({n: rng.integers(0, 100, 200) for n in sbc.RANKED})
    piled = pd.DataFrame({n: rng.integers(0, 10, 200) for n in sbc.RANKED})
    assert (sbc.uniformity(uniform)["p_value"] > 0.001).all()
    assert (sbc.uniformity(piled)["p_value"] < 1e-10).all()
