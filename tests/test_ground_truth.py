"""ground_truth(env): the true dynamics as a WorldModel, checked step by step against the env."""

from __future__ import annotations

import importlib

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv

import wmplan_envs  # noqa: F401
from registry import ENVS
from wmplan_agents.contracts import WorldModel, from_env_actions, rollout
from wmplan_agents.models import ground_truth


def _has_dynamics(entry) -> bool:
    if entry.requires is not None and importlib.util.find_spec(entry.requires) is None:
        return False
    module_name, class_name = entry.entry_point.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return callable(getattr(cls, "transition_torch", None))


KNOWN_DYNAMICS = [e.id for e in ENVS if _has_dynamics(e)]


def test_known_dynamics_cover_the_analytic_envs():
    assert {"WMPlan/LinearExpansive-v0", "WMPlan/RuggedLandscape-v0"} <= set(KNOWN_DYNAMICS)


@pytest.mark.parametrize("env_id", KNOWN_DYNAMICS)
def test_step_matches_env_step(env_id):
    """One model step from each observed state gives the env's next observation, over two
    episodes of random actions (so per-episode parameters change in between)."""
    env = gym.make(env_id)
    model = ground_truth(env)
    assert isinstance(model, WorldModel)
    env.action_space.seed(0)
    checked = 0
    for episode in range(2):
        obs, _ = env.reset(seed=episode)
        for _ in range(15):
            action = env.action_space.sample()
            if isinstance(env.action_space, spaces.Box):  # also exercise clipping
                action = (1.5 * action).astype(env.action_space.dtype)
            z = model.encode(torch.as_tensor(obs["observation"][None]))
            a = from_env_actions(model, np.asarray(action)[None, None])[:, 0]
            predicted = model.step(z, a)[0].numpy()
            obs, _, terminated, truncated, _ = env.step(action)
            np.testing.assert_allclose(predicted, obs["observation"], rtol=1e-5, atol=1e-4)
            checked += 1
            if terminated or truncated:
                break
    assert checked >= 10


def test_inputs_env_id_wrapped_and_vector_envs_give_the_same_dynamics():
    env_id = "WMPlan/LinearExpansive-v0"
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    a = torch.rand(5, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1
    reference = ground_truth(gym.make(env_id)).step(z, a)
    sync = gym.vector.SyncVectorEnv([lambda: gym.make(env_id)] * 2)
    dummy = DummyVecEnv([lambda: gym.make(env_id)] * 2)
    for source in (env_id, gym.make(env_id).unwrapped, sync, dummy):
        torch.testing.assert_close(ground_truth(source).step(z, a), reference)
    other = ground_truth(env_id, system_seed=1).step(z, a)  # env kwargs reach the env
    assert not torch.allclose(other, reference)


def test_one_model_serves_every_env_of_a_vector_env():
    """WallSingle keeps its per-episode door in the state: a batch over several episodes'
    states steps each with its own door."""
    env_id = "WMPlan/WallSingle-v0"
    if env_id not in KNOWN_DYNAMICS:
        pytest.skip(f"{env_id} is not registered with known dynamics")
    envs = [gym.make(env_id) for _ in range(3)]
    obs = [e.reset(seed=s)[0]["observation"] for s, e in enumerate(envs)]
    assert len({float(o[2]) for o in obs}) > 1  # different doors
    model = ground_truth(envs[0])
    actions = np.stack([e.action_space.sample() for e in envs])
    predicted = model.step(torch.as_tensor(np.stack(obs)), torch.as_tensor(actions)).numpy()
    for i, e in enumerate(envs):
        np.testing.assert_allclose(predicted[i], e.step(actions[i])[0]["observation"], atol=1e-4)


def test_action_repeat_applies_the_transition_k_times():
    env = gym.make("WMPlan/RuggedLandscape-v0")
    model = ground_truth(env, action_repeat=3)
    assert model.action_repeat == 3
    obs, _ = env.reset(seed=3)
    env_actions = np.array([[0.5, -1.0], [1.0, 0.2], [-0.3, 0.7]], dtype=np.float32)
    for a in env_actions:
        expected = env.step(a)[0]["observation"]
    model_action = from_env_actions(model, env_actions[None])  # [1, 1, 6]
    z = model.encode(torch.as_tensor(obs["observation"][None]))
    traj = rollout(model, z, model_action)
    np.testing.assert_allclose(traj[0, -1].numpy(), expected, atol=1e-5)


def test_gradient_flows_through_the_model():
    model = ground_truth("WMPlan/LinearExpansive-v0")
    a = torch.zeros(2, 3, 4, requires_grad=True)
    traj = rollout(model, torch.ones(2, 4), a)
    traj[:, -1].sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


class _NoDynamics(gym.Env):
    observation_space = spaces.Dict({"observation": spaces.Box(-1, 1, (2,))})
    action_space = spaces.Box(-1, 1, (2,))


class _PixelDynamics(_NoDynamics):
    obs_type = "pixels"

    def transition_torch(self, state, action):
        return state


def test_clear_errors():
    with pytest.raises(ValueError, match="no transition_torch"):
        ground_truth(_NoDynamics())
    with pytest.raises(ValueError, match="obs_type='pixels'"):
        ground_truth(_PixelDynamics())
    with pytest.raises(ValueError, match="gymnasium env"):
        ground_truth(42)
    with pytest.raises(ValueError, match="action_repeat"):
        ground_truth("WMPlan/RuggedLandscape-v0", action_repeat=0)
    model = ground_truth("WMPlan/RuggedLandscape-v0")
    with pytest.raises(ValueError, match=r"shape \[B, 2\]"):
        model.encode(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="actions of shape"):
        model.step(torch.zeros(3, 2), torch.zeros(3, 5))
    if "WMPlan/WallSingle-v0" in KNOWN_DYNAMICS:
        with pytest.raises(ValueError, match="obs_type"):
            ground_truth("WMPlan/WallSingle-v0", obs_type="pixels")
