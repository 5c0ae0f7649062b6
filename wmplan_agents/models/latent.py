"""``LatentStateDynamics``: a state world model whose latent is learned and wider than the state.

For state observations :class:`~wmplan_agents.models.MLPDynamics` plans in the state itself.
This model maps the state into a learned ``latent_dim``-dimensional latent (an MLP encoder of
the standardised state) and predicts there (a residual MLP), the setting of planners built for
learned high-dimensional latents (GRASP's state noise and stop-gradient). A linear readout of
the latent gives the state back; its training target is the standardised state
(:class:`~wmplan_agents.objectives.StateAnchor`, the observation being the state), so the
latent holds the state in a few directions, and the rest is what the encoder makes of it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import Tensor, nn

from wmplan_agents.contracts import action_dim, step_rollout
from wmplan_agents.models.mlp import (
    action_scaling,
    check_action_repeat,
    make_mlp,
    nonzero_std,
    seeded,
)
from wmplan_envs.core import check_int


class LatentStateDynamics(nn.Module):
    """State ``[B, obs_dim]`` -> learned latent ``[B, latent_dim]``; ``z' = z + MLP(z, a)``.

    * ``encode(obs) = encoder((obs - mean) / std)`` (an MLP; ``mean`` and ``std`` are the
      training data's, set by ``fit_normalization``).
    * ``step(z, a) = z + predictor([z, a_scaled])``; actions ``[B, action_repeat * a]`` scaled
      to ``[-1, 1]`` by the action space's bounds.
    * ``to_state(z) = readout(z) * std + mean`` (linear), trained to give the state back.

    :meth:`default_objective`: the state anchor over 3 model steps (the readout of the encoded
    state and of each open-loop prediction equals the true state) plus latent prediction over 3
    model steps that trains the predictor only (``detach_input``), so the latent's other
    directions keep the encoder's features rather than collapsing to constants.

    Args:
        obs_dim: size of a state observation.
        action_space: the env's (bounded ``Box`` or ``Discrete``) action space.
        latent_dim: size of the latent (greater than ``obs_dim``).
        hidden, depth: width and hidden layers of the encoder and the predictor MLPs.
        action_repeat: env steps per model step.
        seed: initial weights.

    Satisfies :class:`~wmplan_agents.contracts.WorldModel`, ``StateDecoder``, ``Normalized``
    and ``Checkpointable``.
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.spaces.Space,
        *,
        latent_dim: int = 64,
        hidden: int = 256,
        depth: int = 3,
        action_repeat: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        obs_dim = check_int("obs_dim", obs_dim, 1)
        latent_dim = check_int("latent_dim", latent_dim, 2)
        hidden, depth = check_int("hidden", hidden, 1), check_int("depth", depth, 0)
        if latent_dim <= obs_dim:
            raise ValueError(f"latent_dim ({latent_dim}) must exceed obs_dim ({obs_dim})")
        self.obs_dim, self.latent_dim = obs_dim, latent_dim
        self.action_space = action_space
        self.action_repeat = check_action_repeat(action_repeat)
        self._config = dict(
            obs_dim=self.obs_dim, action_space=action_space, latent_dim=self.latent_dim,
            hidden=hidden, depth=depth, action_repeat=self.action_repeat,
            seed=int(seed),
        )  # fmt: skip
        mid, half = action_scaling(action_space, self.action_repeat)
        self.register_buffer("action_mid", mid, persistent=False)
        self.register_buffer("action_half", half, persistent=False)
        self.register_buffer("obs_mean", torch.zeros(self.obs_dim))
        self.register_buffer("obs_std", torch.ones(self.obs_dim))
        with seeded(seed):
            self.encoder = make_mlp(self.obs_dim, self.latent_dim, hidden, depth)
            self.predictor = make_mlp(self.latent_dim + action_dim(self), self.latent_dim,
                                      hidden, depth)  # fmt: skip
            self.readout = nn.Linear(self.latent_dim, self.obs_dim)

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)

    @property
    def normalization_window(self) -> int:
        """Env steps per window that :meth:`fit_normalization` needs (one)."""
        return 1

    @torch.no_grad()
    def fit_normalization(self, batch: dict[str, Tensor]) -> None:
        """The observations' mean and std from ``batch["obs"]``."""
        obs = batch["obs"].reshape(-1, batch["obs"].shape[-1])
        self._check(obs)
        self.obs_mean.copy_(obs.mean(0))
        self.obs_std.copy_(nonzero_std(obs))

    def _check(self, obs: Tensor) -> Tensor:
        if obs.ndim < 2 or obs.shape[-1] != self.obs_dim:
            raise ValueError(
                f"expected state observations [..., {self.obs_dim}], got {list(obs.shape)}"
            )
        return obs.to(self.obs_mean.dtype)

    def encode(self, obs: Tensor) -> Tensor:
        """``[B, obs_dim] -> [B, latent_dim]``."""
        obs = self._check(torch.as_tensor(obs, device=self.obs_mean.device))
        return self.encoder((obs - self.obs_mean) / self.obs_std)

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        an = (a - self.action_mid) / self.action_half
        return z + self.predictor(torch.cat([z, an], dim=-1))

    def rollout(self, z0: Tensor, actions: Tensor) -> Tensor:
        return step_rollout(self, z0, actions)

    def anchor_target(self, states: Tensor) -> Tensor:
        """The standardised states ``[..., obs_dim]`` the readout should give."""
        return (self._check(states[..., : self.obs_dim]) - self.obs_mean) / self.obs_std

    def anchor(self, z: Tensor) -> Tensor:
        """The readout ``[..., obs_dim]`` of latents (standardised units)."""
        return self.readout(z)

    def to_state(self, z: Tensor) -> Tensor:
        """Latents ``[B, latent_dim]`` -> states ``[B, obs_dim]``."""
        return self.readout(z) * self.obs_std + self.obs_mean

    def default_objective(self) -> Any:
        """``StateAnchor(horizon=3) + Prediction(horizon=3, detach_input=True)``."""
        from wmplan_agents.objectives import Prediction, StateAnchor

        return StateAnchor(horizon=3) + Prediction(horizon=3, detach_input=True)


__all__ = ["LatentStateDynamics"]
