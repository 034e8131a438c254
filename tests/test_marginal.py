"""Comparisons, slopes and hypotheses against direct computations on the draws;
tables for papers against golden files and a LaTeX compile."""

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import hetfx
from hetfx import OptionError

pytestmark = pytest.mark.sampling
GOLDEN = Path(__file__).parent / "golden"


def _fit(model, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opts = {"chains": 2, "iter_warmup": 300, "iter_sampling": 300, "seed": 1}
        return model.fit(data, **{**opts, **kw})


@pytest.fixture(scope="module")
def sim():
    return hetfx.datasets.simulate(n=1200, n_modifiers=3, seed=4)


@pytest.fixture(scope="module")
def fit(gaussian_model, sim):
    return _fit(hetfx.HetModel(sim.formula, backend="pystan"), sim.data)


def _survey(n=1500, seed=3, binary=False):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "t": rng.integers(0, 2, n),
            "dem": rng.integers(0, 2, n),
            "age": rng.uniform(20, 80, n),
        }
    )
    effect = 0.2 + 0.3 * df["dem"] + 0.01 * (df["age"] - 50)
    eta = 0.5 * df["x"] + 0.2 * df["dem"] + df["t"] * effect
    if binary:
        df["y"] = rng.binomial(1, expit(eta - 0.2))
    else:
        df["y"] = eta + rng.normal(size=n)
    return df


AGE_BINS = {"age": [20, 40, 60, 80]}


@pytest.fixture(scope="module")
def age_fit(gaussian_model):
    model = hetfx.HetModel("y ~ x | t : dem + age", bins=AGE_BINS, backend="pystan")
    return _fit(model, _survey())


@pytest.fixture(scope="module")
def logit_fit(bernoulli_model):
    model = hetfx.HetModel(
        "y ~ x | t : dem + age", family="bernoulli", bins=AGE_BINS, backend="pystan"
    )
    return _fit(model, _survey(binary=True))


def test_comparisons_on_the_link_scale_are_the_group_effects(fit):
    by_cell = fit.comparisons(by=["z1", "z2", "z3"])
    np.testing.assert_allclose(by_cell["mean"], fit.effects()["mean"], rtol=1e-12)
    assert (by_cell["n"] == fit.effects()["n_treated"]).all()
    overall = fit.comparisons()
    assert overall["mean"].item() == pytest.approx(fit.ate()["mean"].item(), rel=1e-12)
    z1 = fit.comparisons(by="z1").set_index("z1")["mean"]
    by = fit.by_modifier()
    avg = by[(by["modifier"] == "z1") & (by["kind"] == "average")]
    np.testing.assert_allclose(z1.to_numpy(), avg["mean"].to_numpy(), rtol=1e-12)


def test_datagrid_and_comparisons_on_a_grid(fit, sim):
    grid = hetfx.datagrid(fit, z1=[0, 1], z3=[1])
    assert len(grid) == 2 and (grid["z3"] == 1).all()
    assert grid["x1"].iloc[0] == pytest.approx(sim.data["x1"].mean())
    assert (grid["z2"] == sim.data["z2"].mode().iloc[0]).all()
    on_grid = fit.comparisons(by="z1", newdata=grid)
    eff = fit.effects().set_index("group")["mean"]
    z2 = int(grid["z2"].iloc[0])
    for z1 in (0, 1):
        label = f"z1={z1}, z2={z2}, z3=1"
        got = on_grid.set_index("z1").loc[z1, "mean"]
        assert got == pytest.approx(eff[label], rel=1e-12)
    with pytest.raises(OptionError, match="'age' is not a variable of the model"):
        hetfx.datagrid(fit, age=[30])
    with pytest.raises(OptionError, match="by: 'region' is not a column"):
        fit.comparisons(by="region")


