"""The layout of W names its column blocks once; every block holds what its name
says, on random small designs (hypothesis, fixed seed)."""

import json
import warnings

import numpy as np
from hypothesis import HealthCheck, event, given, settings

import hetfx
from conftest import designs
from hetfx.design.grouping import NO_GROUP
from hetfx.design.layout import Layout
from hetfx.program.matrices import design_matrix
from hetfx.program.standata import build_stan_input, scaling


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=designs())
def test_w_blocks_hold_what_their_names_say(case):
    formula, frame = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            design = hetfx.HetModel(formula).design(frame)
        except hetfx.HetfxError:
            event("refused by the design checks")
            return  # a design the checks refuse (e.g. collinear); not this test's
        data = build_stan_input(design, hetfx.families.get_family("gaussian")).data
    event(f"{design.layout.E} equations, {design.layout.G} groups")
    layout = design.layout
    W = design_matrix(design, scaling(design))
    assert W.shape[1] == layout.P == 1 + data["K"] + data["E"] + data["L"] + data["G"]
    assert np.all(W[:, layout.intercept] == 1)
    assert layout.group_equation() == list(data["group_eq"])
    assert layout.lambda_equation() == list(data["lambda_eq"])
    for e, (eq, block) in enumerate(
        zip(design.equations, layout.equations, strict=True)
    ):
        t = eq.arm.values
        T = W[:, layout.treatment][:, e]
        if not block.has_groups:  # T carries the one pooled effect
            np.testing.assert_array_equal(T, t)
            continue
        np.testing.assert_array_equal(T, 0.0)
        groups = W[:, layout.groups][:, block.thetas]
        idx = eq.grouping.index
        for g in range(block.n_groups):
            np.testing.assert_array_equal(groups[:, g], np.where(idx == g, t, 0.0))
        # T.*(Z - zbar_g), scaled: zero outside the equation's treated units
        dev = W[:, layout.deviations][:, block.lambdas]
        assert np.all(dev[idx == NO_GROUP] == 0)
        zbar = eq.group_means()
        for j in range(len(block.z_names)):
            has = idx != NO_GROUP
            raw = t[has] * (eq.Z[has, j] - zbar[idx[has], j])
            scale = scaling(design).z_scale[block.lambda_start + j]
            np.testing.assert_allclose(dev[has, j], raw / scale, atol=1e-12)
            # the Stan data's zbar_g sits at the same place
            z_group = np.asarray(data["z_group"])[block.thetas, block.lambdas]
            np.testing.assert_allclose(z_group[:, j], zbar[:, j])


def test_layout_round_trips_through_json():
    layout = Layout.build(["x1", "x2"], [("a", ("z1",), 3), ("b[low]", (), 0)])
    again = Layout.from_dict(json.loads(json.dumps(layout.to_dict())))
    assert again == layout
    assert again.equations[1].thetas == slice(3, 3)
    assert again.theta_index() == [0, 1, 2, -1]
    assert (again.K, again.E, again.L, again.G, again.P) == (2, 2, 1, 3, 9)
