"""StateReaderModel: a state reader in front of a state world model."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from wmplan_agents.contracts import WorldModel
from wmplan_agents.models import (
    ConvStateWorldModel,
    ConvWorldModel,
    MLPDynamics,
    StateReaderModel,
)

BOX = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)


def _reader(**kw):
    return ConvStateWorldModel(
        (16, 16, 3), BOX, state_dim=3, latent_dim=4, keypoints=1, channels=8, n_layers=2,
        hidden=8, depth=1, **kw,
    )  # fmt: skip


def test_it_encodes_through_the_reader_and_steps_with_the_state_model():
    reader, dynamics = _reader(), MLPDynamics(3, BOX, hidden=16, depth=1, normalize_latent=True)
    with torch.no_grad():  # statistics that are not the identity
        dynamics.obs_mean.copy_(torch.tensor([30.0, 30.0, 20.0]))
        dynamics.obs_std.copy_(torch.tensor([10.0, 12.0, 8.0]))
    model = StateReaderModel(reader, dynamics).eval()
    assert isinstance(model, WorldModel)
    assert model.action_space == BOX and model.action_repeat == 1
    obs = torch.randint(0, 256, (4, 16, 16, 3), dtype=torch.uint8)
    read = reader.to_state(reader.encode(obs))
    z = model.encode(obs)
    torch.testing.assert_close(z, (read - dynamics.obs_mean) / dynamics.obs_std)
    torch.testing.assert_close(model.to_state(z), read)
    a = torch.rand(4, 2) * 2 - 1
    torch.testing.assert_close(model.step(z, a), dynamics.step(z, a))
    acts = torch.rand(4, 3, 2) * 2 - 1
    torch.testing.assert_close(model.rollout(z, acts)[:, -1], dynamics.rollout(z, acts)[:, -1])
    # the checkpoint description rebuilds the same parts
    again = StateReaderModel(**model.get_config())
    assert type(again.reader) is ConvStateWorldModel and type(again.dynamics) is MLPDynamics


def test_parts_that_do_not_fit_are_refused():
    dyn = MLPDynamics(3, BOX, hidden=8, depth=1)
    with pytest.raises(ValueError, match="reader gives 3 state features, the state model takes 4"):
        StateReaderModel(_reader(), MLPDynamics(4, BOX, hidden=8, depth=1))
    with pytest.raises(ValueError, match=r"reader \(ConvWorldModel\) has no to_state"):
        StateReaderModel(ConvWorldModel((16, 16, 3), BOX, latent_dim=3, n_layers=2), dyn)
    with pytest.raises(ValueError, match=r"dynamics \(ConvStateWorldModel\) has no from_state"):
        StateReaderModel(_reader(), _reader())
    with pytest.raises(ValueError, match="reader must be a model or"):
        StateReaderModel({"class": "MLPDynamics"}, dyn)
    with pytest.raises(ValueError, match=r"'os\.system' is not a model class"):
        StateReaderModel({"class": "os.system", "kwargs": {}}, dyn)
    nested = StateReaderModel(_reader(), dyn).get_config()
    with pytest.raises(ValueError, match="'StateReaderModel' is not a model class"):
        StateReaderModel({"class": "StateReaderModel", "kwargs": nested}, dyn)