def test_response_scale_comparisons_of_a_logit_fit_equal_numpy(logit_fit):
    post = logit_fit.idata.posterior
    design = logit_fit.design
    eq = design.equations[0]
    treated = eq.arm.treated
    alpha = post["alpha"].values.reshape(-1)
    beta = post["beta"].values.reshape(alpha.size, -1)
    theta = post["theta"].values.reshape(alpha.size, -1)
    lam = post["lambda"].values.reshape(alpha.size, -1)
    g = eq.grouping.index[treated]
    zbar = eq.group_means()[g]
    tau = theta[:, g] + lam @ (eq.Z[treated] - zbar).T
    eta0 = alpha[:, None] + beta @ design.X[treated].T
    effect = expit(eta0 + tau) - expit(eta0)
    dem = design.frame.loc[treated, "dem"].to_numpy()
    got = logit_fit.comparisons(by="dem", scale="response").set_index("dem")
    for value in (0, 1):
        direct = effect[:, dem == value].mean(axis=1).mean()
        assert got.loc[value, "mean"] == pytest.approx(direct, rel=1e-10)
    overall = logit_fit.comparisons(scale="response")["mean"].item()
    assert overall == pytest.approx(effect.mean(), rel=1e-10)
    assert overall == pytest.approx(
        logit_fit.ate(scale="response")["mean"].item(), rel=1e-10
    )


def test_slopes_are_lambda_on_the_link_scale(age_fit):
    slope = age_fit.slopes("age")
    age = age_fit.modifiers().set_index("parameter").loc["age"]
    assert slope["mean"].item() == pytest.approx(age["mean"], rel=1e-6)
    assert slope["sd"].item() == pytest.approx(age["sd"], rel=1e-5)
    by_dem = age_fit.slopes("age", by="dem")
    np.testing.assert_allclose(by_dem["mean"], age["mean"], rtol=1e-6)
    with pytest.raises(OptionError, match="'x' is not a modifier"):
        age_fit.slopes("x")


def test_response_scale_slopes_match_finite_differences(logit_fit):
    grid = hetfx.datagrid(logit_fit, dem=[0, 1], age=[50.0])
    slope = logit_fit.slopes("age", by="dem", newdata=grid, scale="response")
    up = logit_fit.comparisons(
        by="dem", newdata=grid.assign(age=50.5), scale="response"
    )
    down = logit_fit.comparisons(
        by="dem", newdata=grid.assign(age=49.5), scale="response"
    )
    difference = up["mean"].to_numpy() - down["mean"].to_numpy()  # same bin (40, 60]
    np.testing.assert_allclose(slope["mean"], difference, rtol=1e-3, atol=1e-7)
    assert (slope["term"] == "age").all()


def test_hypotheses_against_the_draws(fit):
    mods = fit.modifiers().set_index("parameter")
    one = fit.hypotheses("z1 > 0")
    assert one["prob"].item() == pytest.approx(mods.loc["z1", "prob_positive"])
    assert one["mean"].item() == pytest.approx(mods.loc["z1", "mean"])
    lam = fit.idata.posterior["lambda"].values
    combo = lam[..., 0] + 2 * lam[..., 1] - 0.5
    two = fit.hypotheses("z1 + 2 * z2 - 0.5 > 0.1", rope=(-0.05, 0.05))
    assert two["mean"].item() == pytest.approx(combo.mean() - 0.1)
    assert two["prob"].item() == pytest.approx(((combo - 0.1) > 0).mean())
    rope = ((combo - 0.1 > -0.05) & (combo - 0.1 < 0.05)).mean()
    assert two["prob_rope"].item() == pytest.approx(rope)
    less = fit.hypotheses("ate < 0.4")
    ate = fit.idata.posterior["ate"].values[..., 0]
    assert less["prob"].item() == pytest.approx((ate < 0.4).mean())
    groups = fit.hypotheses("z1=1, z2=0, z3=0 > z1=0, z2=0, z3=0")
    contrast = fit.contrast("z1=1, z2=0, z3=0", "z1=0, z2=0, z3=0")
    assert groups["mean"].item() == pytest.approx(contrast["mean"].item())
    assert groups["prob"].item() == pytest.approx(contrast["prob_positive"].item())
    partial = fit.hypotheses("z1=1 > z1=0")
    assert partial["mean"].item() == pytest.approx(
        fit.contrast("z1=1", "z1=0")["mean"].item()
    )
    each = fit.hypotheses(threshold=0.3)
    theta = fit.idata.posterior["theta"].values
    np.testing.assert_allclose(each["prob"], (theta > 0.3).mean(axis=(0, 1)))
    assert len(each) == 8 and (each["hypothesis"] == "effect > 0.3").all()


