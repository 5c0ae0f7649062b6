"""The hand-written PointMaze model against the MuJoCo env it stands in for."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import wmplan_envs  # noqa: F401
from wmplan_agents import MPCAgent, compare
from wmplan_agents.models import point_mass as pm
from wmplan_agents.models.point_mass import PointMassModel

pytest.importorskip("gymnasium_robotics")


@pytest.fixture(scope="module")
def env():
    e = gym.make("WMPlan/PointMaze-v0")
    yield e
    e.close()


def test_the_constants_and_walls_are_the_envs_own(env):
    import mujoco

    m = env.unwrapped.wrapped.model
    assert m.opt.timestep == pm.DT
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_EULER
    ball = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "particle_geom")
    assert m.geom_size[ball][0] == pytest.approx(pm.RADIUS)
    assert m.body_mass[m.geom_bodyid[ball]] == pytest.approx(pm.MASS)
    assert np.allclose(m.actuator_gear[:, 0], pm.GEAR) and np.allclose(m.dof_damping, pm.DAMPING)
    blocks = [
        (m.geom_pos[g][0] - m.geom_size[g][0], m.geom_pos[g][0] + m.geom_size[g][0],
         m.geom_pos[g][1] - m.geom_size[g][1], m.geom_pos[g][1] + m.geom_size[g][1])
        for g in range(m.ngeom)
        if (mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, g) or "").startswith("block_")
    ]  # fmt: skip
    assert np.allclose(np.array(blocks), pm.wall_boxes(env.unwrapped.maze_map))


def test_one_step_matches_the_simulator_in_free_motion_and_at_the_walls(env):
    s, a, s2 = pm.random_pushes(20, 200, seed=500)
    s, a = torch.as_tensor(s), torch.as_tensor(a)
    pred = PointMassModel().step(s, a).numpy()
    err = np.abs(pred - s2).max(axis=1)
    walls = pm.wall_boxes(env.unwrapped.maze_map)
    pos = s.numpy()[:, :2]
    gap = np.stack([pos - np.clip(pos, w[[0, 2]], w[[1, 3]]) for w in walls], axis=1)
    near = (np.linalg.norm(gap, axis=2) < pm.RADIUS + 0.02).any(axis=1)
    assert near.sum() > 200 and (~near).sum() > 1000  # both kinds are tested
    assert np.max(err[~near]) < 1e-5  # free motion: the same Euler step (float32 states)
    # at the walls, the fitted contact (measured: median 0.0015, 90th percentile 0.027) ...
    assert np.median(err[near]) < 0.005 and np.percentile(err[near], 90) < 0.05
    # ... against free motion through the walls (median 0.093, 90th percentile 0.22)
    no_walls = PointMassModel()
    no_walls.walls = no_walls.walls[:0]
    err_free = np.abs(no_walls.step(s, a).numpy() - s2).max(axis=1)
    assert np.median(err_free[near]) > 10 * np.median(err[near])


def test_the_scripted_maze_routes_reach_their_goals_under_the_model():
    # problem seeds other than the two the docstring reports
    problems = compare.detour_problems("maze-arms", 150, 30, seed=30_000)
    assert compare._route_under_model(PointMassModel(action_repeat=5), problems) >= 27


def test_actions_repeat_and_gradients_are_finite():
    model = PointMassModel(action_repeat=5)
    z0 = model.encode(torch.tensor([[-1.0, 1.0, 0.0, 0.0], [1.38, 0.0, 3.0, 0.0]]))
    a = torch.full((2, 10), 0.7, requires_grad=True)
    z = model.step(z0, a)
    single = PointMassModel()
    ref = z0
    for _ in range(5):
        ref = single.step(ref, torch.full((2, 2), 0.7))
    assert torch.allclose(z, ref)
    assert z[1, 0] < 1.5 - pm.RADIUS + 0.01  # the second ball stops at the right wall
    z.sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad[0].abs().sum() > 0
    assert isinstance(model.to_state(z), torch.Tensor)


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="action_repeat must be a positive integer"):
        PointMassModel(action_repeat=0)
    with pytest.raises(ValueError, match="maze_map"):
        PointMassModel(maze_map=[[1, 1], [1, 1]])
    model = PointMassModel(action_repeat=2)
    with pytest.raises(ValueError, match=r"shape \[B, 4\]"):
        model.encode(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"A=4"):
        model.step(torch.zeros(3, 4), torch.zeros(3, 2))
    assert model.step(torch.zeros(3, 4), torch.zeros(3, 4)).shape == (3, 4)  # still usable


def test_the_model_knows_its_env_and_plans_there():
    maze = [[1, 1, 1, 1], [1, 0, 0, 1], [1, 1, 1, 1]]
    model = PointMassModel(maze_map=maze)
    assert model.env_kwargs == {"obs_type": "state", "maze_map": maze}
    env = gym.make("WMPlan/PointMaze-v0", maze_map=maze)
    agent = MPCAgent(PointMassModel(maze_map=maze), "cem", seed=0)
    agent.check_env(env)
    obs, info = env.reset(seed=0)
    reached = False
    for _ in range(100):
        action, _ = agent.predict(obs)
        obs, _, terminated, truncated, info = env.step(action)
        reached |= bool(info["is_success"])
        if terminated or truncated:
            break
    env.close()
    assert reached
