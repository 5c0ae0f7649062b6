"""The GRASP table reproductions at a tiny size on WallSingle (full-size numbers are in
docs/results.md): the open-loop harness scores plans in the real simulator correctly, and each
reproduction writes a well-formed table, plot and JSON."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from wmplan_agents.reproduce import REPRODUCTIONS, make_settings, reproduce
from wmplan_agents.reproduce.open_loop import (
    decode_state,
    execute,
    make_problems,
    run_cell,
    zero_action_success,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


TINY = {
    "env": "wallsingle",
    "n_trials": 4,
    "cem_samples": 20,
    "cem_iterations": 3,
    "gd_iterations": 10,
    "latco_iterations": 10,
    "grasp_iterations": 20,
    "fractions": (0.5, 1.0),
}


def test_registry_and_settings_errors():
    for name in ("grasp-table1", "grasp-table2", "grasp-tables34"):
        cls, fn = REPRODUCTIONS[name].load()
        assert callable(fn) and isinstance(make_settings(name), cls)
    assert make_settings("grasp-table1").horizons == (40, 50, 60, 70, 80)
    assert make_settings("grasp-table2").horizon == 40
    with pytest.raises(ValueError, match="unknown planners"):
        make_settings("grasp-table1", planners=("cem", "nope"))
    with pytest.raises(ValueError, match="fractions"):
        make_settings("grasp-tables34", fractions=(0.0,))
    with pytest.raises(ValueError, match="envs"):
        make_settings("grasp-tables34", envs=("atari",))
    with pytest.raises(ValueError, match="noise_scales"):
        make_settings("grasp-table2", noise_scales=(0.0, 2.0))


@pytest.mark.parametrize("env", ["wallsingle", "pusht", "pusht-pixels"])
def test_goals_are_reached_by_their_own_actions_and_not_by_standing_still(env):
    horizon = 10
    problems = make_problems(env, horizon, [11, 12, 13])
    assert problems.goal_actions.shape[:2] == (3, horizon)
    final, anytime = execute(problems, problems.goal_actions)
    assert final.all() and anytime.all()
    # the same problems from the same seeds: deterministic
    again = make_problems(env, horizon, [11, 12, 13])
    np.testing.assert_array_equal(again.goal_states, problems.goal_states)
    if env == "wallsingle":  # 10 random-walk steps leave the 4.5 success radius here
        assert not zero_action_success(problems).any()
    if env == "pusht-pixels":  # images to plan from, states to score (the state env's test)
        assert problems.start_obs.shape == (3, 64, 64, 3) and problems.start_obs.dtype == np.uint8
        state_twin = make_problems("pusht", horizon, [11, 12, 13])
        np.testing.assert_array_equal(state_twin.goal_states, problems.goal_states)
    with pytest.raises(ValueError, match="expected 3"):
        execute(problems, problems.goal_actions[:2])


def test_decode_state_inverts_encode_including_angle_features():
    from wmplan_agents.models import AngleFeatureDynamics
    from wmplan_agents.models.pretrained import load_pretrained

    wall = load_pretrained("WMPlan/WallSingle-v0")
    x = torch.tensor([[10.0, 20.0, 30.0], [50.0, 8.0, 40.0]])
    np.testing.assert_allclose(decode_state(wall, wall.encode(x)), x.numpy(), atol=1e-4)
    space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    model = AngleFeatureDynamics(7, space, angle_dims=(4,), action_repeat=5)
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 6.0, 0.5, -0.5], [0.0, 0.0, 1.0, 1.0, 0.1, 0.0, 0.0]])
    out = decode_state(model, model.encode(x))
    np.testing.assert_allclose(out, x.numpy(), atol=1e-5)
    assert decode_state(object(), torch.zeros(1, 3)) is None


def test_run_cell_scores_consistently_and_is_deterministic():
    from wmplan_agents.models.pretrained import load_pretrained

    model = load_pretrained("WMPlan/WallSingle-v0")
    problems = make_problems("wallsingle", 10, [21, 22, 23, 24])
    kw = {"iterations": 20}
    a = run_cell(model, problems, "gd", kw, fractions=(0.5, 1.0), seed=3)
    b = run_cell(model, problems, "gd", kw, fractions=(0.5, 1.0), seed=3)
    assert a.success == b.success and a.planned_cost == pytest.approx(b.planned_cost)
    assert a.iterations == [10, 20] and a.rung_successes[-1] == a.successes
    for ok, anytime, t in zip(a.success, a.success_any, a.time_to_success, strict=True):
        assert anytime or not ok  # success at the end is success at some step
        assert math.isfinite(t) == ok
    # the time to success under the model: finite exactly for the trials the model calls a
    # success at the full budget, and one of the rungs' times
    assert a.success_model is not None and a.time_to_success_model is not None
    for ok, t in zip(a.success_model, a.time_to_success_model, strict=True):
        assert math.isfinite(t) == ok
        assert not ok or t in a.rung_time_s
    assert math.isfinite(a.median_time_model) == any(a.success_model)
    # gradient descent through the shipped model beats standing still on these problems
    assert a.successes > int(zero_action_success(problems).sum())
    with pytest.raises(ValueError, match="multiple of action_repeat"):
        model.action_repeat = 3
        try:
            run_cell(model, problems, "gd", kw)
        finally:
            model.action_repeat = 1


class _NaNModel:
    """A model whose predictions are NaN: every planner must fail, not crash the table."""

    def __init__(self, inner) -> None:
        self.inner, self.action_space = inner, inner.action_space

    def encode(self, obs):
        return self.inner.encode(obs)

    def step(self, z, a):
        return z * float("nan") + a.sum(-1, keepdim=True)


def test_a_diverging_planner_fails_its_trials_and_says_why():
    from wmplan_agents.models.pretrained import load_pretrained

    problems = make_problems("wallsingle", 10, [31, 32])
    model = _NaNModel(load_pretrained("WMPlan/WallSingle-v0"))
    cell = run_cell(model, problems, "grasp", {"iterations": 4}, fractions=(0.5, 1.0))
    assert cell.successes == 0 and cell.rung_successes == [0, 0]
    assert len(cell.errors) == 2 and "non-finite" in cell.errors[0]
    assert all(math.isnan(t) for t in cell.time_to_success)


def _json(result) -> dict:
    with open(result.files["json"]) as f:
        return json.load(f)


def test_grasp_table1_tiny(tmp_path):
    lines: list[str] = []
    r = reproduce("grasp-table1", tmp_path, echo=lines.append, horizons=(10,), **TINY)
    assert (tmp_path / "grasp_table1.png").stat().st_size > 0
    assert "Wilson" in lines[0] and "GRASP H=10" in lines[0]
    assert {c.planner for c in r.grid.cells} == {"CEM", "LatCo", "GD", "GRASP"}
    data = _json(r)
    assert data["paper"]["GRASP"]["40"] == [59.0, 8.5]
    assert len(data["result"]["grid"]["cells"]) == 4
    assert r.grid.replay_success[10] == 4  # the goals' own actions reach them


def test_grasp_table2_tiny(tmp_path):
    lines: list[str] = []
    r = reproduce(
        "grasp-table2", tmp_path, echo=lines.append, env="wallsingle", horizon=10, n_trials=4,
        iterations=20, sync_every=10, fractions=(1.0,),
    )  # fmt: skip
    assert (tmp_path / "grasp_table2.png").stat().st_size > 0
    labels = [c.planner for c in r.grid.cells]
    assert labels[0] == "no sync" and "gradient flows" in labels and "59.0%" in lines[0]
    full = [c for c in r.grid.cells if c.planner.endswith("(full)")]
    assert len(full) == 3 and all(c.success == full[0].success for c in full)
    assert len(_json(r)["result"]["grid"]["cells"]) == len(labels)


def test_grasp_tables34_tiny(tmp_path):
    lines: list[str] = []
    kw = {k: v for k, v in TINY.items() if k != "env"}
    r = reproduce(
        "grasp-tables34", tmp_path, echo=lines.append, envs=("wallsingle",), horizons=(10,),
        planners=("gd", "grasp"), **kw,
    )  # fmt: skip
    assert (tmp_path / "grasp_tables34_wallsingle.png").stat().st_size > 0
    assert "wallsingle GRASP H=10" in lines[0] and "95.2% / 1.6s" in lines[0]
    assert [c.planner for c in r.grids["wallsingle"].cells] == ["GD", "GRASP"]


def test_tables34_on_the_pixel_model_tiny(tmp_path):
    """The shipped Push-T pixel model plans from images; its rows carry Push-T's paper numbers
    (the paper's models are visual)."""
    lines: list[str] = []
    kw = {k: v for k, v in TINY.items() if k != "env"}
    r = reproduce(
        "grasp-tables34", tmp_path, echo=lines.append, envs=("pusht-pixels",), horizons=(10,),
        planners=("cem",), **kw,
    )  # fmt: skip
    assert "pusht-pixels CEM H=10" in lines[0] and "100.0% / 1.3s" in lines[0]
    cell = r.grids["pusht-pixels"].cells[0]
    assert cell.n == TINY["n_trials"] and cell.success_model is not None


def test_pusht_cell_times_success_under_the_model_separately_from_the_simulator():
    """The paper scores success under the model; a Push-T cell times those successes from the
    budget ladder on their own, whatever the simulator says about the same plans."""
    from wmplan_agents.models.pretrained import load_pretrained

    model = load_pretrained("WMPlan/PushT-v0")
    problems = make_problems("pusht", 10, [5000, 5001, 5002, 5003])
    cell = run_cell(model, problems, "gd", {"iterations": 100}, fractions=(0.5, 1.0), seed=0)
    assert cell.model_steps == 2 and cell.success_model is not None
    assert cell.time_to_success_model is not None
    assert any(cell.success_model)  # GD solves these 2-model-step problems under the model
    assert math.isfinite(cell.median_time_model)
    for ok, t in zip(cell.success_model, cell.time_to_success_model, strict=True):
        assert math.isfinite(t) == ok
    for ok, t in zip(cell.success, cell.time_to_success, strict=True):
        assert math.isfinite(t) == ok
