import warnings

import hetfx
from conftest import TOMZ_WEEKS_FORMULA


def test_paper_specification_gives_24_groups(tomz_weeks):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = hetfx.groups(TOMZ_WEEKS_FORMULA, tomz_weeks, main_effects=False)
    assert len(table) == 24
    assert table["n_treated"].sum() == 602
    assert table["n_treated"].min() == 1
    assert table["n_treated"].max() == 55
    assert list(table.columns[2:7]) == ["dem", "rep", "high_newsint", "white", "male"]
    assert table["group"].iloc[0] == "dem=0, rep=0, high_newsint=0, white=0, male=0"
    assert any("fewer than 5 treated units" in str(w.message) for w in caught)
