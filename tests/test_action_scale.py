"""The action box (``action_scale``): every planner but PaD can plan within the model's action
box shrunk about its centre, e.g. to the actions a learned model was trained on."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_sampled_start import _Discrete

from registry.presets import resolve_preset
from wmplan_agents.planners import base, make_planner
from wmplan_agents.planners.pad import PaD
from wmplan_envs.policies import PushTPushingPolicy

PUSHT = "WMPlan/PushT-v0"
# small budgets that keep the sweep fast; every planner must end at the box's edge
FAST = {
    "cem": {"n_samples": 100, "n_elites": 10, "iterations": 10},
    "icem": {"iterations": 10},
    "mppi": {"iterations": 20},
    "gd": {"iterations": 40},
    "random": {"n_samples": 500},
    "grasp": {"iterations": 100},
    "latco": {"iterations": 100},
}


class _Integrator(torch.nn.Module):
    """``z' = z + a`` on an asymmetric 1-d action box ``[0, 2]``."""

    action_space = gym.spaces.Box(0.0, 2.0, (1,), dtype=np.float32)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + a


@pytest.mark.parametrize("name", sorted(FAST))
def test_every_planner_ends_at_the_edge_of_the_shrunk_box(name: str) -> None:
    # the goal lies beyond what the box reaches in 4 steps, both ways: the best plan pushes at
    # the shrunk box's edge every step ([0, 2] shrunk by half about 1 is [0.5, 1.5])
    model, h = _Integrator(), 4
    z0 = torch.zeros(2, 1)
    goal = torch.tensor([[20.0], [-20.0]])
    planner = make_planner(name, seed=0, action_scale=0.5, **FAST[name])
    actions = planner.plan(model, z0, goal, h).actions
    assert float(actions.min()) >= 0.5 - 1e-6 and float(actions.max()) <= 1.5 + 1e-6
    # mean gap to the edge, in half-ranges (0.5 here, 1 in the full box); uniform samples
    # rarely sit on the edge
    frac = 0.3 if name == "random" else 0.04
    tol = 0.5 * frac
    assert float((actions[0] - 1.5).abs().mean()) < tol, actions[0]
    assert float((actions[1] - 0.5).abs().mean()) < tol, actions[1]
    # without it the same planner uses the whole box
    full = make_planner(name, seed=0, **FAST[name]).plan(model, z0, goal, h).actions
    assert float((full[0] - 2.0).abs().mean()) < frac and float(full[1].abs().mean()) < frac


def test_the_warm_start_is_clamped_into_the_shrunk_box() -> None:
    model = _Integrator()
    z0 = torch.zeros(1, 1)
    warm = torch.tensor([[[0.0], [2.0], [1.2]]])
    prob = base.check_problem(model, z0, z0 + 3.6, 3, warm, None)
    out = base.shrunk_box(prob, 0.5)
    torch.testing.assert_close(out.low, torch.tensor([0.5]))
    torch.testing.assert_close(out.high, torch.tensor([1.5]))
    torch.testing.assert_close(out.init_actions, torch.tensor([[[0.5], [1.5], [1.2]]]))
    # GD from that start: already optimal (3 x 1.2 = 3.6), it stays there
    res = make_planner("gd", seed=0, iterations=20, action_scale=0.5).plan(
        model, z0, z0 + 3.6, 3, init_actions=warm
    )
    assert float(res.cost.max()) < 1e-6


def test_the_pusht_preset_box_is_the_shipped_models_data_range() -> None:
    # the gradient planners' Push-T preset plans in the box of the pushing policy's relative
    # actions (moves of at most 20 px per env step), which the shipped model was trained on
    env = gym.make(PUSHT, relative=True, task="pusht")
    policy = PushTPushingPolicy(relative=True)
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    acts = []
    for _ in range(600):
        a = policy(info["state"], rng)
        acts.append(a)
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            obs, info = env.reset()
            policy.reset()
    env.close()
    reach = float(np.abs(np.array(acts)).max())
    half = float(env.action_space.high[0])
    for name in ("gd", "grasp", "latco"):
        scale = resolve_preset(name, PUSHT, "state").kwargs["action_scale"]
        assert 0.19 < reach <= scale * half + 1e-6, (name, reach, scale)


def test_action_scale_errors_are_clear() -> None:
    for bad in (0.0, -0.5, 1.5, float("nan"), "half"):
        with pytest.raises(ValueError, match="action_scale"):
            make_planner("cem", action_scale=bad)
    with pytest.raises(ValueError, match="no action_scale"):
        PaD(action_scale=0.5)
    z = torch.zeros(1, 2)
    planner = make_planner("cem", action_scale=0.5, iterations=2)
    with pytest.raises(ValueError, match=r"Box action space.*Discrete\(3\)"):
        planner.plan(_Discrete(), z, z + 1, 3)
    # the planner stays usable
    res = planner.plan(_Integrator(), torch.zeros(1, 1), torch.ones(1, 1), 3)
    assert bool(np.isfinite(res.cost.numpy()).all())
    assert float(res.actions.max()) <= 1.5 + 1e-6


def test_coarse_to_fine_passes_the_box_to_both_levels() -> None:
    planner = make_planner("coarse-to-fine", action_scale=0.5)
    assert planner.coarse_planner.action_scale == 0.5
    assert planner.fine_planner.action_scale == 0.5
