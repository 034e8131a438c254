"""The categorical program's correlation across categories (no sampling): the
Cholesky factors with which it decorrelates each coefficient's categories."""

import numpy as np
import pandas as pd
import pytest

from conftest import categorical_experiment
from hetfx.design.build import build_design
from hetfx.families import get_family
from hetfx.program.category_correlation import PSEUDO_COUNT
from hetfx.program.standata import build_stan_input


def _shares(y: pd.Series) -> np.ndarray:
    """The non-reference shares with PSEUDO_COUNT units of every category."""
    counts = y.value_counts().reindex(["A", "B", "C"], fill_value=0).to_numpy()
    return ((counts + PSEUDO_COUNT) / (counts.sum() + 3 * PSEUDO_COUNT))[1:]


@pytest.mark.parametrize("aggregate", [True, False])
def test_categories_correlate_as_the_multinomial_information_says(aggregate):
    """Two non-reference categories B, C against the reference A, shares q:
    the information m (diag(q) - q q') inverts to the correlation
    sqrt(q_B q_C / ((1 - q_B) (1 - q_C))) (alpha, beta); a group effect given
    sigma_theta = c has precision diag(1 / c^2) + M_g, so its correlation is
    m_g q_B q_C / sqrt(P_BB P_CC); a and lambda take the groups' estimates
    with variances M_g^-1 + diag(c^2). Merged rows give the same factors."""
    df = categorical_experiment()
    design = build_design("y ~ x | t : z1 + z2", df, warn_groups=False)
    data = build_stan_input(design, get_family("categorical"), aggregate=aggregate).data
    q = _shares(df["y"])
    rho = np.sqrt(q[0] * q[1] / ((1 - q[0]) * (1 - q[1])))
    controls = np.asarray(data["corr_controls"])
    np.testing.assert_allclose(controls, [[1, 0], [rho, np.sqrt(1 - rho**2)]])
    assert rho > 0.5  # far from what a diagonal metric can follow

    c = np.asarray(data["sigma_theta_reference_c"])[0]
    groups = np.asarray(data["corr_groups"])
    meta = np.zeros((2, 2))
    for slot, row in design.group_table().iterrows():  # theta's order
        rows = (df.t == 1) & (df.z1 == row["z1"]) & (df.z2 == row["z2"])
        m, qg = rows.sum(), _shares(df["y"][rows])
        info = m * (np.diag(qg) - np.outer(qg, qg))
        precision = np.diag(1 / c**2) + info
        rho_g = m * qg[0] * qg[1] / np.sqrt(precision[0, 0] * precision[1, 1])
        assert groups[slot][1, 0] == pytest.approx(rho_g)
        assert 0 < rho_g < rho  # the prior is independent across categories
        meta += np.linalg.inv(np.linalg.inv(info) + np.diag(c**2))
    treated = np.asarray(data["corr_treated"])
    assert treated.shape == (1, 2, 2)
    cov = np.linalg.inv(meta)
    rho_a = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    assert treated[0][1, 0] == pytest.approx(rho_a)
    for factor in (controls, *groups, *treated):  # unit rows: correlations
        np.testing.assert_allclose((factor**2).sum(axis=1), 1)


def test_forced_forms_and_the_priors_keep_categories_apart():
    """Fixed weights (a forced parameterisation) leave theta, a and lambda on
    the identity; from the priors, which are independent across categories,
    every factor is the identity."""
    df = categorical_experiment(seed=6, n=600)
    design = build_design("y ~ x | t : z1 + z2", df, warn_groups=False)
    family = get_family("categorical")
    eye = np.eye(2)
    forced = build_stan_input(design, family, parameterization="centred").data
    assert np.asarray(forced["corr_controls"])[1, 0] > 0.3
    groups = np.asarray(forced["corr_groups"])
    np.testing.assert_array_equal(groups, np.broadcast_to(eye, (4, 2, 2)))
    np.testing.assert_array_equal(forced["corr_treated"], eye[None])
    prior = build_stan_input(design, family, prior_only=True).data
    for name in ("corr_controls", "corr_treated", "corr_groups"):
        assert (np.asarray(prior[name]) == eye).all()
