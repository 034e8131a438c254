import pytest

from hetfx import FormulaError, HetfxError
from hetfx.formula import parse_formula, split_top_level


@pytest.mark.parametrize(
    "text, outcome, controls, parts",
    [
        ("y ~ x1 + x2 | treat : z1 + z2", "y", "x1 + x2", [("treat", "z1 + z2")]),
        ("y ~ 1 | t : z", "y", "1", [("t", "z")]),
        ("y ~ | t : z", "y", "", [("t", "z")]),
        ("y ~ x | t : 1", "y", "x", [("t", "1")]),
        ("y ~ x | t : z1 + z2 + z1:z2", "y", "x", [("t", "z1 + z2 + z1:z2")]),
        ("y ~ x | t : z | s : w", "y", "x", [("t", "z"), ("s", "w")]),
        ("y ~ C(g) + log(x) | t : I(z**2)", "y", "C(g) + log(x)", [("t", "I(z**2)")]),
        ("y ~ f(a | b) | t : z", "y", "f(a | b)", [("t", "z")]),
        ("y ~ x | `my treat` : `a b`", "y", "x", [("my treat", "`a b`")]),
        ("y~x|t:z", "y", "x", [("t", "z")]),
    ],
)
def test_forms(text, outcome, controls, parts):
    f = parse_formula(text)
    assert f.outcome == outcome
    assert f.controls == controls
    assert [(p.treatment, p.modifiers) for p in f.parts] == parts


def test_variables_and_modifier_flags():
    f = parse_formula("y ~ x1 + C(g) | t : z1 + z1:z2 | s : 1")
    assert f.variables == ["y", "x1", "g", "t", "z1", "z2", "s"]
    assert f.parts[0].modifier_variables == ["z1", "z2"]
    assert f.parts[1].has_modifiers is False
    assert parse_formula("y ~ 1 | t : z").has_controls is False
    assert parse_formula("y ~ | t : z").has_controls is False


def test_split_respects_brackets_and_quotes():
    assert split_top_level("a + f(b | c) | d", "|") == ["a + f(b | c) ", " d"]
    assert split_top_level("`x|y` | z", "|") == ["`x|y` ", " z"]
    assert split_top_level("t : I(a:b)", ":") == ["t ", " I(a:b)"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("y x1 | t : z", "no '~'"),
        ("y ~ a ~ b | t : z", "more than one '~'"),
        (" ~ x | t : z", "nothing stands left of '~'"),
        ("y ~ x1 + x2", "no '| treatment : modifiers' part"),
        ("y ~ x | t z", "treatment part 1 ('t z'): there is no ':'"),
        ("y ~ x | : z", "the treatment left of ':' is empty"),
        ("y ~ x | t :", "the modifiers right of ':' are empty"),
        ("y ~ x |", "treatment part 1: the part after '|' is empty"),
        ("y ~ x | t : z | t : w", "treatment 't' appears twice"),
        ("y ~ y + x | t : z", "the outcome 'y' is also used as a control"),
        ("y ~ x | t : t + z", "treatment 't' is its own modifier"),
        ("y ~ x | t : y", "the outcome is used as a modifier"),
        ("y ~ x | y : z", "the outcome is used as the treatment"),
        ("y ~ t | t : z", "treatment 't' is also a control"),
        ("y ~ x | log(t) : z", "must be a single variable name"),
        ("y ~ f(x | t : z", "Unbalanced brackets"),
    ],
)
def test_errors_quote_formula_and_part(text, fragment):
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, HetfxError) and isinstance(info.value, ValueError)
    if "Unbalanced" not in fragment:
        assert repr(" ".join(text.split())) in str(info.value)


def test_not_a_string():
    with pytest.raises(FormulaError, match="non-empty string"):
        parse_formula(None)