def test_hypotheses_errors_name_the_term(fit):
    with pytest.raises(OptionError, match=r"Unknown term 'dem' .*valid names: int"):
        fit.hypotheses("dem > 0")
    with pytest.raises(OptionError, match="not linear"):
        fit.hypotheses("z1 * z2 > 0")
    with pytest.raises(OptionError, match="Cannot read hypothesis"):
        fit.hypotheses("z1 + > 0")
    with pytest.raises(OptionError, match="needs an expression or a threshold"):
        fit.hypotheses()


def _tabular_rows(latex: str) -> list[str]:
    body = latex.split("\\midrule")[1].split("\\bottomrule")[0]
    return [r.strip() for r in body.strip().split("\\\\") if r.strip()]


def test_tables_for_papers(fit, tmp_path):
    md = fit.to_table("modifiers", "markdown")
    tex = fit.to_table("compare_ols", "latex", digits=2)
    both = hetfx.table({"Model 1": fit, "Model 2": fit}, kind="ate", format="latex")
    html = fit.to_table("effects", "html")
    for name, text in (("modifiers.md", md), ("compare_ols.tex", tex)):
        assert text == (GOLDEN / name).read_text(), name
    assert "<table" in html and "equal-tailed credible intervals" in html
    # LaTeX structure: a tabular with one & fewer per row than columns
    for latex, columns in ((tex, 3), (both, 3)):
        assert latex.count("\\begin{tabular}") == latex.count("\\end{tabular}") == 1
        assert all(row.count("&") == columns - 1 for row in _tabular_rows(latex))
    assert "Model 1 & Model 2" in both and "90\\% equal-tailed" in both
    with pytest.raises(OptionError, match="format must be one of markdown"):
        fit.to_table("effects", "docx")
    with pytest.raises(OptionError, match="kind must be one of effects"):
        fit.to_table("groups")
    pdflatex = shutil.which("pdflatex")
    if pdflatex:  # a real compile where TeX Live is installed (CI installs it)
        doc = tmp_path / "tables.tex"
        doc.write_text(
            "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n"
            + tex
            + "\n"
            + both
            + "\n\\end{document}\n"
        )
        out = subprocess.run(
            [pdflatex, "-interaction=nonstopmode", "-halt-on-error", doc.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout[-2000:]
        assert (tmp_path / "tables.pdf").stat().st_size > 1000


def test_plots_of_comparisons_and_slopes(age_fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = age_fit.plot_comparisons(by="dem")
    assert "treatment effect, outcome units" in ax.get_xlabel()
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == ["dem=0", "dem=1"]
    assert re.search(r"90% intervals", ax.get_title())
    plt.close(ax.figure)
    ax = age_fit.plot_slopes("age", by="dem")
    assert "slope of the treatment effect in age" in ax.get_xlabel()
    plt.close(ax.figure)


def test_comparisons_of_a_continuous_treatment_are_slopes(gaussian_model):
    rng = np.random.default_rng(5)
    n = 800
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "dose": rng.gamma(2.0, 1.0, n),
            "dem": rng.integers(0, 2, n),
        }
    )
    df["y"] = 0.3 * df["x"] + df["dose"] * (0.2 + 0.2 * df["dem"]) + rng.normal(size=n)
    fit = _fit(hetfx.HetModel("y ~ x | dose : dem", backend="pystan"), df)
    link = fit.comparisons(by="dem")
    response = fit.comparisons(by="dem", scale="response")
    # identity link: dE[y]/d dose is the slope itself, on either scale
    np.testing.assert_allclose(link["mean"], response["mean"], rtol=1e-6)
    np.testing.assert_allclose(link["mean"], fit.effects()["mean"], rtol=1e-12)
    assert fit.comparisons()["mean"].item() == pytest.approx(
        fit.ate()["mean"].item(), rel=1e-12
    )
    assert link["n"].sum() == n  # every unit has a group
