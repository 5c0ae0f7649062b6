"""The hand-written Push-T model against the pymunk env it stands in for."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import wmplan_envs  # noqa: F401
from wmplan_agents import compare
from wmplan_agents.data import collect
from wmplan_agents.models import load_pretrained
from wmplan_agents.models import pusht_physics as pp
from wmplan_agents.models.pusht_physics import PushTPhysicsModel
from wmplan_envs import pusht
from wmplan_envs.pusht_render import T_RADIUS


def test_the_constants_are_the_envs_own():
    space, _, block = pusht._build(np.zeros(10))
    assert pp.MOMENT == pytest.approx(pusht.t_moment()) == pytest.approx(block.moment)
    assert pp.COG == pytest.approx(tuple(block.center_of_gravity))
    assert pp.SLOP == pytest.approx(space.collision_slop)
    assert pp.BIAS_COEF == pytest.approx(1.0 - space.collision_bias**pusht.SIM_DT)


def _windows(n_steps: int, seed: int, repeat: int = 5):
    """(start observations, model actions, observations ``repeat`` env steps later) of the
    pushing policy's data (the env's own data-like policy: short pushes of the block)."""
    env = gym.make("WMPlan/PushT-v0", obs_type="state", relative=True, task="pusht")
    data = collect(env, None, n_steps, seed=seed, progress=False)
    env.close()
    starts = data.window_starts(repeat)[::repeat]
    obs = data.observations[starts]
    acts = np.stack([data.actions[starts + k] for k in range(repeat)], axis=1)
    after = data.next_observations[starts + repeat - 1]
    return torch.as_tensor(obs), torch.as_tensor(acts.reshape(len(starts), -1)), after


def test_one_model_step_matches_the_simulator_away_from_the_walls():
    obs, acts, after = _windows(8_000, seed=904)
    start = obs.numpy()
    # the model has no walls for the block: windows where the T cannot reach one
    lo, hi = 7.0 + T_RADIUS, 504.0 - T_RADIUS
    inside = np.all((start[:, 2:4] > lo) & (start[:, 2:4] < hi), axis=1)
    inside &= np.all((after[:, 2:4] > lo) & (after[:, 2:4] < hi), axis=1)
    shift = np.linalg.norm(after[:, 2:4] - start[:, 2:4], axis=1)
    moved, still = inside & (shift > 0.5), inside & (shift <= 0.5)
    assert moved.sum() > 100 and still.sum() > 30  # both kinds are tested
    for every, median, p90 in ((1, 0.1, 0.5), (10, 2.5, 6.0)):
        # measured (seeds 901-903): 0.02-0.03 / 0.08-0.11 px and 1.1 / 3.2-3.8 px
        model = PushTPhysicsModel(contact_every=every)
        pred = model.to_state(model.step(model.encode(obs.double()), acts.double())).numpy()
        assert np.abs(pred[:, :2] - after[:, :2]).max() < 1e-3  # the env's PD substeps
        err = np.linalg.norm(pred[:, 2:4] - after[:, 2:4], axis=1)
        assert err[still].max() < 1.0
        assert np.median(err[moved]) < median and np.percentile(err[moved], 90) < p90
        assert np.median(shift[moved]) > 5 * median  # against a block left where it was


def test_the_scripted_routes_round_the_block_reach_their_goals_under_the_model():
    # problem seeds other than those the docstring reports
    problems = compare.detour_problems("pusht-around", 75, 30, seed=40_000)
    assert compare._route_under_model(PushTPhysicsModel(), problems) >= 28
    # the shipped learned model, trained on short pushes, does not predict them
    assert compare._route_under_model(load_pretrained("WMPlan/PushT-v0"), problems) <= 10


def test_gradients_are_finite_also_in_states_only_a_planner_reaches():
    model = PushTPhysicsModel()
    # lifted states with the agent inside both boxes (opposite contact normals)
    z = torch.tensor(
        [[15.98, 12.04, 16.46, 11.07, 1.92, 1.86, 0.18, -0.06],
         [13.22, 6.24, 14.00, 6.95, 0.10, 3.11, -0.05, 0.03],
         [10.0, 10.0, 12.0, 12.0, 0.0, 0.0, 0.0, 0.0]],  # no angle: cos = sin = 0
        requires_grad=True,
    )  # fmt: skip
    a = torch.full((3, 10), 0.3, requires_grad=True)
    out = model.step(z, a)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(z.grad).all() and torch.isfinite(a.grad).all()


def test_latent_round_trip_and_units():
    model = PushTPhysicsModel()
    obs = torch.tensor([[100.0, 200.0, 300.0, 250.0, 6.0, 40.0, -20.0]], dtype=torch.float64)
    z = model.encode(obs)
    assert z.shape == (1, 8)
    assert torch.allclose(model.to_state(z), obs)
    # a squared distance of 1 is the success test's bound in position or angle
    moved = obs.clone()
    moved[0, 2] += pusht.POS_TOL
    assert ((model.encode(moved) - z) ** 2).sum() == pytest.approx(1.0)


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="contact_every must divide"):
        PushTPhysicsModel(contact_every=3)
    with pytest.raises(ValueError, match="action_repeat must be a positive integer"):
        PushTPhysicsModel(action_repeat=0)
    model = PushTPhysicsModel(action_repeat=2)
    with pytest.raises(ValueError, match=r"\[B, 7\]"):
        model.encode(torch.zeros(3, 5))
    z = model.encode(torch.zeros(3, 7))
    with pytest.raises(ValueError, match=r"actions \[B, 4\]"):
        model.step(z, torch.zeros(3, 10))
    assert model.step(z, torch.zeros(3, 4)).shape == (3, 8)  # still usable


def test_the_pusht_family_plans_with_it():
    model = compare.family_model("pusht-around")
    assert isinstance(model, PushTPhysicsModel) and model.action_repeat == 5
    assert model.env_id == "WMPlan/PushT-v0" and model.env_kwargs["relative"] is True
