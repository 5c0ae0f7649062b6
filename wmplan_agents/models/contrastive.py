"""``ContrastiveEncoder``: a latent world model trained with InfoNCE metric alignment.

The encoder maps a state observation to a unit-norm latent; InfoNCE between ``z_t`` and
``z_{t+1}`` (temperature ``tau``) pulls successive states together and pushes the rest of the
batch apart, so latent distance follows the env's transition graph (Two Pillars, Experiment 4)
and the latent cannot collapse although there is no reconstruction. A residual latent predictor,
trained with one-step latent MSE against the (detached) encoding of the next observation, gives
the ``step`` a planner needs.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wmplan_agents.contracts import action_dim, step_rollout
from wmplan_agents.models.mlp import action_scaling, check_action_repeat, make_mlp, seeded


class ContrastiveEncoder(nn.Module):
    """Encoder ``obs -> z`` (unit norm if ``normalize``) and predictor ``(z, a) -> z'``.

    Satisfies :class:`~wmplan_agents.contracts.WorldModel`. ``tau`` is the temperature of
    :meth:`default_objective` (``InfoNCE(tau) + prediction_weight * Prediction(1)``).
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.spaces.Space,
        *,
        latent_dim: int = 16,
        hidden: int = 128,
        depth: int = 2,
        action_repeat: int = 1,
        normalize: bool = True,
        tau: float = 0.1,
        prediction_weight: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.action_space = action_space
        self.action_repeat = check_action_repeat(action_repeat)
        self._config = dict(
            obs_dim=int(obs_dim),
            action_space=action_space,
            latent_dim=int(latent_dim),
            hidden=int(hidden),
            depth=int(depth),
            action_repeat=self.action_repeat,
            normalize=bool(normalize),
            tau=float(tau),
            prediction_weight=float(prediction_weight),
            seed=int(seed),
        )
        self.obs_dim, self.normalize = obs_dim, normalize
        with seeded(seed):
            self.encoder = make_mlp(obs_dim, latent_dim, hidden, depth)
            self.predictor = make_mlp(latent_dim + action_dim(self), latent_dim, hidden, depth)
        mid, half = action_scaling(action_space, self.action_repeat)
        self.register_buffer("action_mid", mid, persistent=False)
        self.register_buffer("action_half", half, persistent=False)

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)

    def _norm(self, z: Tensor) -> Tensor:
        return F.normalize(z, dim=-1) if self.normalize else z

    def encode(self, obs: Tensor) -> Tensor:
        """``[B, *obs_shape] -> [B, latent_dim]``."""
        x = obs.reshape(obs.shape[0], -1).float()
        if x.shape[1] != self.obs_dim:
            raise ValueError(
                f"expected observations with {self.obs_dim} values each, got {list(obs.shape)}"
            )
        return self._norm(self.encoder(x))

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        an = (a - self.action_mid) / self.action_half
        return self._norm(z + self.predictor(torch.cat([z, an], dim=-1)))

    def rollout(self, z0: Tensor, actions: Tensor) -> Tensor:
        return step_rollout(self, z0, actions)

    def default_objective(self) -> Any:
        from wmplan_agents.objectives import InfoNCE, Prediction

        cfg = self._config
        return InfoNCE(tau=cfg["tau"]) + cfg["prediction_weight"] * Prediction(horizon=1)
