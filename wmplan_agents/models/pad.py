"""Planning as Descent (PaD): a goal-conditioned energy over latent future trajectories.

The parts, as the paper describes them (sizes scaled down for a CPU; every size is a keyword):

* **State encoder** ``f``: a 2-layer MLP and a LayerNorm, observation -> ``latent_dim``
  (128) latent. A linear state decoder and the inverse-dynamics loss train it (the energy's
  targets are detached, so the encoder cannot collapse to make them trivial).
* **Energy** ``E(z_future, z_now, z_goal, lam)``: the ``future`` latents after the current
  one, through a 1-d convolution over time, then a small decoder-only (causal) transformer
  over ``[z_now, z_goal, lam, future...]``; the energy is the mean over the future tokens of
  a squared linear read-out, so ``E >= 0``. ``lam`` is the temporal target: the goal is meant
  to be reached ``lam`` env steps from now (the paper's lambda).
* **Refinement**, identical in training and planning (:meth:`PaDModel.refine`): ``T`` steps of
  ``z <- p(z - eta_k * dE/dz)`` from a corrupted start, ``eta_k`` learned, ``p`` the projector.
* **Projector** ``p``: a shallow residual MLP and LayerNorm that maps a refined trajectory back
  onto the encoder's manifold (``projector=False``: the identity, for the ablation).
* **Inverse dynamics** ``g(z_t, z_{t+1}) -> a_t``: a 2-layer MLP, ``tanh`` to the action box.

Training (:func:`train_pad`): hindsight relabelling of reward-free trajectories. A sample is a
time ``t`` of an episode, the clean future ``f(s_{t+1..t+K})``, a goal ``s_{t+d}`` with ``d``
uniform in ``1..max_lambda`` (within the episode) and ``lam = d``. The clean future is
corrupted to ``(1 - c) z + c * noise`` with ``c`` uniform in ``[0, 1]`` (``c = 1`` is the pure
noise planning starts from), refined with the same ``T`` steps as at planning time, the graph
kept (second order), and the loss is the smooth-L1 distance of the refined future to the clean
one, plus the inverse-dynamics loss (on encoded and on refined latents), the state
reconstruction and a projector loss (``p`` of a slightly noised clean latent returns it).

As a world model, :class:`PaDModel` has ``encode`` and ``action_space``; it has no forward
model, so ``step`` raises and only the ``"pad"`` planner plans with it
(:class:`~wmplan_agents.planners.pad.PaD`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from wmplan_agents.models.mlp import action_scaling, seeded
from wmplan_envs.core import check_int


class PaDModel(nn.Module):
    """The PaD networks (module docstring). Satisfies the encoding half of
    :class:`~wmplan_agents.contracts.WorldModel`; plan with ``planner="pad"``.

    Args:
        obs_dim: size of a state observation.
        action_space: the env's ``Box`` action space.
        latent_dim: encoder output size (paper: 128).
        future: latents planned after the current one (``K``).
        d_model, n_layers, n_heads: the energy transformer's width, blocks and heads.
        hidden: width of the encoder, projector and inverse-dynamics MLPs.
        refine_steps: ``T``, refinement steps in training and planning (paper: 2).
        max_lambda: the largest temporal target (env steps) in training and planning.
        projector: use the projector after every refinement step.
        seed: initial weights.
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.spaces.Box,
        *,
        latent_dim: int = 128,
        future: int = 16,
        d_model: int = 128,
        n_layers: int = 3,
        n_heads: int = 4,
        hidden: int = 256,
        refine_steps: int = 2,
        max_lambda: int = 100,
        projector: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(action_space, gym.spaces.Box):
            raise ValueError(f"PaD needs a Box action space, got {action_space}")
        obs_dim = check_int("obs_dim", obs_dim, 1)
        latent_dim = check_int("latent_dim", latent_dim, 1)
        future = check_int("future", future, 1)
        d_model = check_int("d_model", d_model, 1)
        n_heads = check_int("n_heads", n_heads, 1)
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
        self._config = dict(
            obs_dim=obs_dim, action_space=action_space, latent_dim=latent_dim, future=future,
            d_model=d_model, n_layers=check_int("n_layers", n_layers, 1), n_heads=n_heads,
            hidden=check_int("hidden", hidden, 1),
            refine_steps=check_int("refine_steps", refine_steps, 1),
            max_lambda=check_int("max_lambda", max_lambda, 1), projector=bool(projector),
            seed=check_int("seed", seed),
        )  # fmt: skip
        self.action_space = action_space
        self.action_repeat = 1
        self.obs_dim, self.latent_dim, self.future = obs_dim, latent_dim, future
        self.refine_steps, self.max_lambda = refine_steps, max_lambda
        self.use_projector = bool(projector)
        a_dim = int(np.prod(action_space.shape))
        with seeded(seed):
            self.encoder = nn.Sequential(
                nn.Linear(obs_dim, hidden), nn.GELU(), nn.Linear(hidden, latent_dim),
                nn.LayerNorm(latent_dim),
            )  # fmt: skip
            self.decoder = nn.Linear(latent_dim, obs_dim)
            self.project_in = nn.Linear(latent_dim, d_model)
            self.conv = nn.Conv1d(d_model, d_model, kernel_size=3, padding=1)
            self.context_in = nn.Linear(latent_dim, d_model)
            self.lambda_in = nn.Sequential(nn.Linear(8, d_model), nn.GELU())
            self.position = nn.Parameter(torch.zeros(3 + future, d_model))
            block = nn.TransformerEncoderLayer(
                d_model, n_heads, dim_feedforward=2 * d_model, dropout=0.0, activation="gelu",
                batch_first=True, norm_first=True,
            )  # fmt: skip
            self.transformer = nn.TransformerEncoder(block, n_layers, enable_nested_tensor=False)
            self.readout = nn.Linear(d_model, 16)
            self.projector = nn.Sequential(
                nn.Linear(latent_dim, hidden), nn.GELU(), nn.Linear(hidden, latent_dim)
            )
            self.projector_norm = nn.LayerNorm(latent_dim)
            self.inverse = nn.Sequential(
                nn.Linear(2 * latent_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden),
                nn.GELU(), nn.Linear(hidden, a_dim),
            )  # fmt: skip
        # eta_k = softplus(raw_k): learned step sizes, one per refinement step
        self.raw_step = nn.Parameter(torch.full((refine_steps,), math.log(math.e - 1)))
        mid, half = action_scaling(action_space, 1)
        self.register_buffer("action_mid", mid, persistent=False)
        self.register_buffer("action_half", half, persistent=False)
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        mask = torch.triu(torch.full((3 + future, 3 + future), float("-inf")), diagonal=1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def get_config(self) -> dict[str, Any]:
        """Constructor keyword arguments (for :func:`wmplan_agents.checkpoint.save`)."""
        return dict(self._config)

    # -- the WorldModel half ---------------------------------------------------------------------
    def encode(self, obs: Tensor) -> Tensor:
        """``[B, obs_dim]`` observations -> ``[B, latent_dim]`` latents."""
        obs = torch.as_tensor(obs, dtype=torch.float32, device=self.obs_mean.device)
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(
                f"expected observations of shape [B, {self.obs_dim}], got {list(obs.shape)}"
            )
        return self.encoder((obs - self.obs_mean) / self.obs_std)

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        raise NotImplementedError(
            "a PaD model has no forward dynamics: it plans whole futures by descent on its "
            "energy; use planner='pad'"
        )

    # -- the energy and its descent ----------------------------------------------------------------
    def lambda_features(self, lam: Tensor) -> Tensor:
        """``[B]`` temporal targets (env steps) -> ``[B, 8]`` features of ``lam / max_lambda``."""
        x = (lam.float() / self.max_lambda).clamp(0, 1)[:, None]
        freqs = torch.arange(1, 5, device=x.device, dtype=x.dtype) * math.pi
        return torch.cat([torch.sin(freqs * x), torch.cos(freqs * x)], -1)

    def energy(self, z_future: Tensor, z_now: Tensor, z_goal: Tensor, lam: Tensor) -> Tensor:
        """``E >= 0`` of ``[B, K, D]`` futures given ``[B, D]`` now, goal and ``[B]`` lambda."""
        fut = self.project_in(z_future)
        fut = fut + self.conv(fut.transpose(1, 2)).transpose(1, 2)
        ctx = torch.stack([self.context_in(z_now), self.context_in(z_goal)], 1)
        tokens = torch.cat([ctx, self.lambda_in(self.lambda_features(lam))[:, None], fut], 1)
        # the math kernel: CPU flash attention has no second derivative, which training needs
        with sdpa_kernel(SDPBackend.MATH):
            h = self.transformer(tokens + self.position, mask=self.causal_mask, is_causal=True)
        return 0.5 * self.readout(h[:, 3:]).square().sum(-1).mean(-1)

    def project(self, z: Tensor) -> Tensor:
        """The projector (identity with ``projector=False``)."""
        if not self.use_projector:
            return z
        return self.projector_norm(z + self.projector(z))

    def step_sizes(self) -> Tensor:
        return F.softplus(self.raw_step)

    def refine(
        self, z: Tensor, z_now: Tensor, z_goal: Tensor, lam: Tensor, *, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """``T`` steps of ``z <- p(z - eta_k dE/dz)`` from ``z`` ``[B, K, D]``: the refined
        futures and their energies ``[B]``. ``create_graph=True`` keeps the graph for training
        (second order); planning uses ``False``."""
        etas = self.step_sizes()
        with torch.enable_grad():
            if not create_graph:
                z = z.detach()
            for k in range(self.refine_steps):
                if not z.requires_grad:
                    z = z.requires_grad_(True)
                e = self.energy(z, z_now, z_goal, lam)
                (grad,) = torch.autograd.grad(e.sum(), z, create_graph=create_graph)
                z = self.project(z - etas[k] * grad)
                if not create_graph:
                    z = z.detach()
            final = self.energy(z, z_now, z_goal, lam)
        return z, (final if create_graph else final.detach())

    def actions(self, z_now: Tensor, z_future: Tensor) -> Tensor:
        """Inverse dynamics along a plan: ``[B, K, A]`` actions, ``a_k = g(z_k, z_{k+1})``."""
        prev = torch.cat([z_now[:, None], z_future[:, :-1]], 1)
        return self.inverse_action(prev, z_future)

    def inverse_action(self, z: Tensor, z_next: Tensor) -> Tensor:
        raw = torch.tanh(self.inverse(torch.cat([z, z_next], -1)))
        return self.action_mid + self.action_half * raw


# -- training -----------------------------------------------------------------------------------


@dataclass
class PaDTrainResult:
    """Losses per logged update and the wall time of :func:`train_pad`."""

    updates: int
    wall_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def _windows(episodes: np.ndarray, future: int) -> np.ndarray:
    """Row indices ``t`` whose next ``future`` rows lie in the same episode."""
    n = len(episodes)
    if n <= future:
        return np.zeros(0, dtype=np.int64)
    t = np.arange(n - future)
    same = episodes[t + future] == episodes[t]
    return t[same]


def train_pad(
    model: PaDModel,
    data: Any,
    *,
    updates: int = 20_000,
    batch_size: int = 256,
    lr: float = 3e-4,
    seed: int = 0,
    time_limit_s: float | None = None,
    log_every: int = 100,
    progress: bool = False,
) -> PaDTrainResult:
    """Train ``model`` on ``data`` (a :class:`~wmplan_agents.data.Dataset`: observations,
    next observations, actions, episode ids, in collection order) by hindsight relabelling
    (module docstring) with Adam; stops after ``updates`` or ``time_limit_s`` seconds."""
    from tqdm.auto import tqdm

    obs = torch.as_tensor(np.asarray(data.observations), dtype=torch.float32)
    nxt = torch.as_tensor(np.asarray(data.next_observations), dtype=torch.float32)
    acts = torch.as_tensor(np.asarray(data.actions), dtype=torch.float32)
    episodes = np.asarray(data.episodes)
    if obs.shape[1] != model.obs_dim:
        raise ValueError(f"data has {obs.shape[1]}-d observations, the model {model.obs_dim}")
    k = model.future
    starts = _windows(episodes, k)
    if len(starts) == 0:
        raise ValueError(f"no episode in the data is longer than future={k} steps")
    # the last row of each row's episode, for drawing goals inside the episode
    ends = np.flatnonzero(np.r_[episodes[1:] != episodes[:-1], True])
    last = ends[np.searchsorted(ends, np.arange(len(episodes)))]
    std = obs.std(0)
    model.obs_mean.copy_(obs.mean(0))
    model.obs_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    offsets = torch.arange(k)
    result = PaDTrainResult(0, 0.0)
    start = time.perf_counter()
    model.train()
    bar = tqdm(range(updates), desc="train PaD", disable=not progress, leave=False)
    for u in bar:
        t = torch.as_tensor(rng.choice(starts, batch_size))
        room = torch.as_tensor(last[t.numpy()]) - t  # rows left in the episode after t
        # d in 1..min(room, max_lambda) (room >= future >= 1; the minimum guards float rounding)
        d = 1 + (torch.rand(batch_size, generator=gen) * room.clamp(max=model.max_lambda)).long()
        d = torch.minimum(d, room)
        rows = t[:, None] + offsets  # future s_{t+1..t+K} = next_observations[t..t+K-1]
        z_all = model.encode(torch.cat([obs[t], nxt[rows].reshape(-1, model.obs_dim),
                                        nxt[t + d - 1]]))  # fmt: skip
        z_now = z_all[:batch_size]
        z_fut = z_all[batch_size:-batch_size].reshape(batch_size, k, -1)
        z_goal = z_all[-batch_size:]
        clean = z_fut.detach()
        c = torch.rand(batch_size, 1, 1, generator=gen)
        noise = torch.randn(clean.shape, generator=gen)
        z0 = (1 - c) * clean + c * noise
        refined, _ = model.refine(z0, z_now.detach(), z_goal.detach(), d.float(), create_graph=True)
        denoise = F.smooth_l1_loss(refined, clean)
        a_fut = acts[rows]
        inverse = F.smooth_l1_loss(model.actions(z_now, z_fut), a_fut)
        inverse_refined = F.smooth_l1_loss(model.actions(z_now.detach(), refined), a_fut)
        recon = F.mse_loss(model.decoder(z_now), (obs[t] - model.obs_mean) / model.obs_std)
        noisy = clean[:, 0] + 0.1 * torch.randn(clean[:, 0].shape, generator=gen)
        projector = F.smooth_l1_loss(model.project(noisy), clean[:, 0]) if model.use_projector \
            else torch.zeros(())  # fmt: skip
        # temporal consistency: the clean future has lower energy under its own lambda than
        # under a clearly different one (so the energies of candidates under different
        # lambda hypotheses can be compared at planning time)
        other = 1 + (torch.rand(batch_size, generator=gen) * model.max_lambda).long()
        apart = ((other - d).abs() > 1 + d // 5).float()
        e_pos = model.energy(clean, z_now.detach(), z_goal.detach(), d.float())
        e_neg = model.energy(clean, z_now.detach(), z_goal.detach(), other.float())
        rank = (F.softplus(e_pos - e_neg) * apart).sum() / apart.sum().clamp(min=1)
        rank = rank + 0.1 * e_pos.mean()
        loss = denoise + inverse + inverse_refined + recon + projector + rank
        if not torch.isfinite(loss):
            raise FloatingPointError(f"PaD training loss became non-finite at update {u}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        result.updates = u + 1
        if u % log_every == 0:
            parts = {
                "loss": loss,
                "denoise": denoise,
                "inverse": inverse,
                "rank": rank,
                "inverse_refined": inverse_refined,
                "recon": recon,
                "projector": projector,
            }
            result.history.append({"update": u, "wall_s": time.perf_counter() - start,
                                   **{k: float(v.detach()) for k, v in parts.items()}})  # fmt: skip
            bar.set_postfix(denoise=f"{denoise.item():.3f}")
        if time_limit_s is not None and time.perf_counter() - start > time_limit_s:
            break
    model.eval()
    result.wall_s = time.perf_counter() - start
    return result


__all__ = ["PaDModel", "PaDTrainResult", "train_pad"]
