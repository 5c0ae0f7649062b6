"""The sampled start (``init_samples``): every planner can begin from the cheapest of N smooth
random routes, which lets local methods cross a wall whose goal-distance gradient points into it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_planners import lq_cost, lq_optimum, lq_problem

from registry.presets import resolve_preset
from wmplan_agents.contracts import arrive_goal_cost, rollout
from wmplan_agents.models import ground_truth
from wmplan_agents.planners import base, make_planner
from wmplan_agents.planners.pad import PaD

WALL = "WMPlan/WallSingle-v0"


@pytest.mark.parametrize("name", ["cem", "mppi", "gd", "grasp", "latco"])
def test_a_sampled_start_crosses_the_door_the_gradient_cannot_see(name: str) -> None:
    # start and goal at y = 14 on both sides of the wall, the door at y = 48: the straight line
    # ends at the wall, 23 px short of the goal; the route must first climb 34 px
    model = ground_truth(WALL)
    z0 = torch.tensor([[12.0, 14.0, 48.0]])
    goal = torch.tensor([[52.0, 14.0, 48.0]])
    kwargs = dict(resolve_preset(name, WALL, "state").kwargs)
    dist = {}
    for n in (0, 1024):
        kwargs["init_samples"] = n
        res = make_planner(name, seed=3, **kwargs).plan(model, z0, goal, 70, cost=arrive_goal_cost)
        end = rollout(model, z0, res.actions)[0, -1]
        dist[n] = float((end[:2] - goal[0, :2]).norm())
    assert dist[0] > 15.0, f"{name} crossed the wall without a sampled start: {dist}"
    assert dist[1024] < 4.5, (
        f"{name} missed the goal from a sampled start: {dist}"
    )  # success radius


def test_sampled_start_is_the_cheapest_candidate_seeded_and_in_bounds() -> None:
    model, z0, goal, h = lq_problem(b=3, bound=0.5)
    prob = base.check_problem(model, z0, goal, h, None, lq_cost)
    warm_cost, _ = base.evaluate(model, prob, base.midpoint(prob)[:, None])

    def start(seed: int) -> torch.Tensor:
        gen = base.make_generator(seed)
        return base.sampled_start(model, prob, gen, 64, 2.0).init_actions

    chosen = start(0)
    cost, _ = base.evaluate(model, prob, chosen[:, None])
    assert bool((cost <= warm_cost).all())
    assert bool(((chosen >= -0.5) & (chosen <= 0.5)).all())
    torch.testing.assert_close(start(0), chosen, rtol=0, atol=0)
    assert not torch.equal(start(1), chosen)
    # the chosen sequence is one of the draws, and no draw of the same stream is cheaper
    noise = base.colored_noise(65, h, 2, 2.0, base.make_generator(0), torch.float64)
    noise[0] = 0.0
    cands = (0.5 * noise).clamp(-0.5, 0.5)[None].expand(3, -1, -1, -1)
    all_costs, _ = base.evaluate(model, prob, cands)
    torch.testing.assert_close(cost[:, 0], all_costs.min(dim=1).values, rtol=1e-12, atol=0)


def test_a_warm_start_nothing_beats_is_kept() -> None:
    model, z0, goal, h = lq_problem(b=2)
    opt, _ = lq_optimum(model, z0, goal, h)
    prob = base.check_problem(model, z0, goal, h, opt, lq_cost)
    out = base.sampled_start(model, prob, base.make_generator(0), 256, 2.0)
    torch.testing.assert_close(out.init_actions, prob.init_actions, rtol=0, atol=0)
    # the planners start from it: GD's restart 0 ends at the optimum
    res = make_planner("gd", seed=0, iterations=5, init_samples=256).plan(
        model, z0, goal, h, init_actions=opt, cost=lq_cost
    )
    torch.testing.assert_close(res.actions, opt, rtol=1e-6, atol=1e-6)


class _Discrete(torch.nn.Module):
    action_space = gym.spaces.Discrete(3)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + a[..., :2]


def test_sampled_start_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="init_samples"):
        make_planner("cem", init_samples=-1)
    with pytest.raises(ValueError, match="init_beta"):
        make_planner("cem", init_beta=float("nan"))
    with pytest.raises(ValueError, match="no sampled start"):
        PaD(init_samples=8)
    z = torch.zeros(1, 2)
    planner = make_planner("cem", init_samples=8, iterations=2)
    with pytest.raises(ValueError, match=r"Box action space.*Discrete\(3\)"):
        planner.plan(_Discrete(), z, z + 1, 3)
    # the planner stays usable
    model, z0, goal, h = lq_problem(b=1)
    res = planner.plan(model, z0, goal, h)
    assert bool(np.isfinite(res.cost.numpy()).all())
