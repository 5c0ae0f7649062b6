"""Planners on discrete action spaces: shortest paths with a known optimum."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from torch import nn

from wmplan_agents.contracts import to_env_actions
from wmplan_agents.planners import make_planner

SETTINGS = {
    "cem": {"n_samples": 300, "n_elites": 30, "iterations": 10},
    "icem": {"n_samples": 300, "n_elites": 30, "iterations": 10},
    "mppi": {"n_samples": 300, "iterations": 10, "temperature": 3.0},
    "gd": {"iterations": 40, "n_restarts": 16, "lr": 0.1, "init_logit_scale": 3.0},
    "random": {"n_samples": 3000},
}


def assert_hard_one_hots(actions: torch.Tensor, n: int) -> None:
    blocks = actions.reshape(*actions.shape[:-1], -1, n)
    assert bool(((blocks == 0) | (blocks == 1)).all())
    assert bool((blocks.sum(-1) == 1).all())


class MiniGridModel(nn.Module):
    """MiniGrid-Empty's exact transition as a plain ``nn.Module`` world model."""

    def __init__(self, env) -> None:
        super().__init__()
        self.env = env
        self.action_space = env.action_space

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.env.transition_torch(z, a)


def grid_cost(env):
    """Squared grid distance of the expected final cell to the goal cell (differentiable)."""
    inner = env.size - 2
    idx = torch.arange(inner * inner, dtype=torch.float64)
    xs, ys = idx % inner, torch.div(idx, inner, rounding_mode="floor")

    def cost(z_traj, actions, z_goal):
        p, g = z_traj[:, -1, : env.n_cells], z_goal[:, : env.n_cells]
        return (p @ xs - g @ xs) ** 2 + (p @ ys - g @ ys) ** 2

    return cost


@pytest.mark.parametrize("name", ["cem", "gd", "icem", "mppi"])
def test_minigrid_shortest_path(name: str) -> None:
    pytest.importorskip("minigrid")
    from wmplan_envs.minigrid_empty import MiniGridEmptyEnv

    env = MiniGridEmptyEnv(size=6)  # 4 x 4 interior: from (1, 1) facing east to (4, 4)
    _, info = env.reset(seed=0)
    model = MiniGridModel(env)
    z0 = torch.as_tensor(info["state"], dtype=torch.float64)[None]
    goal = torch.as_tensor(info["goal_state"], dtype=torch.float64)[None]
    cost = grid_cost(env)
    shortest = 7  # 3 forward, turn right, 3 forward
    res = make_planner(name, seed=0, **SETTINGS[name]).plan(
        model, z0, goal, horizon=shortest, cost=cost
    )
    assert_hard_one_hots(res.actions, 3)
    assert float(res.cost[0]) == 0.0, res.cost
    env_actions = to_env_actions(model, res.actions)[0]
    for t, act in enumerate(env_actions):
        _, _, terminated, _, step_info = env.step(int(act))
        assert terminated == (t == shortest - 1), f"reached the goal at step {t}, not at the end"
    assert step_info["is_success"]
    if name in ("cem", "gd"):  # one step shorter cannot reach the goal: 7 is the shortest path
        short = make_planner(name, seed=0, **SETTINGS[name]).plan(
            model, z0, goal, horizon=shortest - 1, cost=cost
        )
        assert float(short.cost[0]) >= 1.0


class Chain(nn.Module):
    """A 1-D chain of ``n`` cells (one-hot states); env actions left / stay / right, two env
    actions per model action (``action_repeat = 2``)."""

    action_repeat = 2

    def __init__(self, n: int = 9) -> None:
        super().__init__()
        self.n = n
        self.action_space = gym.spaces.Discrete(3)
        self.register_buffer("left", torch.diag(torch.ones(n - 1), -1) + _corner(n, 0))
        self.register_buffer("right", torch.diag(torch.ones(n - 1), 1) + _corner(n, n - 1))

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def _env_step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return a[:, :1] * (z @ self.left) + a[:, 1:2] * z + a[:, 2:3] * (z @ self.right)

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self._env_step(self._env_step(z, a[:, :3]), a[:, 3:])


def _corner(n: int, i: int) -> torch.Tensor:
    m = torch.zeros(n, n)
    m[i, i] = 1.0
    return m


@pytest.mark.parametrize("name", list(SETTINGS))
def test_chain_with_action_repeat(name: str) -> None:
    model = Chain(9)
    eye = torch.eye(9)
    z0, goal = eye[[0, 8, 4]], eye[[6, 3, 4]]  # 6 right, 5 left, stay: <= 3 model actions each
    pos = torch.arange(9.0)

    def cost(z_traj, actions, z_goal):
        return (z_traj[:, -1] @ pos - z_goal @ pos) ** 2

    res = make_planner(name, seed=0, **SETTINGS[name]).plan(model, z0, goal, horizon=3, cost=cost)
    assert res.actions.shape == (3, 3, 6)
    assert_hard_one_hots(res.actions, 3)
    torch.testing.assert_close(res.cost, torch.zeros(3))
    final = model.step(
        model.step(model.step(z0, res.actions[:, 0]), res.actions[:, 1]), res.actions[:, 2]
    )
    torch.testing.assert_close(final, goal)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_discrete_batch_equals_single_calls(name: str) -> None:
    model = Chain(9)
    eye = torch.eye(9)
    z0, goal = eye[[0, 8, 4]], eye[[6, 3, 4]]
    kw = {**SETTINGS[name], "iterations": 2}
    res = make_planner(name, seed=3, **kw).plan(model, z0, goal, horizon=3)
    for b in range(3):
        single = make_planner(name, seed=3, **kw).plan(model, z0[b : b + 1], goal[b : b + 1], 3)
        torch.testing.assert_close(single.actions[0], res.actions[b], rtol=0, atol=0)
        torch.testing.assert_close(single.cost[0], res.cost[b])


@pytest.mark.parametrize("name", list(SETTINGS))
def test_relaxed_warm_start_never_comes_back_as_the_plan(name: str) -> None:
    """A relaxed (uniform) or all-zero warm start that scores best must still come back as hard
    one-hots (the cost here prefers exactly that warm start to every hard plan)."""
    model = Chain(9)
    eye = torch.eye(9)
    z0 = goal = eye[[4, 2]]
    for init in (torch.full((2, 3, 6), 1.0 / 3), torch.zeros(2, 3, 6)):

        def cost(z_traj, actions, z_goal, init=init):
            return ((actions - init[:1]) ** 2).sum((1, 2))

        kw = {**SETTINGS[name], "iterations": 1}
        res = make_planner(name, seed=0, **kw).plan(
            model, z0, goal, 3, init_actions=init, cost=cost
        )
        assert_hard_one_hots(res.actions, 3)
