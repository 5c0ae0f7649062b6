"""The true dynamics of an env, wrapped as a :class:`~wmplan_agents.contracts.WorldModel`.

An env whose dynamics are known exposes them as ``transition_torch(state [B, D], action [B, a])
-> [B, D]`` (batched, differentiable, identical to ``step`` on the state vector). Envs keep every
per-episode parameter (a door position, a goal) either out of the transition or inside the state
vector, so one ground-truth model serves every episode and every env of a vector env.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from wmplan_agents.contracts import KnownDynamics, action_dim, single_env


class GroundTruthModel:
    """A world model whose latent is the state observation and whose step is the true transition.

    ``encode`` is the identity on state observations ``[B, *obs_shape]`` (cast to float32 unless
    already floating point, then flattened to ``[B, D]``); ``step`` splits a model action into its
    ``action_repeat`` env actions and applies ``transition`` once per env action. For a
    ``Discrete`` space each env action is a (possibly relaxed) one-hot block ``[B, n]``, passed to
    ``transition`` as it is.
    """

    def __init__(
        self,
        transition: Any,
        action_space: gym.spaces.Space,
        observation_space: gym.spaces.Box,
        action_repeat: int = 1,
    ) -> None:
        if isinstance(action_repeat, bool) or not isinstance(action_repeat, (int, np.integer)):
            raise ValueError(f"action_repeat must be a positive integer, got {action_repeat!r}")
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be a positive integer, got {action_repeat}")
        self.transition = transition
        self.action_space = action_space
        self.observation_space = observation_space
        self.action_repeat = int(action_repeat)
        # the env this model is the dynamics of (set by ground_truth from the env's spec)
        self.env_id: str | None = None
        self.env_kwargs: dict[str, Any] = {}

    def encode(self, obs: Tensor) -> Tensor:
        """``[B, *obs_shape] -> [B, D]``: the state itself."""
        obs = torch.as_tensor(obs)
        shape = tuple(self.observation_space.shape)
        if obs.ndim != len(shape) + 1 or tuple(obs.shape[1:]) != shape:
            raise ValueError(
                f"expected a batch of state observations of shape [B, {', '.join(map(str, shape))}]"
                f", got shape {list(obs.shape)}"
            )
        if not obs.is_floating_point():
            obs = obs.float()
        return obs.reshape(obs.shape[0], -1)

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        """``[B, D], [B, A] -> [B, D]``: ``action_repeat`` true transitions."""
        expected = action_dim(self)
        if a.ndim != 2 or a.shape[1] != expected or a.shape[0] != z.shape[0]:
            raise ValueError(
                f"expected actions of shape [B={z.shape[0]}, A={expected}], got {list(a.shape)}"
            )
        blocks = a.reshape(a.shape[0], self.action_repeat, -1)
        space = self.action_space
        for j in range(self.action_repeat):
            env_action = blocks[:, j]
            if isinstance(space, gym.spaces.Box):
                env_action = env_action.reshape(a.shape[0], *space.shape)
            z = self.transition(z, env_action)
        return z

    def to_state(self, z: Tensor) -> Tensor:
        """The env state of a latent: the latent itself."""
        return z

    def __repr__(self) -> str:
        owner = getattr(getattr(self.transition, "__self__", None), "spec", None)
        name = owner.id if owner is not None else getattr(self.transition, "__qualname__", "?")
        return f"GroundTruthModel({name}, action_repeat={self.action_repeat})"


def ground_truth(env: Any, *, action_repeat: int = 1, **env_kwargs: Any) -> GroundTruthModel:
    """The true dynamics of ``env`` as a world model.

    ``env``: a gymnasium env (wrapped or not), an env id (made with ``env_kwargs``), or a vector
    env whose sub-envs are reachable (``SyncVectorEnv``, SB3's ``DummyVecEnv``). The env must
    expose ``transition_torch`` (LinearExpansive, RuggedLandscape and every other env whose
    dynamics are known) and use state observations. ``action_repeat``: env actions per model
    action (the model applies the transition that many times per ``step``).

    Raises ``ValueError`` for envs without known dynamics or with ``obs_type`` other than
    ``"state"``.
    """
    single = single_env(env, env_kwargs)
    base = single.unwrapped
    name = base.spec.id if base.spec is not None else type(base).__name__
    if not isinstance(base, KnownDynamics):
        raise ValueError(
            f"{name} does not expose its dynamics (no transition_torch method), so it has no "
            "ground-truth model; train a world model for it instead"
        )
    obs_type = getattr(base, "obs_type", "state")
    if obs_type != "state":
        raise ValueError(
            f"ground_truth needs state observations, but {name} has obs_type={obs_type!r}; "
            'make the env with obs_type="state"'
        )
    obs_space = base.observation_space
    if isinstance(obs_space, gym.spaces.Dict):
        obs_space = obs_space["observation"]
    if not isinstance(obs_space, gym.spaces.Box):
        raise ValueError(f"{name}: expected a Box state observation space, got {obs_space}")
    model = GroundTruthModel(
        base.transition_torch, base.action_space, obs_space, action_repeat=action_repeat
    )
    spec = base.spec if base.spec is not None else single.spec
    if spec is not None:
        model.env_id, model.env_kwargs = spec.id, dict(spec.kwargs or {})
    return model


__all__ = ["GroundTruthModel", "ground_truth"]
