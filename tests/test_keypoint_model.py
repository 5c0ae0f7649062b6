"""KeypointWorldModel and MotionKeypoints: the latent's keypoint coordinates follow a small
moving object, not the background."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from wmplan_agents.contracts import WorldModel
from wmplan_agents.models import KeypointWorldModel
from wmplan_agents.objectives import MotionKeypoints, Reconstruction

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
SIZE = 16


def _clips(n: int, seed: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Three-frame clips ``[n, 3, S, S, 3]``: white, a black vertical bar at a random column (a
    background that differs between clips, like WallSingle's door between episodes) and a 2x2
    red dot that moves two pixels left or right per frame (so its three positions differ).
    Returns the clips and the dot's and the bar's columns in the middle frame."""
    g = np.random.default_rng(seed)
    obs = np.full((n, 3, SIZE, SIZE, 3), 255, np.uint8)
    dot_x, dot_y = g.integers(2, SIZE - 3, n), g.integers(0, SIZE - 1, n)
    bar_x = g.integers(0, SIZE, n)
    move = g.choice([-2, 2], n)
    for i in range(n):
        obs[i, :, :, bar_x[i]] = 0
        for t in range(3):
            x = dot_x[i] + (t - 1) * move[i]
            obs[i, t, dot_y[i] : dot_y[i] + 2, x : x + 2] = (255, 0, 0)
    return torch.as_tensor(obs), dot_x + 0.5, bar_x


def _model(**kw):
    kw = {"channels": 8, "n_layers": 2, "hidden": 16, "global_dim": 1, **kw}
    return KeypointWorldModel((SIZE, SIZE, 3), BOX, **kw)


def test_latent_layout_and_protocol():
    model = _model(keypoints=2, global_dim=3)
    assert isinstance(model, WorldModel)
    obs = _clips(4, 0)[0][:, 1]
    z = model.encode(obs)
    assert z.shape == (4, 3 + 2 * 2) and model.latent_size == 7
    assert bool((z[:, 3:].abs() <= 1).all()), "keypoint coordinates are inside [-1, 1]"
    assert model.decode(z).shape == (4, 3, SIZE, SIZE)
    assert model.step(z, torch.zeros(4, 2)).shape == z.shape
    assert model.rollout(z, torch.zeros(4, 5, 2)).shape == (4, 5, 7)


def test_full_resolution_heat_maps():
    model = _model(full_res_heat=True)
    obs = _clips(3, 0)[0][:, 1]
    x = model.obs_to_input(obs)
    assert model.heat_logits(x).shape == (3, 1, SIZE, SIZE)
    assert _model().heat_logits(x).shape == (3, 1, SIZE // 2, SIZE // 2)
    z = model.encode(obs)
    assert z.shape == (3, 3) and model.decode(z).shape == (3, 3, SIZE, SIZE)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="divisible"):
        KeypointWorldModel((18, 18, 3), BOX, n_layers=2)
    with pytest.raises(ValueError, match="keypoints >= 1"):
        KeypointWorldModel((16, 16, 3), BOX, keypoints=0)
    with pytest.raises(ValueError, match="blob_std"):
        KeypointWorldModel((16, 16, 3), BOX, blob_std=0.0)
    with pytest.raises(ValueError, match=r"expected images \[B, 16, 16, 3\]"):
        _model().encode(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))


def _train_keypoint_x(objective) -> tuple[float, float]:
    """Train a fresh model on 512 clips for 200 Adam steps; the correlation of the keypoint's x
    with the dot's column and with the bar's column on 200 new clips."""
    torch.manual_seed(0)
    model = _model()
    obs, _, _ = _clips(512, 0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        idx = torch.randint(0, len(obs), (64,), generator=gen)
        batch = {"obs": obs[idx], "actions": torch.zeros(64, 2, 2)}
        loss = objective(model, batch, gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    test_obs, dot_x, bar_x = _clips(200, 1)
    with torch.no_grad():
        kx = model.encode(test_obs[:, 1])[:, 1].numpy()
    return float(np.corrcoef(kx, dot_x)[0, 1]), float(np.corrcoef(kx, bar_x)[0, 1])


def test_motion_objective_puts_the_keypoint_on_the_moving_dot():
    # MotionKeypoints: the heat map learns where frame t+1 differs from both t and t+2, so the
    # keypoint follows the dot's column, not the bar's.
    corr_dot, corr_bar = _train_keypoint_x(MotionKeypoints() + Reconstruction(20.0))
    assert corr_dot > 0.98 and abs(corr_bar) < 0.2, (corr_dot, corr_bar)


def test_reconstruction_alone_does_not_find_the_dot():
    # Without it, the keypoints get no training signal (the decoder draws them detached), so
    # the keypoint does not follow the dot; on WallSingle, letting the reconstruction move the
    # keypoints sent them to the door instead (docs/results.md).
    corr_dot, _ = _train_keypoint_x(Reconstruction(20.0))
    assert abs(corr_dot) < 0.5, corr_dot


def test_motion_objective_needs_a_keypoint_model():
    from wmplan_agents.models import MLPDynamics

    model = MLPDynamics(3, BOX)
    batch = {"obs": torch.zeros(2, 3, 3), "actions": torch.zeros(2, 2, 2)}
    with pytest.raises(ValueError, match="heat_logits"):
        MotionKeypoints()(model, batch, torch.Generator())
    with pytest.raises(ValueError, match="steps"):
        MotionKeypoints(steps=0)
    assert MotionKeypoints(steps=2).window(_model()) == 4
