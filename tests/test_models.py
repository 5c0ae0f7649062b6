"""Learned world models: the WorldModel contract, shapes, action repeat, input checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from wmplan_agents.contracts import WorldModel, action_dim, from_env_actions, rollout
from wmplan_agents.data import Dataset, collect, uniform_policy
from wmplan_agents.models import (
    HELM,
    ContrastiveEncoder,
    ConvWorldModel,
    EnergyMLP,
    MLPDynamics,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
DISCRETE = gym.spaces.Discrete(3)


def _models(space):
    return [
        MLPDynamics(6, space, hidden=16, depth=1, action_repeat=3),
        MLPDynamics(6, space, hidden=16, depth=1, normalize_latent=True, residual=False),
        HELM(6, space, coarse_k=4, hidden=16, depth=1),
        HELM(6, space, coarse_k=4, hidden=16, depth=1).coarse_model(),
        ContrastiveEncoder(6, space, latent_dim=5, hidden=16, depth=1, action_repeat=2),
    ]


@pytest.mark.parametrize("space", [BOX, DISCRETE], ids=["box", "discrete"])
def test_models_satisfy_world_model_contract(space):
    for model in _models(space):
        assert isinstance(model, WorldModel)
        z = model.encode(torch.rand(7, 6))
        a = torch.rand(7, action_dim(model), requires_grad=True)
        z_in = z.detach().requires_grad_(True)
        nxt = model.step(z_in, a)
        assert nxt.shape == z.shape and torch.isfinite(nxt).all()
        nxt.sum().backward()
        assert a.grad is not None and z_in.grad is not None  # differentiable in both
        traj = rollout(model, z, torch.rand(7, 4, action_dim(model)))
        assert traj.shape == (7, 4, z.shape[1])


def test_rollout_matches_repeated_step():
    model = MLPDynamics(6, BOX, hidden=16, depth=1, action_repeat=2)
    z, acts = torch.rand(3, 6), torch.rand(3, 5, 4) * 2 - 1
    z_step = z
    for t in range(5):
        z_step = model.step(z_step, acts[:, t])
    torch.testing.assert_close(model.rollout(z, acts)[:, -1], z_step)


def test_seed_fixes_initial_weights_without_touching_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = MLPDynamics(6, BOX, hidden=16, depth=1, seed=7)
    after = torch.rand(1)
    b = MLPDynamics(6, BOX, hidden=16, depth=1, seed=7)
    c = MLPDynamics(6, BOX, hidden=16, depth=1, seed=8)
    assert torch.equal(before, after)
    assert torch.equal(a.net[0].weight, b.net[0].weight)
    assert not torch.equal(a.net[0].weight, c.net[0].weight)


def test_action_repeat_model_predicts_k_env_steps():
    env = gym.make("WMPlan/LinearExpansive-v0", max_episode_steps=10)
    ds = collect(env, "uniform", 3000, seed=1, progress=False)
    from wmplan_agents.training import prediction_error, train

    model = MLPDynamics(4, ds.action_space, hidden=64, depth=2, action_repeat=3)
    result = train(model, ds, epochs=15, progress=False)
    assert model.action_repeat == 3 and action_dim(model) == 12
    err = prediction_error(model, ds, horizon=2, episodes=result.val_keys)
    assert err.mse[1] < 0.02 and err.mse[1] < 0.1 * err.no_change_mse[1]
    # the env actions of a window, grouped by the contract helper, give the same model actions
    batch = ds.batch(np.array([0]), 6)
    grouped = from_env_actions(model, batch["actions"].numpy())
    assert grouped.shape == (1, 2, 12)
    torch.testing.assert_close(grouped[0, 1, :4], batch["actions"][0, 3])


def test_bad_inputs_raise_value_error():
    model = MLPDynamics(6, BOX, hidden=8, depth=1)
    with pytest.raises(ValueError, match="6 values"):
        model.encode(torch.rand(3, 5))
    with pytest.raises(ValueError, match="action_repeat"):
        MLPDynamics(6, BOX, action_repeat=0)
    with pytest.raises(ValueError, match="bounded"):
        MLPDynamics(6, gym.spaces.Box(-np.inf, np.inf, (2,)))
    with pytest.raises(ValueError, match="divisible"):
        ConvWorldModel((30, 30, 3), BOX)
    with pytest.raises(ValueError, match="HWC"):
        ConvWorldModel((32, 32, 3), BOX, n_layers=3).encode(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="activation"):
        MLPDynamics(6, BOX, activation="nope")
    assert model.encode(torch.rand(3, 6)).shape == (3, 6)  # still usable


def test_conv_model_shapes_and_reconstruction_training():
    rng = np.random.default_rng(0)
    # a tiny pixel dataset: a bright square moved by the (clipped) action
    n, size = 600, 16
    pos = rng.integers(2, 12, size=(n, 2))
    acts = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    nxt = np.clip(pos + np.round(acts * 2).astype(int), 0, 13)

    def draw(p):
        img = np.zeros((len(p), size, size, 3), np.uint8)
        for i, (x, y) in enumerate(p):
            img[i, y : y + 3, x : x + 3] = 255
        return img

    ds = Dataset(draw(pos), acts, draw(nxt), np.arange(n), BOX)
    model = ConvWorldModel((size, size, 3), BOX, latent_dim=8, channels=8, n_layers=2, hidden=32)
    z = model.encode(torch.as_tensor(ds.observations[:4]))
    assert z.shape == (4, 8) and model.decode(z).shape == (4, 3, size, size)
    from wmplan_agents.training import train

    result = train(model, ds, epochs=30, val_fraction=0.2, progress=False, lr=3e-3, batch_size=64)
    rec = result.parts["reconstruction"]
    assert rec[-1] < 0.5 * rec[0]


def test_energy_model_and_uniform_policy():
    e = EnergyMLP(2, hidden=8, depth=1)
    assert e.energy(torch.rand(5, 2)).shape == (5,)
    with pytest.raises(ValueError, match="inputs"):
        e.energy(torch.rand(5, 3))
    rng = np.random.default_rng(0)
    pol = uniform_policy(BOX)
    acts = np.stack([pol(None, rng) for _ in range(500)])
    assert acts.min() >= -1 and acts.max() <= 1 and abs(acts.mean()) < 0.1
    assert {int(uniform_policy(DISCRETE)(None, rng)) for _ in range(50)} == {0, 1, 2}
