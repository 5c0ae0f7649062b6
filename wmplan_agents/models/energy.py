"""``EnergyMLP``: a learned energy ``E(x)`` for the funnel experiment (Two Pillars, Exp. 2).

Trained by regression on the true energy of :class:`~wmplan_envs.rugged_landscape.
RuggedLandscapeEnv` (:class:`~wmplan_agents.objectives.EnergyRegression`), optionally with
high-frequency invariance (:class:`~wmplan_agents.objectives.HFInvariance`), which flattens the
ripples into a funnel that gradient descent follows to the global basin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor, nn

from wmplan_agents.data import ArrayDataset
from wmplan_agents.models.mlp import make_mlp, seeded


class EnergyMLP(nn.Module):
    """``E(x) = MLP(x)``, a scalar per input row ``[B, input_dim] -> [B]``."""

    def __init__(
        self,
        input_dim: int = 2,
        *,
        hidden: int = 128,
        depth: int = 3,
        activation: str = "silu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self._config = dict(
            input_dim=int(input_dim),
            hidden=int(hidden),
            depth=int(depth),
            activation=activation,
            seed=int(seed),
        )
        self.input_dim = input_dim
        with seeded(seed):
            self.net = make_mlp(input_dim, 1, hidden, depth, activation)

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)

    def energy(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"expected inputs [B, {self.input_dim}], got {list(x.shape)}")
        return self.net(x).squeeze(-1)

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
