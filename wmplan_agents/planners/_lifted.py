"""Helpers shared by the lifted-state planners (``grasp`` and ``latco``), on top of
``planners/base.py`` (input checks, generator): initial actions, hardening relaxed one-hots,
non-finite checks, the final re-rolled cost and common-random-number noise."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from wmplan_agents import contracts
from wmplan_agents.contracts import CostFn, PlanningError
from wmplan_agents.planners import base
from wmplan_agents.planners.base import Problem


def initial_actions(model: Any, prob: Problem) -> Tensor:
    """``init_actions`` clamped into the bounds, else zeros (GRASP, Sec. 4.1) clamped into the
    bounds, or the uniform distribution ``1/n`` for relaxed one-hots of a discrete space."""
    low, high, batch, horizon = prob.low, prob.high, prob.batch, prob.horizon
    if prob.init_actions is not None:
        a = prob.init_actions.detach().clone()
    elif contracts.is_discrete(model):
        n = int(model.action_space.n)
        a = torch.full((batch, horizon, low.shape[0]), 1.0 / n, dtype=low.dtype, device=low.device)
    else:
        a = torch.zeros(batch, horizon, low.shape[0], dtype=low.dtype, device=low.device)
    return torch.maximum(torch.minimum(a, high), low)


def initial_states(model: Any, prob: Problem, actions: Tensor, from_actions: bool) -> Tensor:
    """Virtual states ``s_1..s_{T-1}`` ``[B, T-1, D]`` before noise.

    On the line from ``z0`` to the goal (GRASP, Sec. 4.1), or, with ``from_actions``, the
    rollout of ``actions`` (a warm start's own trajectory, so states and actions start
    consistent); rows whose rollout is non-finite start on the line instead.
    """
    z0, z_goal, t_len = prob.z0.detach(), prob.z_goal.detach(), prob.horizon
    frac = torch.arange(1, t_len, dtype=z0.dtype, device=z0.device)[None, :, None] / t_len
    line = frac * z_goal[:, None] + (1 - frac) * z0[:, None]
    if not from_actions or t_len == 1:
        return line
    with torch.no_grad():
        traj = contracts.rollout(model, z0, harden(model, actions.detach()))[:, :-1]
    finite = torch.isfinite(traj).reshape(traj.shape[0], -1).all(-1)
    return torch.where(finite[:, None, None], traj.to(line.dtype), line)


def project(model: Any, actions: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """Into the bounds (Box), or each one-hot block onto the probability simplex (Discrete), so
    relaxed discrete actions stay probability vectors (Euclidean projection, sort-based)."""
    if not contracts.is_discrete(model):
        return torch.maximum(torch.minimum(actions, high), low)
    n = int(model.action_space.n)
    b, h, a = actions.shape
    v = actions.reshape(b, h, a // n, n)
    u = v.sort(-1, descending=True).values
    css = u.cumsum(-1) - 1.0
    k = torch.arange(1, n + 1, dtype=v.dtype, device=v.device)
    rho = (u - css / k > 0).sum(-1, keepdim=True)  # >= 1 always
    theta = css.gather(-1, rho - 1) / rho.to(v.dtype)
    return (v - theta).clamp_min(0.0).reshape(b, h, a)


def harden(model: Any, actions: Tensor) -> Tensor:
    """Relaxed one-hots to hard one-hots (per block of ``n``) for discrete spaces; Box unchanged."""
    if not contracts.is_discrete(model):
        return actions
    n = int(model.action_space.n)
    b, h, a = actions.shape
    idx = actions.reshape(b, h, a // n, n).argmax(-1)
    return torch.nn.functional.one_hot(idx, n).reshape(b, h, a).to(actions.dtype)


def first_nonfinite_step(traj: Tensor) -> int | None:
    """Index of the first time step ``[B, H, D]`` holding a non-finite value, or ``None``."""
    bad = ~torch.isfinite(traj).reshape(traj.shape[0], traj.shape[1], -1).all(-1).all(0)
    return int(bad.nonzero()[0, 0]) if bad.any() else None


def final_rollout_cost(
    model: Any, z0: Tensor, z_goal: Tensor, actions: Tensor, cost: CostFn, planner: str
) -> Tensor:
    """The true rolled-out cost ``[B]`` of ``actions``; ``PlanningError`` if it is non-finite."""
    with torch.no_grad():
        traj = contracts.rollout(model, z0, actions)
        step = first_nonfinite_step(traj)
        if step is not None:
            raise PlanningError(
                f"{planner}: the model returned a non-finite state at rollout step {step} of the "
                "final plan"
            )
        c = base.call_cost(cost, traj, actions, z_goal).detach()
        bad = ~torch.isfinite(c)
        if bool(bad.any()):
            raise PlanningError(
                f"{planner}: the cost of the final plan of problem {int(bad.nonzero()[0, 0])} is "
                f"{float(c[bad][0])} although the model's rollout is finite (check the cost)"
            )
        return c


def randn(gen: torch.Generator, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Standard normal noise of ``shape`` (``[B, ...]``) drawn for *one* problem from ``gen`` and
    broadcast over the ``B`` problems (common random numbers, the convention of
    ``planners/base.py``), so problem ``b`` sees the draws it would see alone."""
    draw = torch.randn((1, *shape[1:]), generator=gen, dtype=like.dtype, device=gen.device)
    return draw.to(like.device).expand(shape)


class AdamStep:
    """Per-problem Adam update direction (Kingma and Ba, 2015) for a ``[B, ...]`` tensor.

    ``direction(grad)`` returns ``m_hat / (sqrt(v_hat) + eps)``, elementwise, whose entries are
    of order one whatever the gradient's scale; the caller multiplies it by its step size. Rows
    are independent (moments are elementwise), so ``B`` problems in one call step as they would
    alone.
    """

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m: Tensor | None = None
        self.v: Tensor | None = None
        self.t = 0

    def direction(self, grad: Tensor) -> Tensor:
        if self.m is None or self.v is None:
            self.m, self.v = torch.zeros_like(grad), torch.zeros_like(grad)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return m_hat / (v_hat.sqrt() + self.eps)


def keep_better(
    model: Any,
    z0: Tensor,
    z_goal: Tensor,
    scored: Tensor,
    kept: Tensor,
    cost: CostFn,
    best: Tensor,
    best_cost: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """Score the in-bounds, hard plans ``scored [B, H, A]`` by their noise-free rolled-out
    cost; where that is finite and below ``best_cost``, take ``kept`` (the planner's own form
    of the same plans) into ``best``. Returns ``(best, best_cost, better)``."""
    with torch.no_grad():
        c = base.call_cost(cost, contracts.rollout(model, z0, scored), scored, z_goal)
        better = torch.isfinite(c) & (c < best_cost)
        return (
            torch.where(better[:, None, None], kept, best),
            torch.where(better, c, best_cost),
            better,
        )
