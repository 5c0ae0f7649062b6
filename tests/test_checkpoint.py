"""Checkpoints and dataset files: exact round trips and the documented errors."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from wmplan_agents.checkpoint import CheckpointError, load, read_config, save
from wmplan_agents.data import Dataset, collect
from wmplan_agents.models import (
    HELM,
    ContrastiveEncoder,
    ConvStateWorldModel,
    ConvWorldModel,
    EnergyMLP,
    KeypointWorldModel,
    MLPDynamics,
    StateReaderModel,
)

BOX = gym.spaces.Box(np.float32([-1.0, -2.0]), np.float32([1.0, 0.5]), dtype=np.float32)


def _perturbed(model):
    """Non-default values in every parameter and buffer, so a round trip has something to keep."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * 0.3 + 1.0)
            else:
                t.fill_(True)
    return model


MODELS = {
    "mlp": lambda: MLPDynamics(5, BOX, hidden=16, depth=2, action_repeat=3, normalize_latent=True),
    "mlp_discrete": lambda: MLPDynamics(5, gym.spaces.Discrete(4, start=1), hidden=8, depth=1),
    "helm": lambda: HELM(5, BOX, coarse_k=4, hidden=16, depth=1),
    "contrastive": lambda: ContrastiveEncoder(5, gym.spaces.Discrete(3), latent_dim=4, hidden=8),
    "conv": lambda: ConvWorldModel((16, 16, 3), BOX, latent_dim=4, channels=4, n_layers=2),
    "energy": lambda: EnergyMLP(2, hidden=8, depth=1),
    "keypoint": lambda: KeypointWorldModel((16, 16, 3), BOX, channels=4, n_layers=2, hidden=8),
    "reader": lambda: StateReaderModel(
        ConvStateWorldModel(
            (16, 16, 3), BOX, state_dim=3, latent_dim=4, keypoints=1, channels=4, n_layers=2
        ),
        MLPDynamics(3, BOX, hidden=8, depth=1, normalize_latent=True),
    ),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip_is_exact(name, tmp_path):
    model = _perturbed(MODELS[name]())
    json_path, weights_path = save(model, tmp_path / name, metadata={"note": "x"})
    assert json_path.name == f"{name}.json" and weights_path.name == f"{name}.safetensors"
    loaded = load(tmp_path / name)
    assert type(loaded) is type(model)
    assert read_config(json_path)["metadata"] == {"note": "x"}
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    cfg_a, cfg_b = model.get_config(), loaded.get_config()
    assert cfg_a.keys() == cfg_b.keys()
    for k in cfg_a:
        assert cfg_a[k] == cfg_b[k] or str(cfg_a[k]) == str(cfg_b[k]), k
    if name == "energy":
        x = torch.rand(4, 2)
        assert torch.equal(model.energy(x), loaded.energy(x))
        return
    obs = torch.rand(3, *((16, 16, 3) if name in ("conv", "keypoint", "reader") else (5,))) * 255
    from wmplan_agents.contracts import action_dim

    act = torch.rand(3, action_dim(model))
    model.eval()
    assert torch.equal(model.step(model.encode(obs), act), loaded.step(loaded.encode(obs), act))
    # the path may also be given with either suffix
    assert type(load(json_path)) is type(model) and type(load(weights_path)) is type(model)


def test_missing_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.json"):
        load(tmp_path / "nothing")
    save(MODELS["mlp"](), tmp_path / "m")
    (tmp_path / "m.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"m\.safetensors"):
        load(tmp_path / "m")


def test_truncated_weights_are_reported(tmp_path):
    save(MODELS["mlp"](), tmp_path / "m")
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r"m\.safetensors.*truncated"):
        load(tmp_path / "m")


def test_corrupt_weights_with_matching_hash_are_reported(tmp_path):
    save(MODELS["mlp"](), tmp_path / "m")
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(b"\x00" * 64)
    cfg = json.loads((tmp_path / "m.json").read_text())
    import hashlib

    cfg["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (tmp_path / "m.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unreadable"):
        load(tmp_path / "m")


def test_corrupt_or_foreign_config_is_reported(tmp_path):
    save(MODELS["mlp"](), tmp_path / "m")
    config = tmp_path / "m.json"
    text = config.read_text()
    config.write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match=r"m\.json is not valid JSON"):
        load(tmp_path / "m")
    config.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a wmplan model config"):
        load(tmp_path / "m")
    cfg = json.loads(text)
    cfg["module"] = "os"
    config.write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="not 'os'"):
        load(tmp_path / "m")


def test_a_crafted_config_cannot_import_or_call_anything(tmp_path):
    """The JSON names a function that writes a file; loading must refuse it, call nothing."""
    save(MODELS["mlp"](), tmp_path / "m")
    cfg = json.loads((tmp_path / "m.json").read_text())
    target = tmp_path / "written.npz"
    for module, name in [
        ("wmplan_agents.workflows", "collect_to_file"),
        ("wmplan_agents.models", "ground_truth"),
        ("wmplan_agents.models.mlp", "__class__"),
        ("builtins", "eval"),
    ]:
        cfg.update(
            module=module, kwargs={"env_id": "WMPlan/LinearExpansive-v0", "out": str(target)}
        )
        cfg["class"] = name
        (tmp_path / "m.json").write_text(json.dumps(cfg))
        with pytest.raises(CheckpointError, match="not a registered model class"):
            load(tmp_path / "m")
    assert not target.exists()


