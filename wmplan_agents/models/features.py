"""``AngleFeatureDynamics``: :class:`MLPDynamics` on states with angle entries.

An angle stored modulo ``2 pi`` (Push-T's block angle) jumps from ``2 pi`` to ``0`` when the
body turns past zero: a residual model would have to predict a change of ``-2 pi`` for a small
rotation, and a planner's goal distance would call two nearly equal poses far apart. This model
replaces each listed angle entry ``theta`` of the observation by ``(cos theta, sin theta)``
before anything else, so the latent (and the dynamics it learns) is continuous in the angle.
Everything else is :class:`~wmplan_agents.models.mlp.MLPDynamics`: residual prediction,
normalisation statistics fitted from the training data, ``action_repeat``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import Tensor

from wmplan_agents.models.mlp import MLPDynamics


def angle_features(x: Tensor, angle_dims: tuple[int, ...]) -> Tensor:
    """States ``[..., S]`` -> the other entries in order, then a ``(cos, sin)`` pair for each
    entry of ``angle_dims``: ``[..., S + len(angle_dims)]``."""
    if not angle_dims:
        return x
    keep = [i for i in range(x.shape[-1]) if i not in angle_dims]
    ang = x[..., list(angle_dims)]
    trig = torch.stack([torch.cos(ang), torch.sin(ang)], dim=-1).flatten(-2)
    return torch.cat([x[..., keep], trig], dim=-1)


class AngleFeatureDynamics(MLPDynamics):
    """``MLPDynamics`` whose ``encode`` first maps the entries ``angle_dims`` of an ``obs_dim``
    state to ``(cos, sin)`` pairs (the latent has ``obs_dim + len(angle_dims)`` entries: the
    other entries in order, then the cos/sin pairs). Other keyword arguments as MLPDynamics."""

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.spaces.Space,
        *,
        angle_dims: tuple[int, ...] | list[int] = (),
        **kwargs: Any,
    ) -> None:
        dims = tuple(int(d) for d in angle_dims)
        if obs_dim < 1 or any(not 0 <= d < obs_dim for d in dims) or len(set(dims)) != len(dims):
            raise ValueError(
                f"angle_dims must be distinct indices in [0, obs_dim={obs_dim}), got {angle_dims!r}"
            )
        super().__init__(obs_dim + len(dims), action_space, **kwargs)
        self.raw_dim, self.angle_dims = int(obs_dim), dims
        self._config.update(obs_dim=int(obs_dim), angle_dims=list(dims))

    def features(self, obs: Tensor) -> Tensor:
        """Raw states ``[B, obs_dim]`` -> features ``[B, obs_dim + len(angle_dims)]``."""
        x = obs.reshape(obs.shape[0], -1).to(self.obs_mean.dtype)
        if x.shape[1] != self.raw_dim:
            raise ValueError(
                f"expected observations with {self.raw_dim} values each, got shape "
                f"{list(obs.shape)}"
            )
        return angle_features(x, self.angle_dims)

    @torch.no_grad()
    def fit_normalization(self, batch: dict[str, Tensor]) -> None:
        """As MLPDynamics, on the features of ``batch["obs"]``."""
        obs = batch["obs"]
        feats = self.features(obs.reshape(-1, *obs.shape[2:])).reshape(*obs.shape[:2], -1)
        super().fit_normalization({**batch, "obs": feats})

    def encode(self, obs: Tensor) -> Tensor:
        """``[B, obs_dim] -> [B, D]``: angle features, standardised if ``normalize_latent``."""
        obs = torch.as_tensor(obs, device=self.obs_mean.device)
        return self.from_state(self.features(obs))
