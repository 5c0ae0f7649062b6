"""HELM: a two-level world model (fine one-step model, coarse k-step model).

The fine level predicts one env step, the coarse level ``coarse_k`` env steps at once from the
``coarse_k`` env actions concatenated. Both are :class:`~wmplan_agents.models.mlp.MLPDynamics` on
the same latent (the coarse level copies the fine level's state statistics), and both are trained
with prediction MSE plus HELM's spectral Jacobian penalty (:meth:`HELM.default_objective`).

**Planning with the coarse level.** ``HELM`` itself is the fine model (``action_repeat = 1``).
``helm.coarse_model()`` returns a :class:`HELMPlanningModel`, a world model whose ``step`` is the
coarse level and whose ``action_repeat`` is ``coarse_k``: hand it to any planner or the MPC agent,
which then plans over horizons ``coarse_k`` times longer in env steps with the same number of
model steps, and executes each model action as ``coarse_k`` env actions (the contract's
convention). The fine level serves short-horizon refinement or checks of a coarse plan
(``helm.rollout`` on the env actions of that plan).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import Tensor, nn

from wmplan_agents.models.mlp import MLPDynamics, check_action_repeat


class HELMPlanningModel:
    """The coarse level of a :class:`HELM` as a world model (``action_repeat = coarse_k``)."""

    def __init__(self, helm: HELM) -> None:
        self.helm = helm
        self.action_space = helm.action_space
        self.action_repeat = helm.coarse_k

    def encode(self, obs: Tensor) -> Tensor:
        return self.helm.encode(obs)

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        return self.helm.coarse.step(z, a)

    def rollout(self, z0: Tensor, actions: Tensor) -> Tensor:
        return self.helm.coarse.rollout(z0, actions)


class HELM(nn.Module):
    """Fine one-step model plus coarse ``coarse_k``-step model on state observations.

    ``encode``/``step``/``rollout`` are the fine level's; ``coarse`` is the coarse
    ``MLPDynamics``; :meth:`coarse_model` is the coarse level as a planning model. Keyword
    arguments other than ``coarse_k`` are passed to both levels.
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.spaces.Space,
        *,
        coarse_k: int = 5,
        hidden: int = 256,
        depth: int = 3,
        normalize_latent: bool = False,
        activation: str = "silu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.coarse_k = check_action_repeat(coarse_k)
        self.action_space = action_space
        self.action_repeat = 1
        self._config = dict(
            obs_dim=int(obs_dim),
            action_space=action_space,
            coarse_k=self.coarse_k,
            hidden=int(hidden),
            depth=int(depth),
            normalize_latent=bool(normalize_latent),
            activation=activation,
            seed=int(seed),
        )
        common = dict(hidden=hidden, depth=depth, normalize_latent=normalize_latent)
        self.fine = MLPDynamics(obs_dim, action_space, **common, activation=activation, seed=seed)
        self.coarse = MLPDynamics(
            obs_dim,
            action_space,
            **common,
            activation=activation,
            action_repeat=self.coarse_k,
            seed=seed + 1,
        )

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)

    @property
    def normalization_window(self) -> int:
        return self.coarse_k

    @torch.no_grad()
    def fit_normalization(self, batch: dict[str, Tensor]) -> None:
        """Fit both levels; the coarse level then takes the fine level's state statistics so
        both share one latent space."""
        self.fine.fit_normalization(batch)
        self.coarse.fit_normalization(batch)
        self.coarse.obs_mean.copy_(self.fine.obs_mean)
        self.coarse.obs_std.copy_(self.fine.obs_std)

    @property
    def loss_scale(self) -> Tensor:
        return self.fine.loss_scale

    def encode(self, obs: Tensor) -> Tensor:
        return self.fine.encode(obs)

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        return self.fine.step(z, a)

    def rollout(self, z0: Tensor, actions: Tensor) -> Tensor:
        return self.fine.rollout(z0, actions)

    def coarse_model(self) -> HELMPlanningModel:
        """The coarse level as a world model for planning (``action_repeat = coarse_k``)."""
        return HELMPlanningModel(self)

    def default_objective(self, horizon: int = 1, spectral_weight: float = 1e-3) -> Any:
        """Fine and coarse prediction MSE plus ``spectral_weight`` times the spectral penalty
        of both levels."""
        from wmplan_agents.objectives import Prediction, SpectralReg

        objective = Prediction(horizon) + Prediction(horizon).on("coarse")
        if spectral_weight > 0:
            objective = objective + spectral_weight * (SpectralReg() + SpectralReg().on("coarse"))
        return objective
