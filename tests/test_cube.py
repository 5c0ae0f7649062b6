"""OGBench's cube envs in the WMPlan convention, and the data oracles."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ogbench")

import wmplan_envs  # noqa: F401
from wmplan_agents.data import collect
from wmplan_envs.cube import SUCCESS_DISTANCE, XYZ_SCALE, cube_positions


def test_tasks_goals_and_the_success_test():
    env = gym.make("WMPlan/CubeSingle-v0")
    obs, info = env.reset(seed=0, options={"task_id": 2})
    assert obs["observation"].shape == (28,) and info["task_id"] == 2
    goal = obs["desired_goal"]
    # the goal observation's cube sits exactly on the target the success test measures from
    np.testing.assert_array_equal(cube_positions(goal, 1), info["goal_state"])
    unwrapped = env.unwrapped
    assert unwrapped.compute_success(goal, goal) and unwrapped.compute_reward(goal, goal, info) == 0
    moved = goal.copy()
    moved[19] += 1.2 * SUCCESS_DISTANCE * XYZ_SCALE  # 4.8 cm away in x
    assert not unwrapped.compute_success(moved, goal)
    batch = np.stack([goal, moved, goal])
    np.testing.assert_array_equal(unwrapped.compute_reward(batch, goal, [info] * 3), [0, -1, 0])
    # every task differs, a random task differs from them, and a seed fixes the random task
    starts = [env.reset(seed=0, options={"task_id": k})[1]["goal_state"] for k in range(1, 6)]
    assert len({tuple(np.round(s, 3)) for s in starts}) == 5
    a = env.reset(seed=4)[0]
    b = env.reset(seed=4)[0]
    np.testing.assert_array_equal(a["desired_goal"], b["desired_goal"])
    for bad in ({"task_id": 0}, {"task_id": 6}, {"task": 1}):
        with pytest.raises(ValueError):
            env.reset(seed=0, options=bad)
    two = gym.make("WMPlan/CubeDouble-v0")
    obs, _ = two.reset(seed=0, options={"task_id": 1})
    assert obs["observation"].shape == (37,) and two.unwrapped.max_steps == 500


@pytest.mark.parametrize("kind", ["play", "noisy"])
def test_oracles_collect_repeatable_data_that_moves_the_cube(kind):
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    env_kwargs = {"mode": "data_collection", "max_steps": 300}
    data = collect("WMPlan/CubeSingle-v0", kind, 400, seed=5, progress=False, env_kwargs=env_kwargs)
    again = collect(
        "WMPlan/CubeSingle-v0", kind, 400, seed=5, progress=False, env_kwargs=env_kwargs
    )
    np.testing.assert_array_equal(data.actions, again.actions)
    np.testing.assert_array_equal(data.observations, again.observations)
    assert data.states.shape == (400, 41)  # qpos (21) and qvel (20)
    # episodes run max_steps, through every placement (OGBench's datasets: 1,000-step episodes)
    assert np.bincount(data.episodes).tolist() == [300, 100]
    # the oracle picks the cube up and carries it: it travels well beyond the 1 cm jitter
    travel = np.abs(np.diff(cube_positions(data.observations, 1), axis=0)).sum() / XYZ_SCALE
    assert travel > 0.3, travel
    # NumPy's global generator (which the oracles use) is left as it was
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    with pytest.raises(ValueError, match="data_collection"):
        collect("WMPlan/CubeSingle-v0", kind, 10, progress=False)
