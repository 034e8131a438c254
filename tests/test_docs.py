"""The docs' code examples and figure scripts run, so they cannot go stale."""

import importlib.util
import re
import warnings
from pathlib import Path

import pytest

from conftest import ROOT, TOMZ_WEEKS, serve

pytestmark = pytest.mark.sampling
DOCS = ROOT / "docs"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize(
    "page, printed",
    [
        ("index.md", "lower"),
        ("formula.md", "9 groups, treatments ['treat']"),
        ("families.md", "lower"),
        ("interpretation.md", "prob_rope"),
        ("batch.md", "skipped"),
        ("designs.md", "site=s01"),
    ],
)
def test_docs_examples_run(
    page, printed, gaussian_model, bernoulli_model, capsys, monkeypatch
):
    if page == "designs.md":  # the Tomz-Weeks file, served as a download would be
        if not TOMZ_WEEKS.is_file():
            pytest.skip(f"Tomz-Weeks data not found at {TOMZ_WEEKS}")
        server = serve(TOMZ_WEEKS.parent)
        host, port = server.server_address
        url = f"http://{host}:{port}/{TOMZ_WEEKS.name}"
        monkeypatch.setenv("HETFX_TOMZ_WEEKS_URL", url)
    blocks = python_blocks(DOCS / page)
    assert blocks, f"no python example in {page}"
    for block in blocks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(block, f"{page}", "exec"), {})
    out = capsys.readouterr().out
    assert "mean" in out or page == "formula.md"
    assert printed in out
    if page == "designs.md":
        server.shutdown()
        server.server_close()
        assert "ate_weighted" in out and "sd_respondent" in out


def test_worked_example_script_writes_figures_and_tables(gaussian_model, tmp_path):
    if not TOMZ_WEEKS.is_file():
        pytest.skip(f"Tomz-Weeks data not found at {TOMZ_WEEKS}")
    spec = importlib.util.spec_from_file_location(
        "tomz_weeks", DOCS / "scripts" / "tomz_weeks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = module.main(tmp_path, backend="pystan")
    for name in (
        "effects",
        "shrinkage",
        "modifiers",
        "ppc",
        "scenarios",
        "scenarios_by_modifier",
    ):
        assert (tmp_path / f"tomz_weeks_{name}.png").stat().st_size > 10_000
    assert len(tables["groups"]) == 24
    comp = tables["compare_ols"]
    assert len(comp) == 24 and comp["ols"].notna().all()
    # partial pooling: the hierarchical estimates vary less than the OLS ones
    assert comp["mean"].std() < comp["ols"].std()
    text = (tmp_path / "tomz_weeks_results.md").read_text()
    assert "## Hierarchical against OLS group effects" in text
    assert "## Experimental scenarios: the alliance effect in 32 scenarios" in text
    assert len(tables["scenario_compare_ols"]) == 32
    levels = tables["scenario_levels"]  # drawn in tomz_weeks_scenarios_by_modifier
    assert len(levels) == 2 + 2 + 2 + 4 and levels["ols"].notna().all()
    assert tables["pref_modifiers"]["rhat"].max() < 1.05
    # an alliance raises support for force, in probability points too
    assert (tables["force_ate_response"]["lower"] > 0).all()
    # every figure the worked example embeds exists in the repository
    page = (DOCS / "worked-example.md").read_text()
    for figure in re.findall(r"\]\((figures/[^)]+)\)", page):
        assert (DOCS / figure).is_file(), figure
