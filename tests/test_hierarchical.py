"""Coarse-to-fine planning with a two-level model (``planners.hierarchical.CoarseToFine``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import wmplan_envs  # noqa: F401
from wmplan_agents import MPCAgent, ground_truth
from wmplan_agents.planners import make_planner
from wmplan_agents.planners.hierarchical import CoarseToFine

torch.set_num_threads(1)


class TwoLevel:
    """LinearExpansive's exact dynamics with an exact coarse level of ``k`` steps."""

    def __init__(self, env: gym.Env, k: int = 5) -> None:
        self.fine = ground_truth(env)
        self.coarse = ground_truth(env, action_repeat=k)
        self.action_space = self.fine.action_space
        self.observation_space = self.fine.observation_space
        self.env_id, self.env_kwargs = self.fine.env_id, self.fine.env_kwargs

    def encode(self, obs):
        return self.fine.encode(obs)

    def step(self, z, a):
        return self.fine.step(z, a)

    def coarse_model(self):
        return self.coarse


def problems(n: int, seed: int = 40):
    env = gym.make("WMPlan/LinearExpansive-v0")
    z0, goal = [], []
    for i in range(n):
        _, info = env.reset(seed=seed + i)
        z0.append(info["state"])
        goal.append(info["goal_state"])
    f = lambda x: torch.tensor(np.array(x), dtype=torch.float32)  # noqa: E731
    return env, f(z0), f(goal)


def test_coarse_to_fine_splits_coarse_actions_in_order_and_never_does_worse():
    env, z0, goal = problems(6)
    model = TwoLevel(env)
    planner = make_planner("coarse-to-fine", seed=1)
    result = planner.plan(model, z0, goal, 20)
    assert result.actions.shape == (6, 20, 4) and float(result.actions.abs().max()) <= 1.0
    assert result.info["coarse_steps"] == 4
    assert bool((result.cost <= result.info["coarse_on_fine_cost"]).all())
    assert bool((result.cost.sqrt() < 0.1).all()), result.cost.sqrt()  # the env's radius
    # the coarse level alone (fine=None) plans 4 steps of 5 and returns them split. This exact
    # coarse level is the same function of the same 80 numbers as the fine model, so GD with
    # the same seed takes the same steps on both: the split plan equals the flat plan exactly
    # (the regrouping keeps the order of the env actions)
    alone = CoarseToFine(fine=None, seed=1).plan(model, z0, goal, 20)
    flat = make_planner("gd", seed=1).plan(model, z0, goal, 20)
    torch.testing.assert_close(alone.actions, flat.actions, rtol=0, atol=1e-6)
    torch.testing.assert_close(alone.cost, result.info["coarse_on_fine_cost"])
    # a horizon that is not a multiple of k, with a warm start: regrouped, then cut
    warm = CoarseToFine(seed=1).plan(model, z0, goal, 12, init_actions=result.actions[:, :12])
    assert warm.actions.shape == (6, 12, 4) and warm.info["coarse_steps"] == 3


def test_coarse_to_fine_from_the_agent_and_its_errors():
    env = gym.make("WMPlan/LinearExpansive-v0")
    agent = MPCAgent(TwoLevel(env), "coarse-to-fine", horizon=20, replan_every=5)
    obs, _ = env.reset(seed=3)
    action, _ = agent.predict(obs)
    assert env.action_space.contains(action)
    with pytest.raises(ValueError, match="two-level model"):
        make_planner("coarse-to-fine").plan(
            ground_truth(env), torch.zeros(1, 4), torch.ones(1, 4), 5
        )
    with pytest.raises(ValueError, match="single-level"):
        CoarseToFine(coarse="coarse-to-fine")
