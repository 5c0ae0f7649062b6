"""``MLPDynamics``: a residual MLP world model for state observations.

Shared pieces used by the other learned models live here too: :func:`make_mlp`,
:func:`seeded` (parameter initialisation from a seed without touching the global RNG) and
:func:`action_scaling` (model-action normalisation from the env action space's bounds).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from wmplan_agents.contracts import action_dim, step_rollout

_ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU}


def make_mlp(
    in_dim: int, out_dim: int, hidden: int, depth: int, activation: str = "silu"
) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden`` with ``activation``, then a linear output."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if depth < 0 or hidden < 1:
        raise ValueError(f"need depth >= 0 and hidden >= 1, got depth={depth}, hidden={hidden}")
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), _ACTIVATIONS[activation]()]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Initialise parameters from ``seed`` inside the block; the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def action_scaling(space: gym.spaces.Space, repeat: int) -> tuple[Tensor, Tensor]:
    """Centre and half-range ``[A]`` of a model action (``0`` and ``1`` for one-hots)."""
    if isinstance(space, gym.spaces.Discrete):
        n = repeat * int(space.n)
        return torch.zeros(n), torch.ones(n)
    low = np.tile(np.asarray(space.low, dtype=np.float64).ravel(), repeat)
    high = np.tile(np.asarray(space.high, dtype=np.float64).ravel(), repeat)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError(f"learned models need a bounded action space, got {space}")
    mid, half = (high + low) / 2, np.maximum((high - low) / 2, 1e-6)
    return torch.as_tensor(mid, dtype=torch.float32), torch.as_tensor(half, dtype=torch.float32)


def check_action_repeat(action_repeat: Any) -> int:
    if isinstance(action_repeat, bool) or not isinstance(action_repeat, int | np.integer):
        raise ValueError(f"action_repeat must be a positive integer, got {action_repeat!r}")
    if action_repeat < 1:
        raise ValueError(f"action_repeat must be a positive integer, got {action_repeat}")
    return int(action_repeat)


def nonzero_std(x: Tensor) -> Tensor:
    """Per-column std of ``x [N, D]``, 1 where it is (nearly) zero."""
    std = x.std(0)
    return torch.where(std > 1e-6, std, torch.ones_like(std))


class MLPDynamics(nn.Module):
    """A world model for state observations: ``x' = x + MLP(norm(x), norm(a))`` (residual).

    * **Latent.** ``encode`` flattens the state; with ``normalize_latent=True`` it also
      standardises it (``(x - mean) / std``, statistics from the training data), which gives every
      state dimension equal weight in a planner's goal distance.
    * **Normalisation.** Inputs are standardised and the network predicts the standardised change
      (``residual=True``) or next state; the statistics are buffers (saved with the weights),
      fitted by :meth:`fit_normalization`, which :func:`wmplan_agents.training.train` calls.
      Model actions are scaled to ``[-1, 1]`` from the action space's bounds (one-hots as they are).
    * **Action repeat.** One model action is ``action_repeat`` env actions concatenated (see
      :mod:`wmplan_agents.contracts`) and one ``step`` predicts ``action_repeat`` env steps ahead.

    Satisfies :class:`~wmplan_agents.contracts.WorldModel`; ``seed`` fixes the initial weights.
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.spaces.Space,
        *,
        hidden: int = 256,
        depth: int = 3,
        action_repeat: int = 1,
        residual: bool = True,
        normalize_latent: bool = False,
        activation: str = "silu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if obs_dim < 1:
            raise ValueError(f"obs_dim must be a positive integer, got {obs_dim}")
        self.action_space = action_space
        self.action_repeat = check_action_repeat(action_repeat)
        self._config = dict(
            obs_dim=int(obs_dim),
            action_space=action_space,
            hidden=int(hidden),
            depth=int(depth),
            action_repeat=self.action_repeat,
            residual=bool(residual),
            normalize_latent=bool(normalize_latent),
            activation=activation,
            seed=int(seed),
        )
        self.obs_dim, self.residual, self.normalize_latent = obs_dim, residual, normalize_latent
        a_dim = action_dim(self)
        with seeded(seed):
            self.net = make_mlp(obs_dim + a_dim, obs_dim, hidden, depth, activation)
        mid, half = action_scaling(action_space, self.action_repeat)
        self.register_buffer("action_mid", mid, persistent=False)
        self.register_buffer("action_half", half, persistent=False)
        for name in ("obs_mean", "delta_mean"):
            self.register_buffer(name, torch.zeros(obs_dim))
        for name in ("obs_std", "delta_std"):
            self.register_buffer(name, torch.ones(obs_dim))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def get_config(self) -> dict[str, Any]:
        """Constructor keyword arguments (for :func:`wmplan_agents.checkpoint.save`)."""
        return dict(self._config)

    # -- normalisation ---------------------------------------------------------------------------
    @property
    def normalization_window(self) -> int:
        """Env steps per batch window that :meth:`fit_normalization` needs."""
        return self.action_repeat

    @torch.no_grad()
    def fit_normalization(self, batch: dict[str, Tensor]) -> None:
        """Fit the statistics from a batch ``{"obs": [B, L + 1, *obs]}`` with ``L >= k``."""
        obs = batch["obs"].reshape(*batch["obs"].shape[:2], -1).float()
        k = self.action_repeat
        if obs.shape[1] < k + 1:
            raise ValueError(f"need windows of {k} env steps, got {obs.shape[1] - 1}")
        flat = obs.reshape(-1, obs.shape[-1])
        self.obs_mean.copy_(flat.mean(0))
        self.obs_std.copy_(nonzero_std(flat))
        delta = obs[:, k] - obs[:, 0]
        self.delta_mean.copy_(delta.mean(0))
        self.delta_std.copy_(nonzero_std(delta))
        self.fitted.fill_(True)

    @property
    def loss_scale(self) -> Tensor:
        """Per-dimension scale of latent errors in losses (state std in latent units)."""
        return torch.ones_like(self.obs_std) if self.normalize_latent else self.obs_std

    def to_state(self, z: Tensor) -> Tensor:
        """Latent ``[B, D]`` back to the (flat) state."""
        return z * self.obs_std + self.obs_mean if self.normalize_latent else z

    def from_state(self, x: Tensor) -> Tensor:
        return (x - self.obs_mean) / self.obs_std if self.normalize_latent else x

    # -- WorldModel ------------------------------------------------------------------------------
    def encode(self, obs: Tensor) -> Tensor:
        """``[B, *obs_shape] -> [B, D]`` (flattened, standardised if ``normalize_latent``)."""
        obs = torch.as_tensor(obs, device=self.obs_mean.device)
        x = obs.reshape(obs.shape[0], -1).to(self.obs_mean.dtype)
        if x.shape[1] != self.obs_dim:
            raise ValueError(
                f"expected observations with {self.obs_dim} values each, got shape "
                f"{list(obs.shape)}"
            )
        return self.from_state(x)

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        """``[B, D], [B, A] -> [B, D]``: the latent ``action_repeat`` env steps later."""
        x = self.to_state(z)
        xn = (x - self.obs_mean) / self.obs_std
        an = (a - self.action_mid) / self.action_half
        out = self.net(torch.cat([xn, an], dim=-1))
        if self.residual:
            nxt = x + out * self.delta_std + self.delta_mean
        else:
            nxt = out * self.obs_std + self.obs_mean
        return self.from_state(nxt)

    def rollout(self, z0: Tensor, actions: Tensor) -> Tensor:
        """``[B, D], [B, H, A] -> [B, H, D]``."""
        return step_rollout(self, z0, actions)

    def default_objective(self) -> Any:
        """One-step prediction MSE (:class:`wmplan_agents.objectives.Prediction`)."""
        from wmplan_agents.objectives import Prediction

        return Prediction(horizon=1)
