"""``EnergyMLP``: a learned energy ``E(x)`` for the funnel experiment (Two Pillars, Exp. 2).

Trained by regression on the true energy of :class:`~wmplan_envs.rugged_landscape.
RuggedLandscapeEnv` (:class:`~wmplan_agents.objectives.EnergyRegression`), optionally with
high-frequency invariance (:class:`~wmplan_agents.objectives.HFInvariance`), which flattens the
ripples into a funnel that gradient descent follows to the global basin.

A plain SiLU MLP is biased towards low frequencies (spectral bias) and, at a modest budget, does
not fit high-frequency ripples at all. ``fourier_features=F`` puts a fixed random Fourier-feature
layer in front of the MLP (Tancik et al., 2020): the input ``x`` is mapped to
``[x, sin(x W), cos(x W)]`` with ``W [input_dim, F]`` drawn once from ``N(0, fourier_scale^2)``
(angular frequencies, radians per unit of ``x``), which lets the same MLP fit ripples of
frequencies up to about ``fourier_scale`` quickly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from wmplan_agents.data import ArrayDataset
from wmplan_agents.models.mlp import make_mlp, seeded


class EnergyMLP(nn.Module):
    """``E(x) = MLP(phi(x))``, a scalar per input row ``[B, input_dim] -> [B]``.

    ``phi(x) = x`` by default; with ``fourier_features=F > 0``,
    ``phi(x) = [x, sin(x W), cos(x W)]`` where ``W [input_dim, F] ~ N(0, fourier_scale^2)`` is
    drawn from ``seed`` and kept fixed (a buffer, saved with the weights).
    """

    def __init__(
        self,
        input_dim: int = 2,
        *,
        hidden: int = 128,
        depth: int = 3,
        activation: str = "silu",
        fourier_features: int = 0,
        fourier_scale: float = 10.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(fourier_features, bool) or not isinstance(fourier_features, int | np.integer):
            raise ValueError(f"fourier_features must be an integer >= 0, got {fourier_features!r}")
        if fourier_features < 0:
            raise ValueError(f"fourier_features must be an integer >= 0, got {fourier_features}")
        if not (np.isfinite(fourier_scale) and fourier_scale > 0):
            raise ValueError(f"fourier_scale must be finite and positive, got {fourier_scale}")
        self._config = dict(
            input_dim=int(input_dim),
            hidden=int(hidden),
            depth=int(depth),
            activation=activation,
            fourier_features=int(fourier_features),
            fourier_scale=float(fourier_scale),
            seed=int(seed),
        )
        self.input_dim = input_dim
        self.fourier_features = int(fourier_features)
        with seeded(seed):
            freqs = torch.randn(input_dim, self.fourier_features) * float(fourier_scale)
            in_dim = input_dim + 2 * self.fourier_features
            self.net = make_mlp(in_dim, 1, hidden, depth, activation)
        self.register_buffer("frequencies", freqs)

    def features(self, x: Tensor) -> Tensor:
        """``phi(x)``: ``x`` itself, or ``[x, sin(x W), cos(x W)]`` with Fourier features."""
        if self.fourier_features == 0:
            return x
        proj = x @ self.frequencies.to(x)
        return torch.cat([x, torch.sin(proj), torch.cos(proj)], dim=-1)

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)

    def energy(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"expected inputs [B, {self.input_dim}], got {list(x.shape)}")
        return self.net(self.features(x)).squeeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        return self.energy(x)

    def default_objective(self, hf_weight: float = 0.0, hf_sigma: float = 0.1) -> Any:
        """Energy regression, plus ``hf_weight * HFInvariance(hf_sigma)`` when ``hf_weight > 0``."""
        from wmplan_agents.objectives import EnergyRegression, HFInvariance

        objective = EnergyRegression()
        if hf_weight > 0:
            objective = objective + hf_weight * HFInvariance(sigma=hf_sigma)
        return objective


def energy_dataset(env: Any, n_samples: int, goal: np.ndarray, seed: int = 0) -> ArrayDataset:
    """``{"x": [N, 2], "energy": [N]}``: uniform points of the env's square and their true
    energy for the given goal (``env`` is a :class:`RuggedLandscapeEnv`, possibly wrapped)."""
    env = getattr(env, "unwrapped", env)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-env.bound, env.bound, size=(n_samples, 2))
    e = env.energy(x, np.asarray(goal, dtype=np.float64))
    return ArrayDataset({"x": x.astype(np.float32), "energy": e.astype(np.float32)})


def smoothed_energy_dataset(
    env: Any, n_samples: int, goal: np.ndarray, sigma: float, seed: int = 0
) -> ArrayDataset:
    """``{"x": [N, 2], "energy": [N]}`` with noisy targets ``E(x + delta)``, ``delta ~ N(0,
    sigma^2 I)`` (one draw per point): the least-squares fit of these targets is the smoothed
    energy ``E_sigma(x) = E[E(x + delta)]`` (the landscape convolved with the Gaussian), which
    is what a coarse, mollified level of a hierarchy learns without ever seeing ``E_sigma``."""
    env = getattr(env, "unwrapped", env)
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma!r}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-env.bound, env.bound, size=(n_samples, 2))
    delta = rng.normal(0.0, sigma, size=x.shape)
    e = env.energy(x + delta, np.asarray(goal, dtype=np.float64))
    return ArrayDataset({"x": x.astype(np.float32), "energy": e.astype(np.float32)})
