"""LatentStateDynamics: a state model with a learned latent wider than the state."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from wmplan_agents import contracts
from wmplan_agents.checkpoint import load, save
from wmplan_agents.data import Dataset
from wmplan_agents.models import LatentStateDynamics
from wmplan_agents.training import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def _walls_dataset(n_episodes: int, steps: int, seed: int) -> Dataset:
    """A point moved by its action (0.5 per unit) inside the box [0, 4]^2, which stops it."""
    g = np.random.default_rng(seed)
    obs, nxt, acts, eps = [], [], [], []
    for e in range(n_episodes):
        p = g.uniform(0, 4, 2)
        for _ in range(steps):
            a = g.uniform(-1, 1, 2).astype(np.float32)
            q = np.clip(p + 0.5 * a, 0, 4)
            obs.append(p), nxt.append(q), acts.append(a), eps.append(e)
            p = q
    states = np.stack(obs).astype(np.float32)
    return Dataset(
        states, np.stack(acts), np.stack(nxt).astype(np.float32), np.asarray(eps), BOX,
        states=states, next_states=np.stack(nxt).astype(np.float32),
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    model = LatentStateDynamics(2, BOX, latent_dim=16, hidden=64, depth=2, seed=0)
    train(model, _walls_dataset(40, 50, seed=0), epochs=25, lr=2e-3, seed=0, progress=False)
    return model.eval()


def test_it_predicts_the_state_through_its_wide_latent(trained):
    data = _walls_dataset(10, 50, seed=1)  # fresh episodes
    obs = torch.as_tensor(data.observations)
    acts = torch.as_tensor(data.actions)
    with torch.no_grad():
        z = trained.encode(obs)
        assert z.shape == (len(obs), 16)
        read = trained.to_state(z)
        nxt = trained.to_state(trained.step(z, acts))
    assert (read - obs).abs().mean() < 0.05  # the readout gives the state back
    err = (nxt - torch.as_tensor(data.next_observations)).abs().mean()
    still = (obs - torch.as_tensor(data.next_observations)).abs().mean()  # ~0.24
    assert err < 0.2 * still
    # the latent is wide: its states span more directions than the 2 of the state
    sing = torch.linalg.svdvals(z - z.mean(0))
    assert (sing > 0.01 * sing[0]).sum() > 2


def test_it_plans_through_the_contracts(trained):
    z0 = trained.encode(torch.tensor([[1.0, 1.0]]))
    actions = torch.zeros(1, 4, 2, requires_grad=True)
    out = contracts.rollout(trained, z0, actions)
    assert out.shape == (1, 4, 16)
    trained.to_state(out[:, -1]).sum().backward()
    assert torch.isfinite(actions.grad).all()


def test_checkpoint_round_trip(trained, tmp_path):
    json_path, _ = save(trained, tmp_path / "latent")
    again = load(tmp_path / "latent")
    x = torch.tensor([[0.5, 3.0], [2.0, 2.0]])
    a = torch.tensor([[0.3, -0.2], [1.0, 1.0]])
    assert torch.equal(again.encode(x), trained.encode(x))
    assert torch.equal(again.step(again.encode(x), a), trained.step(trained.encode(x), a))
    assert torch.equal(again.to_state(again.encode(x)), trained.to_state(trained.encode(x)))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"latent_dim \(4\) must exceed obs_dim"):
        LatentStateDynamics(4, BOX, latent_dim=4)
    with pytest.raises(ValueError, match="hidden must be an integer >= 1"):
        LatentStateDynamics(2, BOX, hidden=0)
    with pytest.raises(ValueError, match="action_repeat"):
        LatentStateDynamics(2, BOX, action_repeat=0)
    model = LatentStateDynamics(2, BOX, latent_dim=8, hidden=8, depth=1)
    with pytest.raises(ValueError, match=r"expected state observations \[\.\.\., 2\]"):
        model.encode(torch.zeros(3, 5))
    assert model.encode(torch.zeros(3, 2)).shape == (3, 8)  # still usable