def test_weights_of_another_model_are_a_mismatch(tmp_path):
    save(MLPDynamics(5, BOX, hidden=16, depth=2), tmp_path / "a")
    save(MLPDynamics(5, BOX, hidden=32, depth=2), tmp_path / "b")
    # pair a's config with b's weights (hash updated, so only the shapes disagree)
    cfg = json.loads((tmp_path / "a.json").read_text())
    cfg["sha256"] = json.loads((tmp_path / "b.json").read_text())["sha256"]
    (tmp_path / "a.json").write_text(json.dumps(cfg))
    (tmp_path / "b.safetensors").replace(tmp_path / "a.safetensors")
    with pytest.raises(CheckpointError, match=r"do not match.*wrong shape \['net.0.bias'"):
        load(tmp_path / "a")


def test_save_needs_get_config(tmp_path):
    with pytest.raises(TypeError, match="get_config"):
        save(torch.nn.Linear(2, 2), tmp_path / "x")


def test_dataset_round_trip_and_errors(tmp_path):
    env = gym.make("WMPlan/LinearExpansive-v0", max_episode_steps=7)
    ds = collect(env, "uniform", 50, seed=3, progress=False)
    again = collect(env, "uniform", 50, seed=3, progress=False)
    assert np.array_equal(ds.actions, again.actions)  # seeded collection
    assert ds.episodes.max() == 7 and ds.states is not None
    path = ds.save(tmp_path / "data")
    loaded = Dataset.load(path)
    for name in ("observations", "actions", "next_observations", "episodes", "states"):
        assert np.array_equal(getattr(ds, name), getattr(loaded, name)), name
    assert loaded.action_space == ds.action_space and loaded.meta["seed"] == 3
    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        Dataset.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"bad\.npz"):
        Dataset.load(bad)
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(CheckpointError, match="no wmplan header"):
        Dataset.load(tmp_path / "foreign.npz")
    # windows never cross episodes
    starts = ds.window_starts(3)
    assert np.all(ds.episodes[starts] == ds.episodes[starts + 2])
    batch = ds.batch(starts[:4], 3)
    assert batch["obs"].shape == (4, 4, 4) and batch["actions"].shape == (4, 3, 4)
    torch.testing.assert_close(
        batch["obs"][:, 1], torch.as_tensor(ds.next_observations[starts[:4]])
    )


def test_metadata_with_nan_or_inf_is_refused_and_nothing_is_left(tmp_path):
    from wmplan_agents.checkpoint import CheckpointError, save
    from wmplan_agents.models import MLPDynamics

    space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    model = MLPDynamics(3, space, hidden=8, depth=1, seed=0)
    with pytest.raises(CheckpointError, match="NaN or inf"):
        save(model, tmp_path / "m", metadata={"best_val_loss": float("inf")})
    assert list(tmp_path.iterdir()) == []


def test_weights_and_config_get_the_same_file_mode(tmp_path):
    import os

    from wmplan_agents.checkpoint import save
    from wmplan_agents.models import MLPDynamics

    space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    json_path, weights_path = save(MLPDynamics(3, space, hidden=8, depth=1), tmp_path / "m")
    assert os.stat(weights_path).st_mode == os.stat(json_path).st_mode


def test_corrupt_fields_are_checkpoint_errors_naming_file_and_field(tmp_path):
    from wmplan_agents.checkpoint import CheckpointError, save
    from wmplan_agents.data import Dataset
    from wmplan_agents.models import MLPDynamics

    space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    save(MLPDynamics(3, space, hidden=8, depth=1), tmp_path / "m")
    cfg = json.loads((tmp_path / "m.json").read_text())
    cfg["kwargs"]["action_space"] = {"__space__": {"type": "Box", "low": [0]}}
    (tmp_path / "m.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"m\.json: field 'kwargs'.*lacks the fields"):
        load(tmp_path / "m")
    cfg["kwargs"] = {"obs_dim": 3, "nonsense": 1}
    (tmp_path / "m.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="cannot build MLPDynamics"):
        load(tmp_path / "m")

    obs = np.zeros((20, 3), np.float32)
    data = Dataset(obs, np.zeros((20, 2), np.float32), obs, np.repeat(np.arange(4), 5), space)
    path = data.save(tmp_path / "d.npz")
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    for header, match in [
        ("{not json", "header is not valid JSON"),
        (json.dumps({"format": "wmplan-dataset", "version": 1}), "lacks the field 'action_space'"),
        (
            json.dumps({"format": "wmplan-dataset", "action_space": {"type": "Discrete"}}),
            "lacks the fields",
        ),
    ]:
        np.savez_compressed(path, **{**arrays, "header": np.array(header)})
        with pytest.raises(CheckpointError, match=match) as err:
            Dataset.load(path)
        assert "d.npz" in str(err.value)
