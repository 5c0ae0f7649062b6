"""Gradient descent on the action sequence through the full rollout (Adam, parallel restarts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from wmplan_agents.contracts import PlanResult, WorldModel, rollout
from wmplan_agents.planners import base


def _betas(name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be two numbers in [0, 1), got {value!r}")
    b1, b2 = (base.check_real(f"{name}[{i}]", v, 0.0, 1.0) for i, v in enumerate(value))
    if max(b1, b2) >= 1.0:
        raise ValueError(f"{name} must be two numbers in [0, 1), got {value!r}")
    return b1, b2


@dataclass(frozen=True, kw_only=True)
class GradientDescent(base.PlannerConfig):
    """Adam on the actions, back-propagating the cost through the whole rollout.

    ``n_restarts`` sequences per problem are optimised in parallel (one batched rollout over
    ``B * n_restarts`` rows): restart 0 starts at ``init_actions`` (or the centre of the box),
    the others uniformly at random inside the bounds. Each restart's gradient is clipped to norm
    ``max_grad_norm`` on its own; Adam runs with step size ``lr`` times the half-range of the
    action box and the actions are projected back into the bounds after every step. The cheapest
    sequence seen over all restarts and iterations is returned.

    Discrete actions: each restart optimises logits of a relaxed one-hot (``softmax``) per
    block; at the end every restart's best relaxed plan and its final plan are rounded to hard
    one-hots, evaluated, and the cheapest hard plan is returned (its cost is the hard cost).

    Args:
        iterations: Adam steps.
        n_restarts: sequences optimised in parallel per problem.
        lr: the step, in half-ranges of the action box (logits for a discrete space).
        max_grad_norm: each restart's gradient is clipped to this norm.
        betas: Adam's two decay rates, each in [0, 1).
        init_logit_scale: the random logits of a discrete space are uniform in +- this.
        seed, reseed_every_plan: the random stream (:class:`~.base.PlannerConfig`).

    ``info``: ``cost_history``, ``resets`` (restarts reset after a non-finite cost or
    gradient), ``restart_cost [B, R]`` and ``grad_norm [iterations, B, R]`` (each restart's
    gradient norm before clipping; NaN where the cost or gradient was non-finite).

    NaN safety: when a restart's cost or gradient is non-finite, that restart is reset to its
    best finite point so far (or re-drawn at random if it has none) and its Adam moments are
    zeroed; ``info["resets"]`` counts these. If some problem has no finite evaluation at all
    after the last iteration, ``plan`` raises ``PlanningError`` naming the first time step at
    which the model output went non-finite. A batched call equals ``B`` single calls up to
    floating-point rounding: torch may sum a batched matrix product in another order, so in
    float32 the plans can differ by a few ulp (5.96e-8 measured on actions in [-1, 1]; the
    tests allow 1e-5), in float64 by 1e-9.
    """

    iterations: int = base.count(100)
    n_restarts: int = base.count(8)
    lr: float = base.positive(0.1)
    max_grad_norm: float = base.positive(10.0)
    betas: tuple[float, float] = field(default=(0.9, 0.999), metadata={"check": _betas})
    init_logit_scale: float = base.real(3.0, 0.0)

    def _random_init(self, prob: base.Problem, gen: torch.Generator) -> Tensor:
        """One random starting point per restart, ``[R, H, A]`` (shared by the B problems)."""
        dev, dt = prob.z0.device, prob.z0.dtype
        shape = (self.n_restarts, prob.horizon, prob.action_size)
        u = torch.rand(shape, generator=gen, device=dev, dtype=dt)
        if prob.discrete:  # logits
            return self.init_logit_scale * (2 * u - 1)
        return prob.low + (prob.high - prob.low) * u

    def _actions(self, x: Tensor, prob: base.Problem) -> Tensor:
        if prob.discrete:
            return torch.softmax(base.to_blocks(x, prob), dim=-1).flatten(-2)
        return x

    def _cost(
        self, model: WorldModel, prob: base.Problem, actions: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Cost ``[B, R]`` (non-finite kept as is) and ``z_traj [B*R, H, D]``."""
        b, r, h, a = actions.shape
        flat = actions.reshape(b * r, h, a)
        z_traj = rollout(model, prob.z0.repeat_interleave(r, 0), flat)
        c = base.call_cost(prob.cost, z_traj, flat, prob.z_goal.repeat_interleave(r, 0))
        return c.reshape(b, r), z_traj

    def _plan(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator, carry: Tensor | None
    ) -> PlanResult:
        b, r = prob.batch, self.n_restarts
        x = self._random_init(prob, gen)[None].repeat(b, 1, 1, 1)  # [B, R, H, A]
        if prob.discrete:
            x[:, 0] = base.initial_probs(prob, 1.0).clamp_min(1e-6).log().flatten(-2)
        else:
            x[:, 0] = prob.init_actions if prob.init_actions is not None else base.midpoint(prob)
        step = self.lr * ((prob.high - prob.low) / 2 if not prob.discrete else 1.0)
        m1, m2 = torch.zeros_like(x), torch.zeros_like(x)
        best_x, best_c = x.clone(), torch.full((b, r), float("inf"), dtype=x.dtype, device=x.device)
        history, resets, z_traj, grad_norms = [], 0, None, []
        beta1, beta2 = self.betas
        for it in range(1, self.iterations + 1):
            x.requires_grad_(True)
            c, z_traj = self._cost(model, prob, self._actions(x, prob))
            (grad,) = torch.autograd.grad(c[torch.isfinite(c)].sum(), x, allow_unused=True)
            x = x.detach()
            c = c.detach()
            grad = torch.zeros_like(x) if grad is None else grad
            ok = torch.isfinite(c) & torch.isfinite(grad).flatten(2).all(-1)
            better = ok & (c < best_c)
            best_x = torch.where(better[..., None, None], x, best_x)
            best_c = torch.where(better, c, best_c)
            history.append(best_c.min(dim=1).values)
            # per-restart gradient norm clipping
            raw = grad.flatten(2).norm(dim=-1)
            grad_norms.append(torch.where(ok, raw, torch.full_like(raw, float("nan"))))
            norm = raw.clamp_min(1e-12)
            grad = grad * (self.max_grad_norm / norm).clamp_max(1.0)[..., None, None]
            grad = torch.where(ok[..., None, None], grad, torch.zeros_like(grad))
            m1 = beta1 * m1 + (1 - beta1) * grad
            m2 = beta2 * m2 + (1 - beta2) * grad**2
            upd = (m1 / (1 - beta1**it)) / ((m2 / (1 - beta2**it)).sqrt() + 1e-8)
            x = x - step * upd
            if not prob.discrete:
                x = base.clamp(x, prob)
            if not bool(ok.all()):  # reset failed restarts to their best point (or a new draw)
                resets += int((~ok).sum())
                fresh = self._random_init(prob, gen)[None].expand(b, -1, -1, -1)
                restart_at = torch.where(torch.isfinite(best_c)[..., None, None], best_x, fresh)
                bad = ~ok[..., None, None]
                x, m1 = torch.where(bad, restart_at, x), torch.where(bad, 0.0, m1)
                m2 = torch.where(bad, 0.0, m2)
        if prob.discrete:  # relaxed costs so far; the returned plan and cost are hard
            best_x, best_c = self._round(model, prob, best_x, x)
        if not bool(torch.isfinite(best_c).any(dim=1).all()):
            base.raise_nonfinite(best_c, z_traj.detach(), self.iterations, "GD")
        idx = best_c.argmin(dim=1)
        rows = torch.arange(b, device=x.device)
        actions = best_x[rows, idx].detach()
        info = base.make_info(
            history, resets=resets, restart_cost=best_c,
            grad_norm=torch.stack(grad_norms).cpu() if grad_norms else torch.empty(0, b, r),
        )  # fmt: skip
        return PlanResult(actions, best_c[rows, idx], info)

    @torch.no_grad()
    def _round(
        self, model: WorldModel, prob: base.Problem, best_x: Tensor, x: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Hard one-hots ``[B, R, H, A]`` of each restart's best or final logits (the cheaper
        after rounding) and their hard costs ``[B, R]`` (non-finite -> ``+inf``)."""
        r = best_x.shape[1]
        hard = base.mode_one_hot(
            base.to_blocks(torch.cat([best_x, x], dim=1), prob)
        )  # [B, 2R, H, A]
        c, _ = base.evaluate(model, prob, hard)
        take_final = c[:, r:] < c[:, :r]
        actions = torch.where(take_final[..., None, None], hard[:, r:], hard[:, :r])
        return actions, torch.minimum(c[:, :r], c[:, r:])
