"""Bad input never crashes: random formulas and data frames either work or raise
a HetfxError that names a variable or a formula part (hypothesis, fixed seed)."""

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import hetfx
from hetfx.program.standata import build_stan_input

NAMES = ["y", "x", "t", "z1", "z2", "w"]
N = 40
KINDS = [
    "normal",
    "levels",
    "binary",
    "constant",
    "missing",
    "infinite",
    "text",
    "categorical",
    "categorical_per_row",
    "bool",
    "all_missing",
]


def column(kind: str, rng: np.random.Generator) -> pd.Series:
    """One column of N rows of the given kind."""
    if kind == "normal":
        return pd.Series(rng.normal(size=N))
    if kind == "levels":
        return pd.Series(rng.integers(0, 30, N))
    if kind == "binary":
        return pd.Series(rng.integers(0, 2, N))
    if kind == "constant":
        return pd.Series(np.ones(N))
    if kind == "missing":
        values = rng.normal(size=N)
        values[rng.choice(N, 5, replace=False)] = np.nan
        return pd.Series(values)
    if kind == "infinite":
        values = rng.normal(size=N)
        values[rng.choice(N, 2, replace=False)] = np.inf
        return pd.Series(values)
    if kind == "text":
        return pd.Series(rng.choice(["a", "b", "c"], N))
    if kind == "categorical":
        return pd.Series(pd.Categorical(rng.choice(["lo", "mid", "hi"], N)))
    if kind == "categorical_per_row":
        return pd.Series(pd.Categorical([f"r{i}" for i in range(N)]))
    if kind == "bool":
        return pd.Series(rng.integers(0, 2, N).astype(bool))
    return pd.Series(np.full(N, np.nan))


@st.composite
def frames(draw) -> pd.DataFrame:
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    # most columns well formed, one or two of an awkward kind
    kinds = dict.fromkeys(NAMES, "normal")
    kinds.update({"t": "binary", "z1": "binary", "z2": "levels"})
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=2)):
        kinds[name] = draw(st.sampled_from(KINDS))
    frame = pd.DataFrame({n: column(k, rng) for n, k in kinds.items()})
    if draw(st.integers(0, 5)) == 0:  # a renamed column
        frame = frame.rename(columns={draw(st.sampled_from(NAMES)): "renamed"})
    return frame


def terms(names: list[str]):
    """A formula term over ``names``: a name, C(), log(), an interaction, backticks."""
    return st.sampled_from(names).flatmap(
        lambda v: st.sampled_from([v, v, v, f"C({v})", f"log({v})", f"{v}:x", f"`{v}`"])
    )


JUNK = st.sampled_from(["", "|", ":", "~", ")", "(", "+", "1", "0", "??", "| t"])


@st.composite
def formulas(draw) -> str:
    outcome = draw(st.sampled_from(["y", "y", "y", "y", "log(y)", "C(y)", "w"]))
    controls = " + ".join(draw(st.lists(terms(["x", "w"]), max_size=2))) or draw(
        st.sampled_from(["1", ""])
    )
    parts = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 0]))):
        treatment = draw(st.sampled_from(["t", "t", "t", "z1", "log(t)"]))
        modifiers = " + ".join(
            draw(st.lists(terms(["z1", "z2", "w"]), max_size=3, unique=True))
        )
        parts.append(f"{treatment} : {modifiers or '1'}")
    text = f"{outcome} ~ {controls}" + "".join(f" | {p}" for p in parts)
    if draw(st.integers(0, 7)) == 0:  # now and then something malformed
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(JUNK) + text[cut:]
    return text


def _names_a_part(message: str, formula: str, frame: pd.DataFrame) -> bool:
    tokens = [*NAMES, *frame.columns, "formula", formula]
    return any(str(tok) in message for tok in tokens)


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    formula=formulas(),
    frame=frames(),
    family=st.sampled_from(["gaussian", "bernoulli", "poisson", "ordinal"]),
)
def test_groups_and_design_checks_fail_cleanly(formula, frame, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            hetfx.groups(formula, frame)
            model = hetfx.HetModel(formula, family=family)
            build_stan_input(model.design(frame), model.family)
            event("fitted")
        except hetfx.HetfxError as exc:
            event(f"{type(exc).__name__}: {str(exc)[:40]}")
            assert _names_a_part(str(exc), formula, frame), str(exc)
