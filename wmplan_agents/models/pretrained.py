"""The world models shipped with wmplan: ``load_pretrained(env_id, obs_type="state")``.

The checkpoints live in ``wmplan_agents/pretrained/`` (safetensors weights plus a JSON config,
see :mod:`wmplan_agents.checkpoint`) and are trained by ``scripts/train_pretrained.py``; each
config's ``metadata`` records the recipe, the training time and the validation errors.

==============================  ==========  =================================================
env id                          obs_type    model
==============================  ==========  =================================================
``WMPlan/PushT-v0``             state       ``AngleFeatureDynamics`` (relative actions,
                                            ``action_repeat=5``; pushing-policy data)
``WMPlan/WallSingle-v0``        state       ``MLPDynamics``
``WMPlan/WallSingle-v0``        pixels      ``StateReaderModel`` (64 x 64 images: a conv
                                            reader of the state, then the state model)
``WMPlan/PointMaze-v0``         state       ``MLPDynamics``
``WMPlan/MiniGridEmpty-v0``     state       ``ContrastiveEncoder`` (InfoNCE latent)
==============================  ==========  =================================================

Each checkpoint records the env id and keyword arguments it was trained on (its ``"env"``
field; ``model.env_id`` and ``model.env_kwargs`` once loaded). The default registration of every
env is the benchmark its shipped model plans in, so ``gym.make(env_id, **model.env_kwargs)``
(plain ``gym.make(env_id)`` for state models) is the env to plan in; ``MPCAgent.check_env``
says when an env does not fit a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from registry.models import SHIPPED_MODELS
from wmplan_agents.contracts import model_env

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"

# (env id, obs_type) -> checkpoint name in PRETRAINED_DIR, from the catalogue
CHECKPOINTS = SHIPPED_MODELS


def available() -> list[tuple[str, str]]:
    """The ``(env_id, obs_type)`` pairs that have a shipped model."""
    return list(CHECKPOINTS)


def _normalise_id(env_id: str) -> str:
    return env_id if "/" in env_id else f"WMPlan/{env_id}"


def pretrained_path(env_id: str, obs_type: str = "state") -> Path:
    """Path stem (without suffix) of the shipped checkpoint; ``ValueError`` if there is none."""
    if not isinstance(env_id, str) or not isinstance(obs_type, str):
        raise ValueError(f"env_id and obs_type must be strings, got {env_id!r} and {obs_type!r}")
    key = (_normalise_id(env_id), obs_type)
    if key not in CHECKPOINTS:
        listing = ", ".join(f"{e} (obs_type={o!r})" for e, o in CHECKPOINTS)
        raise ValueError(
            f"no pretrained model for env_id={env_id!r}, obs_type={obs_type!r}; available: "
            f"{listing}"
        )
    return PRETRAINED_DIR / CHECKPOINTS[key]


def load_pretrained(
    env_id: str, obs_type: str = "state", *, device: str | torch.device = "cpu"
) -> torch.nn.Module:
    """The shipped world model for ``env_id`` with ``obs_type`` observations, in eval mode.

    ``env_id`` may omit the ``WMPlan/`` prefix. An unknown pair raises ``ValueError`` listing the
    available ones; a missing or corrupt file raises the errors of
    :func:`wmplan_agents.checkpoint.load`. The model satisfies
    :class:`~wmplan_agents.contracts.WorldModel` and knows its env (``model.env_id``,
    ``model.env_kwargs``).
    """
    from wmplan_agents.checkpoint import load

    path = pretrained_path(env_id, obs_type)
    model = load(path, map_location=device)
    recorded, _ = model_env(model)
    if recorded != _normalise_id(env_id):
        from wmplan_agents.checkpoint import CheckpointError

        raise CheckpointError(
            f"{path}.json records env {recorded!r}, expected {_normalise_id(env_id)!r}"
        )
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def pretrained_metadata(env_id: str, obs_type: str = "state") -> dict[str, Any]:
    """The ``metadata`` of a shipped checkpoint (recipe, training time, validation errors)."""
    from wmplan_agents.checkpoint import read_config

    return dict(read_config(pretrained_path(env_id, obs_type)).get("metadata", {}))


__all__ = ["available", "load_pretrained", "pretrained_metadata", "pretrained_path"]
