"""The long-horizon comparison: detour problems, the wide-latent model, evaluation counts,
``compare`` and ``wmplan compare`` at a tiny size."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import wmplan_envs  # noqa: F401
from wmplan_agents import compare
from wmplan_agents.cli import app
from wmplan_agents.reproduce.open_loop import CountingModel, execute

torch.set_num_threads(1)


def test_wall_reset_options_fix_start_goal_and_door():
    env = gym.make("WMPlan/WallSingle-v0")
    opts = {"start": (10.0, 20.0), "goal": (50.0, 40.0), "door_y": 30.0}
    obs, info = env.reset(seed=3, options=opts)
    np.testing.assert_allclose(info["state"], [10, 20, 30])
    np.testing.assert_allclose(info["goal_state"], [50, 40, 30])
    # the other draws are unchanged: only the door fixed
    _, plain = env.reset(seed=3)
    _, door_only = env.reset(seed=3, options={"door_y": 30.0})
    np.testing.assert_allclose(door_only["state"][:2], plain["state"][:2])
    for bad in ({"start": (32.0, 20.0)}, {"goal": (1.0, 2.0)}, {"door_y": 80.0}, {"speed": 1}):
        with pytest.raises(ValueError):
            env.reset(seed=0, options=bad)
    env.reset(seed=0)  # still usable
    env.step(np.zeros(2, dtype=np.float32))


def test_detour_problems_are_detours_that_a_scripted_route_reaches():
    problems = compare.detour_problems("wall-detour", 50, 6, seed=123)
    assert problems.n == 6
    for i in range(problems.n):
        opts = problems.reset_options[i]
        (sx, sy), (gx, gy), door = opts["start"], opts["goal"], opts["door_y"]
        cross = sy + (gy - sy) * (32.0 - sx) / (gx - sx)
        assert abs(cross - door) >= 12.0  # the straight line misses the door
        assert (sx < 32.0) != (gx < 32.0)  # opposite sides of the wall
    final, _ = execute(problems, problems.goal_actions)
    assert final.all()
    # doing nothing, or heading straight for the goal, does not reach it
    straight = (
        np.clip((problems.goal_states[:, None, :2] - problems.start_obs[:, None, :2]) * 0.5, -1, 1)
        .repeat(50, axis=1)
        .astype(np.float32)
    )
    assert execute(problems, straight)[1].sum() == 0
    maze = compare.detour_problems("maze-arms", 150, 2, seed=5)
    assert execute(maze, maze.goal_actions)[0].all()
    with pytest.raises(ValueError, match="longer horizon"):
        compare.detour_problems("maze-arms", 20, 1)
    with pytest.raises(ValueError, match="family"):
        compare.detour_problems("push-t", 50, 1)


def test_pusht_reset_options_fix_start_and_goal_actions():
    env = gym.make("WMPlan/PushT-v0")
    start = [100.0, 120.0, 250.0, 260.0, 0.5]
    _, info = env.reset(seed=1, options={"start": start})
    np.testing.assert_allclose(info["state"][:5], start, atol=1e-3)
    acts = np.tile(np.array([[0.2, 0.0]], dtype=np.float32), (7, 1))
    _, info = env.reset(seed=1, options={"start": start, "goal_actions": acts})
    goal = info["goal_state"]
    for a in acts:  # replaying the actions from the start reaches the goal exactly
        _, _, _, _, info = env.step(a)
    np.testing.assert_array_equal(info["state"], goal)
    np.testing.assert_array_equal(env.unwrapped.goal_actions, acts)
    for bad in (
        {"start": [1.0, 2.0]},
        {"start": [1.0, 2.0, 3.0, 4.0, float("nan")]},
        {"start": [600.0, 2.0, 3.0, 4.0, 0.0]},
        {"goal_actions": np.zeros((3, 3))},
        {"goal_actions": np.full((2, 2), np.inf)},
        {"speed": 1},
    ):
        with pytest.raises(ValueError):
            env.reset(seed=0, options=bad)
    with pytest.raises(ValueError, match="reachable"):
        gym.make("WMPlan/PushT-v0", task="pusht").reset(options={"goal_actions": acts})
    env.reset(seed=0)  # still usable
    env.step(np.zeros(2, dtype=np.float32))


def test_pusht_around_problems_need_the_agent_behind_the_block():
    problems = compare.detour_problems("pusht-around", 75, 5, seed=77)
    start, goal = problems.start_obs.astype(np.float64), problems.goal_states
    for i in range(problems.n):
        c0, c1 = compare._t_centre(start[i]), compare._t_centre(goal[i])
        towards_agent = (start[i, :2] - c0) / np.linalg.norm(start[i, :2] - c0)
        assert (c1 - c0) @ towards_agent >= 30.0  # the block goes towards the agent's side
    final, _ = execute(problems, problems.goal_actions)
    assert final.all()
    # doing nothing, or heading straight for the agent's goal position, does not reach it
    zeros = np.zeros_like(problems.goal_actions)
    assert execute(problems, zeros)[1].sum() == 0
    line = goal[:, None, :2] - start[:, None, :2]
    step = line / np.linalg.norm(line, axis=-1, keepdims=True) * 0.2
    straight = np.repeat(step, 75, axis=1).astype(np.float32)
    assert execute(problems, straight)[1].sum() == 0
    with pytest.raises(ValueError, match="longer horizon"):
        compare.detour_problems("pusht-around", 20, 1)
    pixels = compare.detour_problems("pusht-around-pixels", 75, 2, seed=77)
    assert pixels.start_obs.shape == (2, 64, 64, 3) and pixels.start_obs.dtype == np.uint8
    np.testing.assert_array_equal(pixels.goal_states, goal[:2])


def test_wide_latent_model_is_exact_on_the_embedded_states():
    base = compare.family_model("wall-detour")
    wide = compare.WideLatentModel(base, dim=64)
    x = torch.tensor([[10.0, 20.0, 30.0], [50.0, 40.0, 12.0]])
    a = torch.rand(2, 10) * 2 - 1
    z = wide.encode(x)
    assert z.shape == (2, 64)
    torch.testing.assert_close(wide.to_state(wide.step(z, a)), base.step(x, a), atol=1e-4, rtol=0)


def test_counting_model_counts_the_rows_a_planner_evaluates():
    from wmplan_agents.planners import make_planner

    counter = CountingModel(compare.family_model("wall-detour"))
    z0, goal = torch.tensor([[10.0, 20.0, 30.0]]), torch.tensor([[50.0, 40.0, 30.0]])
    make_planner("cem", n_samples=40, n_elites=4, iterations=3).plan(counter, z0, goal, 6)
    assert 40 * 6 * 3 <= counter.rows <= 40 * 6 * 3 + 6 * 10  # + the final scoring rollouts
    assert counter.action_repeat == 5  # other attributes are the model's


def test_compare_and_the_cli_at_a_tiny_size(tmp_path):
    planners = {
        "CEM": ("cem", {"n_samples": 30, "n_elites": 3, "iterations": 4}),
        "GRASP (CEM sync)": ("grasp", {"sync": "cem", "iterations": 20, "sync_every": 10}),
    }
    result = compare.compare(
        "wall-detour", (25,), planners, n_trials=3, fractions=(0.5, 1.0), closed_loop=True
    )
    assert [c.planner for c in result.cells] == ["CEM", "GRASP (CEM sync)"]
    for c in result.cells:
        assert len(c.rung_time_s) == len(c.rung_evals) == len(c.rung_model_successes) == 2
        assert c.rung_evals[0] < c.rung_evals[1]
        # exact dynamics: success under the model is success in the simulator
        assert c.success_model == c.success
    assert [r.planner for r in result.closed] == ["CEM", "GRASP (CEM sync)"]
    alone = compare.compare(
        "wall-detour", (25,), {"CEM": planners["CEM"]}, n_trials=3, closed_loop=True,
        open_loop=False,
    )  # fmt: skip
    assert alone.cells == [] and alone.closed[0].success == result.closed[0].success
    assert "| CEM | " in "\n".join(compare.report(alone))
    with pytest.raises(ValueError, match="nothing to run"):
        compare.compare("wall-detour", (25,), open_loop=False)
    lines = compare.report(result)
    assert any(line.startswith("| CEM | ") for line in lines)
    assert result.replay_model == {25: 3}  # the exact model predicts every scripted route
    assert compare.plot(result, tmp_path / "c.png").exists()
    # the Push-T family with its physics model: the model's verdict on the routes is reported
    push = compare.compare("pusht-around", (75,), {"CEM": planners["CEM"]}, n_trials=2)
    assert push.replay_model[75] == push.replay[75] == 2
    assert "under the model" in compare.report(push)[0]
    # pixels: planned from images, scored (open and closed loop) on the true states
    tiny = {"CEM": ("cem", {"n_samples": 20, "n_elites": 2, "iterations": 2})}
    pix = compare.compare("pusht-around-pixels", (75,), tiny, n_trials=1, closed_loop=True)
    assert pix.cells[0].n == 1 and len(pix.closed[0].success) == 1
    out = CliRunner().invoke(
        app,
        ["compare", "wall-detour", "--horizon", "25", "--planner", "cem", "--trials", "2",
         "--no-closed-loop", "--out", str(tmp_path)],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert (tmp_path / "wall-detour.md").exists() and (tmp_path / "wall-detour.png").exists()
    bad = CliRunner().invoke(app, ["compare", "wall-detour", "--planner", "nope"])
    assert bad.exit_code == 2 and "unknown planners" in bad.output


def test_the_families_with_accurate_models_predict_their_scripted_routes():
    from wmplan_agents.models import LatentStateDynamics, PointMassModel

    latent = compare.family_model("wall-detour-latent")
    assert isinstance(latent, LatentStateDynamics) and latent.latent_dim == 64
    assert not latent.training and not any(p.requires_grad for p in latent.parameters())
    # problem seeds the model's recipe was not chosen on
    wall = compare.detour_problems("wall-detour-latent", 50, 30, seed=777)
    assert compare._route_under_model(latent, wall) >= 27
    maze = compare.family_model("maze-arms")
    assert isinstance(maze, PointMassModel) and maze.action_repeat == 5
