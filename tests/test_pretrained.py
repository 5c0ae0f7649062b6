"""The shipped world models: loading, the WorldModel contract, prediction error, Push-T MPC."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import wmplan_agents
import wmplan_envs  # noqa: F401
from wmplan_agents.contracts import WorldModel, action_dim, action_repeat
from wmplan_agents.data import collect
from wmplan_agents.models import load_pretrained
from wmplan_agents.models.pretrained import (
    ENV_KWARGS,
    available,
    pretrained_metadata,
    pretrained_path,
)
from wmplan_agents.training import prediction_error

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


# (env id, obs_type): (fresh env steps, max_episode_steps, 1-step bound, 5-step bound, factor).
# Errors are relative MSEs (1 = predicting the mean) on data collected with seed 777, which the
# models never saw (training used seed 0). Each bound is 1.3-3x the error measured for the shipped
# file (docs/results.md) and is asserted to be below ``factor`` times the "no change" error on the
# same data: 1/10 for Push-T (measured 1/97 after one step, 1/22 after five), 1/10 for the
# WallSingle state MLP; 1/2 for PointMaze (velocity after
# wall contacts is the hard part; the shipped small MLP reaches 1/3 of "no change" after one step
# and 1/7 after five), for the contrastive MiniGrid latent, whose InfoNCE objective pulls z_t
# and z_{t+1} together, so "no change" is already small there, and for the WallSingle pixel
# keypoint model (measured 0.25 of "no change" after one step and 0.23 after five: its keypoint
# is a slightly noisy function of the dot's position, and its global code moves a little with
# the dot in a way the predictor does not capture; docs/results.md).
THRESHOLDS = {
    ("WMPlan/PushT-v0", "state"): (3000, 300, 0.008, 0.05, 0.1),
    ("WMPlan/WallSingle-v0", "state"): (2000, 100, 1.2e-4, 2e-3, 0.1),
    ("WMPlan/WallSingle-v0", "pixels"): (1000, 100, 6e-4, 9e-3, 0.5),
    ("WMPlan/PointMaze-v0", "state"): (2000, 300, 0.009, 0.03, 0.5),
    ("WMPlan/MiniGridEmpty-v0", "state"): (2000, 256, 0.08, 0.3, 0.5),
}


def test_every_shipped_model_has_thresholds():
    assert set(available()) == set(THRESHOLDS)


@pytest.mark.parametrize("key", list(THRESHOLDS), ids=lambda k: f"{k[0][7:]}-{k[1]}")
def test_prediction_error_on_fresh_data(key):
    env_id, obs_type = key
    n_steps, max_steps, bound_1, bound_5, factor = THRESHOLDS[key]
    model = load_pretrained(env_id, obs_type)
    env = gym.make(env_id, max_episode_steps=max_steps, **ENV_KWARGS[key])
    data = collect(env, None, n_steps, seed=777, progress=False)
    env.close()
    err = prediction_error(model, data, horizon=5)
    assert err.mse[0] < bound_1, err
    assert err.mse[4] < bound_5, err
    # the bounds themselves are far below the error of predicting "no change"
    assert bound_1 < factor * err.no_change_mse[0], err
    assert bound_5 < factor * err.no_change_mse[4], err


def test_recorded_metadata_matches_the_recipe():
    meta = pretrained_metadata("WMPlan/PushT-v0")
    assert meta["recipe"]["env_kwargs"] == {"obs_type": "state", "relative": True}
    assert meta["total_s"] > 0 and len(meta["fresh_val_mse"]) == 5


@pytest.mark.parametrize("key", list(THRESHOLDS), ids=lambda k: f"{k[0][7:]}-{k[1]}")
def test_shipped_files_load_and_satisfy_the_protocol(key):
    env_id, obs_type = key
    model = load_pretrained(env_id, obs_type)
    assert isinstance(model, WorldModel)
    assert not model.training
    env = gym.make(env_id, **ENV_KWARGS[key])
    obs, _ = env.reset(seed=0)
    assert model.action_space == env.action_space
    batch = torch.as_tensor(np.stack([obs["observation"], obs["desired_goal"]]))
    z = model.encode(batch)
    assert z.ndim == 2 and z.shape[0] == 2 and torch.isfinite(z).all()
    a = torch.zeros(2, action_dim(model))
    z1 = model.step(z, a)
    assert z1.shape == z.shape and torch.isfinite(z1).all()
    env.close()


def test_pusht_model_uses_action_repeat_5():
    model = load_pretrained("PushT-v0")  # the WMPlan/ prefix is optional
    assert action_repeat(model) == 5 and action_dim(model) == 10


def test_lazy_export():
    assert wmplan_agents.load_pretrained is load_pretrained


@pytest.mark.parametrize(
    "args, match",
    [
        (("WMPlan/Nope-v0",), "available"),
        (("WMPlan/PushT-v0", "pixels"), "obs_type='pixels'"),
        (("WMPlan/PointMaze-v0", "keypoints"), "WMPlan/WallSingle-v0"),
        ((3,), "must be strings"),
    ],
)
def test_unknown_model_is_a_clear_error(args, match):
    with pytest.raises(ValueError, match=match):
        load_pretrained(*args)
    assert pretrained_path("WMPlan/PushT-v0").with_suffix(".json").name == "pusht_state.json"


@pytest.mark.slow
def test_mpc_cem_reaches_pusht_reachable_goals():
    """Issue 7: >= 80% success on 50 reachable-goal episodes (goals 25 env steps ahead, a budget
    of 50 env steps) with the shipped model and CEM. The agent plans 5 model actions (25 env
    steps) and executes all of them before replanning (DINO-WM's open-loop chunks): replanning
    after every model action keeps the arrival 25 steps away with a final-state cost, and the
    goal is never reached in time (measured 2/8)."""
    from wmplan_agents.agent import MPCAgent
    from wmplan_agents.evaluation import evaluate

    model = load_pretrained("WMPlan/PushT-v0")
    agent = MPCAgent(model, "cem", horizon=5, replan_every=5, seed=0)
    result = evaluate(
        agent, "WMPlan/PushT-v0", 50, seed=0, progress=False, max_episode_steps=50,
        relative=True, goal="reachable", goal_steps=25,
    )  # fmt: skip
    assert result.success_rate >= 0.8, result.successes


def test_angle_features_are_continuous_across_the_wrap(tmp_path):
    from wmplan_agents.checkpoint import load, save
    from wmplan_agents.models import AngleFeatureDynamics

    space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    model = AngleFeatureDynamics(3, space, angle_dims=(1,), hidden=16, depth=1, seed=0)
    obs = torch.tensor([[5.0, 1e-4, -2.0], [5.0, 2 * np.pi - 1e-4, -2.0], [5.0, np.pi, -2.0]])
    z = model.encode(obs)
    assert z.shape == (3, 4)  # x0, x2, cos, sin
    assert torch.allclose(z[0], z[1], atol=1e-3)
    assert torch.allclose(z[2], torch.tensor([5.0, -2.0, -1.0, 0.0]), atol=1e-6)
    save(model, tmp_path / "m")
    again = load(tmp_path / "m")
    a = torch.zeros(3, 2)
    assert torch.equal(again.step(again.encode(obs), a), model.step(z, a))
    with pytest.raises(ValueError, match="angle_dims"):
        AngleFeatureDynamics(3, space, angle_dims=(3,))
    with pytest.raises(ValueError, match="3 values"):
        model.encode(torch.zeros(2, 4))
