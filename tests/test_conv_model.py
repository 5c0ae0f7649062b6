"""ConvWorldModel's options for small moving objects: change-weighted and predictive
reconstruction (``Reconstruction(change_weight=, predict_steps=)``) and ``latent_norm``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from wmplan_agents.checkpoint import load, save
from wmplan_agents.models import ConvWorldModel
from wmplan_agents.objectives import LatentVariance, Prediction, Reconstruction

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
SIZE = 16


def _model(**kw):
    return ConvWorldModel((SIZE, SIZE, 3), BOX, latent_dim=6, channels=4, n_layers=2, **kw)


def _batch(b=5, steps=2, seed=0):
    """A white image with a black static bar and a 2x2 red dot that moves one pixel a step."""
    g = np.random.default_rng(seed)
    obs = np.full((b, steps + 1, SIZE, SIZE, 3), 255, np.uint8)
    obs[:, :, :, 7:9] = 0
    for i in range(b):
        x, y = g.integers(1, 4), g.integers(1, 12)  # the dot stays left of the bar
        for t in range(steps + 1):
            obs[i, t, y : y + 2, x + t : x + t + 2, 1:] = 0
    acts = g.uniform(-1, 1, (b, steps, 2)).astype(np.float32)
    return {"obs": torch.as_tensor(obs), "actions": torch.as_tensor(acts)}


def test_default_reconstruction_is_the_plain_mse():
    model, batch = _model(), _batch()
    obj = Reconstruction()
    assert repr(obj) == "Reconstruction()" and obj.window(model) == 1
    x = model.obs_to_input(batch["obs"][:, 0])
    expected = ((model.decode(model.encode(batch["obs"][:, 0])) - x) ** 2).mean()
    got = obj(model, batch, torch.Generator())["loss"]
    torch.testing.assert_close(got, expected)


def test_change_weight_weights_the_pixels_that_move():
    model, batch = _model(), _batch()
    obj = Reconstruction(change_weight=20.0)
    assert obj.window(model) == 1
    x0 = model.obs_to_input(batch["obs"][:, 0])
    x1 = model.obs_to_input(batch["obs"][:, 1])
    w = 1 + 20.0 * (x1 - x0).abs().amax(dim=1, keepdim=True)
    # only the dot's pixels changed: weight 21 there, 1 on the static background and bar
    assert set(torch.unique(w).tolist()) == {1.0, 21.0}
    # a 2x2 dot moving one column: its first column is uncovered, a new one covered
    assert int((w > 1).sum()) == 5 * 4
    err = (model.decode(model.encode(batch["obs"][:, 0])) - x0) ** 2
    torch.testing.assert_close(obj(model, batch, torch.Generator())["loss"], (w * err).mean())
    plain = Reconstruction()(model, batch, torch.Generator())["loss"]
    assert obj(model, batch, torch.Generator())["loss"] > plain


def test_predict_steps_trains_the_predictor_through_the_decoder():
    model, batch = _model(), _batch(steps=3)
    obj = Reconstruction(change_weight=5.0, predict_steps=3)
    assert obj.window(model) == 3
    assert "predict_steps=3" in repr(obj)
    obj(model, batch, torch.Generator())["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.predictor.parameters())
    model.zero_grad(set_to_none=True)
    Reconstruction(change_weight=5.0)(model, batch, torch.Generator())["loss"].backward()
    assert all(p.grad is None for p in model.predictor.parameters())
    # the window is in env steps: action_repeat 2 doubles it
    rep = ConvWorldModel(
        (SIZE, SIZE, 3), BOX, latent_dim=4, channels=4, n_layers=2, action_repeat=2
    )
    assert obj.window(rep) == 6 and Reconstruction(change_weight=1.0).window(rep) == 2


@pytest.mark.parametrize("kw", [{"change_weight": -1.0}, {"predict_steps": -1}])
def test_bad_reconstruction_options_raise(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        Reconstruction(**kw)


def test_latent_variance_hinge():
    model, batch = _model(), _batch(b=16)
    obj = LatentVariance(target=1.0)
    z = model.encode(batch["obs"][:, 0])
    expected = torch.relu(1.0 - torch.sqrt(z.var(0) + 1e-4)).mean()
    torch.testing.assert_close(obj(model, batch, torch.Generator())["loss"], expected)
    # a latent whose every dimension already spreads more than the target costs nothing
    assert float(LatentVariance(target=1e-6)(model, batch, torch.Generator())["loss"].detach()) == 0
    with pytest.raises(ValueError, match="target"):
        LatentVariance(target=0.0)


def test_prediction_detach_input_trains_only_the_predictor():
    model, batch = _model(), _batch()
    Prediction(horizon=2)(model, batch, torch.Generator())["loss"].backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    obj = Prediction(horizon=2, detach_input=True)
    assert repr(obj) == "Prediction(horizon=2, detach_input=True)"
    obj(model, batch, torch.Generator())["loss"].backward()
    assert model.encoder[0].weight.grad is None
    assert all(p.grad.abs().sum() > 0 for p in model.predictor.parameters())


def test_prediction_normalize_divides_each_dimension_by_its_batch_variance():
    model, batch = _model(), _batch(b=16, steps=1)
    obj = Prediction(horizon=1, normalize=True)
    assert repr(obj) == "Prediction(horizon=1, normalize=True)"
    with torch.no_grad():
        z0, z1 = model.encode(batch["obs"][:, 0]), model.encode(batch["obs"][:, 1])
        var = z1.var(0)
        pred = model.step(z0, batch["actions"][:, 0])
        expected = ((pred - z1) ** 2 / (var + 1e-8 * var.mean() + 1e-12)).mean()
        got = obj(model, batch, torch.Generator())["loss"]
        plain = Prediction(horizon=1)(model, batch, torch.Generator())["loss"]
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(plain, ((pred - z1) ** 2).mean())


def test_keypoints_extend_the_latent_and_round_trip(tmp_path):
    batch = _batch(b=8)
    plain, kp = _model(seed=3), _model(seed=3, keypoints=2)
    assert "keypoints" not in plain.get_config() and kp.get_config()["keypoints"] == 2
    assert plain.latent_size == 6 and kp.latent_size == 10
    z = kp.encode(batch["obs"][:, 0])
    assert z.shape == (8, 10) and kp.decode(z).shape == (8, 3, SIZE, SIZE)
    assert kp.step(z, batch["actions"][:, 0]).shape == (8, 10)
    assert z[:, 6:].abs().max() <= 1  # coordinates in [-1, 1]
    # without keypoints the model is the one older checkpoints hold
    assert torch.equal(plain.encode(batch["obs"][:, 0]), _model(seed=3).encode(batch["obs"][:, 0]))
    save(kp, tmp_path / "m")
    assert torch.equal(load(tmp_path / "m").encode(batch["obs"][:, 0]), z.detach())


def test_keypoint_coordinates_follow_a_red_dot():
    """Heat maps set by hand to 'red minus green': the spatial softmax returns the dot's place."""
    model = _model(keypoints=1)
    conv1, conv2 = model.keypoint_net[0], model.keypoint_net[2]
    with torch.no_grad():
        for p in (*conv1.parameters(), *conv2.parameters()):
            p.zero_()
        conv1.weight[0, 0], conv1.weight[0, 1] = 1.0, -1.0
        conv2.weight[0, 0, 1, 1] = 5.0
    obs = np.full((2, SIZE, SIZE, 3), 255, np.uint8)
    obs[0, 2:4, 2:4, 1:] = 0  # dot near the top left
    obs[1, 12:14, 10:12, 1:] = 0  # dot near the bottom right
    z = model.encode(torch.as_tensor(obs)).detach()
    kx, ky = z[:, 6], z[:, 7]
    pix = lambda v: (v + 1) / 2 * (SIZE - 1)  # noqa: E731  (coordinate -> pixel)
    assert abs(pix(kx[0]) - 2.5) < 1.5 and abs(pix(ky[0]) - 2.5) < 1.5, z
    assert abs(pix(kx[1]) - 10.5) < 1.5 and abs(pix(ky[1]) - 12.5) < 1.5, z


def test_change_weighted_training_improves_the_dot_reconstruction():
    """With most pixels static, the weighted loss reconstructs the moving dot better than the
    plain one after the same number of steps from the same initial weights."""
    from wmplan_agents.training import train  # noqa: F401  (the loop is exercised elsewhere)

    batch = _batch(b=64, steps=1, seed=1)
    x0 = ConvWorldModel((SIZE, SIZE, 3), BOX).obs_to_input(batch["obs"][:, 0])
    x1 = ConvWorldModel((SIZE, SIZE, 3), BOX).obs_to_input(batch["obs"][:, 1])
    dot = (x1 - x0).abs().amax(dim=1, keepdim=True) > 0
    errs = {}
    for cw in (0.0, 50.0):
        model = _model(seed=0)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        obj = Reconstruction(change_weight=cw) + Prediction(horizon=1)
        for _ in range(150):
            opt.zero_grad()
            obj(model, batch, torch.Generator())["loss"].backward()
            opt.step()
        with torch.no_grad():
            err = (model.decode(model.encode(batch["obs"][:, 0])) - x0) ** 2
        errs[cw] = float(err.sum(1, keepdim=True)[dot].mean())
    assert errs[50.0] < 0.5 * errs[0.0], errs
