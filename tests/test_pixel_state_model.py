"""ConvStateWorldModel (a pixel model whose first latent coordinates read the state), the
StateAnchor objective, uint8 image batches, and the frozen pretrained backbone option."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from wmplan_agents.checkpoint import load, save
from wmplan_agents.data import Dataset
from wmplan_agents.models import ConvStateWorldModel, ConvWorldModel, MLPDynamics
from wmplan_agents.objectives import Prediction, StateAnchor
from wmplan_agents.training import _normalization_windows, state_readout_error, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
SIZE = 16


def _image(x: float, y: float) -> np.ndarray:
    """A white 16x16 image with a dark 3x3 dot centred near (x, y) (bilinear, so sub-pixel)."""
    img = np.full((SIZE, SIZE, 3), 255.0)
    gx, gy = np.meshgrid(np.arange(SIZE), np.arange(SIZE))
    w = np.clip(1.5 - np.abs(gx - x), 0, 1) * np.clip(1.5 - np.abs(gy - y), 0, 1)
    img -= 255.0 * w[..., None]
    return img.clip(0, 255).astype(np.uint8)


def _dot_dataset(n_episodes: int, steps: int, seed: int) -> Dataset:
    """A dot that moves by its action (0.8 px per unit), bouncing inside the image; the state
    is its position."""
    g = np.random.default_rng(seed)
    obs, nxt, acts, eps, st, nst = [], [], [], [], [], []
    for e in range(n_episodes):
        p = g.uniform(3, SIZE - 4, 2)
        for _ in range(steps):
            a = g.uniform(-1, 1, 2).astype(np.float32)
            q = np.clip(p + 0.8 * a, 2, SIZE - 3)
            obs.append(_image(*p))
            nxt.append(_image(*q))
            acts.append(a)
            eps.append(e)
            st.append(p.astype(np.float32))
            nst.append(q.astype(np.float32))
            p = q
    return Dataset(
        np.stack(obs), np.stack(acts), np.stack(nxt), np.asarray(eps), BOX,
        states=np.stack(st), next_states=np.stack(nst),
    )  # fmt: skip


def _model(**kw):
    kw = {"latent_dim": 4, "keypoints": 1, "channels": 8, "n_layers": 2, "hidden": 32, **kw}
    return ConvStateWorldModel((SIZE, SIZE, 3), BOX, state_dim=2, **kw)


def test_uint8_images_stay_uint8_in_batches_and_states_come_along():
    data = _dot_dataset(2, 6, seed=0)
    batch = data.batch(np.array([0, 1]), 3)
    assert batch["obs"].dtype == torch.uint8 and batch["obs"].shape == (2, 4, SIZE, SIZE, 3)
    assert batch["states"].shape == (2, 4, 2)
    np.testing.assert_array_equal(batch["obs"][1, 0].numpy(), data.observations[1])
    state_data = Dataset(
        data.states, data.actions, data.next_states, data.episodes, BOX
    )  # float observations stay float32
    assert state_data.batch(np.array([0]), 2)["obs"].dtype == torch.float32


def test_normalization_sees_fewer_windows_of_large_observations():
    small = _dot_dataset(1, 4, seed=0)
    assert _normalization_windows(small, 3, 1) == min(20_000, (256 << 20) // (4 * 768 * 4))
    state_data = Dataset(small.states, small.actions, small.next_states, small.episodes, BOX)
    assert _normalization_windows(state_data, 3, 1) == 20_000


def test_the_anchor_makes_the_latent_read_the_state_and_its_predictions():
    train_data, fresh = _dot_dataset(40, 20, seed=0), _dot_dataset(6, 20, seed=1)
    model = _model(seed=0)
    obj = model.default_objective()
    assert repr(obj).count("(horizon=3") == 2 and "detach_input=True" in repr(obj)
    train(model, train_data, epochs=40, batch_size=32, lr=3e-3, patience=40, progress=False)
    # statistics fitted from the training states
    np.testing.assert_allclose(model.state_mean.numpy(), train_data.states.mean(0), atol=0.3)
    batch = fresh.batch(fresh.window_starts(3), 3)
    with torch.no_grad():
        z = model.encode(batch["obs"][:, 0])
        read = model.to_state(z)
        for t in range(3):
            z = model.step(z, batch["actions"][:, t])
        predicted = model.to_state(z)
    spread = float(fresh.states.std(0).mean())  # ~3 px: the error of guessing the mean
    enc_err = float((read - batch["states"][:, 0]).abs().mean())
    pred_err = float((predicted - batch["states"][:, 3]).abs().mean())
    assert enc_err < 0.25 * spread, (enc_err, spread)
    assert pred_err < 0.35 * spread, (pred_err, spread)
    # the same through state_readout_error: the read-back states beat reading the first frame
    # ("no change") after 2 and 3 steps, and agree with the errors above
    err, no_change = state_readout_error(model, fresh, horizon=3)
    assert err.shape == no_change.shape == (4, 2)
    assert abs(float(err[0].mean()) - enc_err) < 1e-4
    assert (err[2:] < no_change[2:]).all(), (err, no_change)
    with pytest.raises(ValueError, match="to_state"):
        state_readout_error(MLPDynamics(2, BOX), fresh, 1)
    # no collapse: the prediction loss does not reach the encoder, so the unanchored
    # coordinates keep varying with the image
    with torch.no_grad():
        spread_z = model.encode(torch.as_tensor(fresh.observations)).std(0)
    assert int((spread_z > 1e-2 * spread_z.max()).sum()) >= 4, spread_z
    # the model never sees states at planning time: encode takes images only
    assert model.encode(torch.as_tensor(fresh.observations[:2])).shape == (2, 6)


def test_angle_entries_are_anchored_as_cos_sin_pairs():
    model = ConvStateWorldModel(
        (SIZE, SIZE, 3), BOX, state_dim=3, angle_dims=(2,), latent_dim=8, channels=4,
        n_layers=2,
    )  # fmt: skip
    states = torch.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, np.pi / 2]])
    feats = model.state_features(states)
    torch.testing.assert_close(feats, torch.tensor([[1.0, 2.0, 1.0, 0.0], [3.0, 4.0, 0.0, 1.0]]))
    model.fit_normalization({"states": states[:, None]})
    with torch.no_grad():  # a readout that copies the first four latent coordinates
        model.readout.weight.copy_(torch.eye(4, 8))
        model.readout.bias.zero_()
    z = torch.zeros(2, 8)
    z[:, :4] = model.anchor_target(states)
    torch.testing.assert_close(model.to_state(z), feats)
    assert (model.raw_dim, model.angle_dims, model.n_state_features) == (3, (2,), 4)


def test_bad_arguments_and_missing_states_raise_clear_errors():
    with pytest.raises(ValueError, match="state_dim"):
        ConvStateWorldModel((SIZE, SIZE, 3), BOX, state_dim=0)
    with pytest.raises(ValueError, match="angle_dims"):
        ConvStateWorldModel((SIZE, SIZE, 3), BOX, state_dim=2, angle_dims=(2,), n_layers=2)
    with pytest.raises(ValueError, match="must exceed"):
        ConvStateWorldModel((SIZE, SIZE, 3), BOX, state_dim=4, latent_dim=4, n_layers=2)
    data = _dot_dataset(12, 6, seed=0)
    no_states = Dataset(data.observations, data.actions, data.next_observations, data.episodes, BOX)
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="true states"):
        train(model, no_states, epochs=1, progress=False)
    for k, v in model.state_dict().items():  # the model is left as it was
        torch.testing.assert_close(v, before[k])
    with pytest.raises(ValueError, match="anchor_target"):
        StateAnchor()(MLPDynamics(2, BOX), data.batch(np.array([0]), 1), torch.Generator())
    with pytest.raises(ValueError, match="true states"):
        StateAnchor()(model, no_states.batch(np.array([0]), 1), torch.Generator())
    with pytest.raises(ValueError, match="horizon"):
        StateAnchor(horizon=-1)


def test_checkpoint_round_trip(tmp_path):
    model = _model(seed=3)
    model.fit_normalization({"states": torch.randn(10, 2, 2) * 3 + 5})
    save(model, tmp_path / "m")
    back = load(tmp_path / "m")
    assert isinstance(back, ConvStateWorldModel)
    x = torch.as_tensor(_dot_dataset(1, 3, seed=2).observations)
    torch.testing.assert_close(back.to_state(back.encode(x)), model.to_state(model.encode(x)))


# -- a frozen pretrained backbone from a local path ----------------------------------------------


@pytest.fixture
def tiny_vit(tmp_path, monkeypatch):
    """A randomly initialised 1-layer ViT saved with save_pretrained (never downloaded)."""
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = transformers.ViTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        image_size=16, patch_size=8,
    )  # fmt: skip
    torch.manual_seed(0)
    path = tmp_path / "vit"
    transformers.ViTModel(config, add_pooling_layer=False).save_pretrained(path)
    return path


def test_a_frozen_backbone_encodes_and_only_its_head_trains(tiny_vit, tmp_path):
    model = ConvWorldModel(
        (SIZE, SIZE, 3), BOX, latent_dim=5, n_layers=2, decoder=False, backbone=str(tiny_vit)
    )
    backbone = model.encoder.backbone
    frozen = {k: v.clone() for k, v in backbone.state_dict().items()}
    # the backbone's weights are neither parameters nor checkpointed tensors of the model
    n_backbone = sum(p.numel() for p in backbone.parameters())
    assert n_backbone > 0
    assert not any(k.startswith("encoder.backbone") for k in model.state_dict())
    assert sum(p.numel() for p in model.encoder.parameters()) == 2 * 16 * 5 + 5
    data = _dot_dataset(12, 4, seed=0)
    head = model.encoder.head.weight.clone()
    train(model, data, Prediction(horizon=1), epochs=2, batch_size=8, progress=False)
    assert not torch.equal(model.encoder.head.weight, head)  # the head learned
    for k, v in backbone.state_dict().items():  # the backbone did not
        torch.testing.assert_close(v, frozen[k])
    x = torch.as_tensor(data.observations[:3])
    assert model.encode(x).shape == (3, 5)
    # the checkpoint records the path and reloads the same encoder from it
    save(model, tmp_path / "m")
    back = load(tmp_path / "m")
    torch.testing.assert_close(back.encode(x), model.encode(x))


def test_backbone_paths_that_cannot_be_loaded_raise(tmp_path, tiny_vit):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        ConvWorldModel((SIZE, SIZE, 3), BOX, n_layers=2, backbone=str(tmp_path / "missing"))
    (tiny_vit / "model.safetensors").rename(tmp_path / "elsewhere.safetensors")
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors"):
        ConvWorldModel((SIZE, SIZE, 3), BOX, n_layers=2, backbone=str(tiny_vit))
