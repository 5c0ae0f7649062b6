"""Helpers shared by the lifted-state planners (``grasp`` and ``latco``), on top of
``planners/base.py`` (input checks, generator): initial actions, hardening relaxed one-hots,
non-finite checks, the final re-rolled cost and common-random-number noise."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from wmplan_agents import contracts
from wmplan_agents.contracts import PlanningError, WorldModel
from wmplan_agents.planners import base
from wmplan_agents.planners.base import Problem


def initial_actions(model: WorldModel, prob: Problem) -> Tensor:
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


def initial_states(model: WorldModel, prob: Problem, actions: Tensor, from_actions: bool) -> Tensor:
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


def initial_path(
    model: WorldModel, prob: Problem, gen: torch.Generator, init_noise: float, from_actions: bool
) -> tuple[Tensor, Tensor]:
    """The starting actions ``[B, T, A]`` (:func:`initial_actions`) and the path ``s_0 .. s_T``
    ``[B, T+1, D]``: ``z0``, the virtual states of :func:`initial_states` plus Gaussian noise
    of std ``init_noise``, and the goal."""
    actions = initial_actions(model, prob)
    states = initial_states(model, prob, actions, from_actions)
    if init_noise > 0:
        states = states + init_noise * randn(gen, tuple(states.shape), states)
    path = torch.cat([prob.z0.detach()[:, None], states, prob.z_goal.detach()[:, None]], dim=1)
    return actions, path


def project(model: WorldModel, actions: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """Actions ``[..., A]`` into the bounds (Box), or each one-hot block onto the probability
    simplex (Discrete), so relaxed discrete actions stay probability vectors (Euclidean
    projection, sort-based)."""
    if not contracts.is_discrete(model):
        return torch.maximum(torch.minimum(actions, high), low)
    n = int(model.action_space.n)
    v = actions.reshape(*actions.shape[:-1], actions.shape[-1] // n, n)  # [..., k, n]
    u = v.sort(-1, descending=True).values
    css = u.cumsum(-1) - 1.0
    k = torch.arange(1, n + 1, dtype=v.dtype, device=v.device)
    rho = (u - css / k > 0).sum(-1, keepdim=True)  # >= 1 always
    theta = css.gather(-1, rho - 1) / rho.to(v.dtype)
    return (v - theta).clamp_min(0.0).reshape(actions.shape)


def harden(model: WorldModel, actions: Tensor) -> Tensor:
    """Relaxed one-hots to hard one-hots (per block of ``n``) for discrete spaces; Box unchanged."""
    if not contracts.is_discrete(model):
        return actions
    n = int(model.action_space.n)
    b, h, a = actions.shape
    idx = actions.reshape(b, h, a // n, n).argmax(-1)
    return torch.nn.functional.one_hot(idx, n).reshape(b, h, a).to(actions.dtype)


def sampled_rounding(
    model: WorldModel,
    prob: Problem,
    relaxed: Tensor,
    gen: torch.Generator,
    n_samples: int,
    hard: Tensor,
    cost: Tensor,
) -> tuple[Tensor, Tensor]:
    """For a discrete space: ``n_samples`` hard plans drawn from the relaxed one-hots ``relaxed
    [B, H, A]`` (each block a categorical; common random numbers over the problems), scored by
    their rolled-out cost; per problem, the cheapest of them where it beats ``(hard, cost)``
    (the arg-max plan and its cost). Arg-max rounding alone can turn a relaxed plan whose mass is
    spread over several actions into a plan that goes nowhere; sampling keeps the plans the
    relaxation put some weight on. Box spaces and ``n_samples = 0``: ``(hard, cost)``."""
    if not prob.discrete or n_samples <= 0:
        return hard, cost
    probs = base.to_blocks(relaxed.detach(), prob).clamp_min(0.0)
    probs = probs / probs.sum(-1, keepdim=True).clamp_min(1e-12)
    u = torch.rand(n_samples, prob.horizon, prob.n_blocks, generator=gen, dtype=probs.dtype)
    samples = base.sample_categorical(probs, u.to(probs.device))  # [B, N, H, A]
    with torch.no_grad():
        c, _ = base.evaluate(model, prob, samples)
    best_c, idx = c.min(dim=1)
    better = best_c < cost
    rows = torch.arange(prob.batch, device=idx.device)
    return (
        torch.where(better[:, None, None], samples[rows, idx], hard),
        torch.where(better, best_c, cost),
    )


def first_nonfinite_step(traj: Tensor) -> int | None:
    """Index of the first time step ``[B, H, D]`` holding a non-finite value, or ``None``."""
    bad = ~torch.isfinite(traj).reshape(traj.shape[0], traj.shape[1], -1).all(-1).all(0)
    return int(bad.nonzero()[0, 0]) if bad.any() else None


def raise_nonfinite(planner: str, pred: Tensor, k: int) -> None:
    """Raise ``PlanningError`` for a non-finite lifted loss at iteration ``k``: naming the time
    step where the one-step predictions ``[B, T, D]`` went non-finite, or, if they are finite,
    the virtual states or the cost."""
    bad = first_nonfinite_step(pred)
    if bad is not None:
        raise PlanningError(
            f"{planner}: the model returned a non-finite one-step prediction at iteration {k}, "
            f"time step {bad}"
        )
    raise PlanningError(
        f"{planner}: the lifted loss is non-finite at iteration {k} although the model's "
        "one-step predictions are finite: the virtual states or the cost overflowed (check the "
        "step sizes and the cost)"
    )


def final_rollout_cost(model: WorldModel, prob: Problem, actions: Tensor, planner: str) -> Tensor:
    """The true rolled-out cost ``[B]`` of ``actions`` (``prob.cost``); ``PlanningError`` if it
    is non-finite."""
    with torch.no_grad():
        traj = contracts.rollout(model, prob.z0, actions)
        step = first_nonfinite_step(traj)
        if step is not None:
            raise PlanningError(
                f"{planner}: the model returned a non-finite state at rollout step {step} of the "
                "final plan"
            )
        c = base.call_cost(prob.cost, traj, actions, prob.z_goal).detach()
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


def jacobian_diag(model: WorldModel, prev: Tensor, actions: Tensor, *, wrt_states: bool = False):
    """The diagonal of the Gauss-Newton curvature ``J^T J`` of one batched model call.

    ``prev [B, T, D]`` and ``actions [B, T, A]`` are the inputs of ``T`` independent one-step
    predictions per problem; returns ``diag(J_a^T J_a)`` ``[B, T, A]`` (and, with
    ``wrt_states``, ``diag(J_s^T J_s)`` ``[B, T, D]``), exactly: one backward pass that keeps
    its graph, then one double-backward pass per input column (``J e_i``, for all rows at once,
    since each prediction depends on its own row only). No gradient flows out of the result.

    Dividing a gradient ``2 J^T r`` by ``2 diag(J^T J)`` gives a step in the input's own units
    that does not change when the model's Jacobian is scaled (a diagonal Gauss-Newton step).
    """
    b, t_len, d = prev.shape
    a_dim = actions.shape[-1]
    s_in = prev.detach().reshape(b * t_len, d).requires_grad_(wrt_states)
    a_in = actions.detach().reshape(b * t_len, a_dim).requires_grad_(True)
    with torch.enable_grad():
        out = model.step(s_in, a_in)
        u = torch.zeros_like(out, requires_grad=True)
        inputs = [a_in, s_in] if wrt_states else [a_in]
        vjps = torch.autograd.grad(out, inputs, grad_outputs=u, create_graph=True)
        diags = []
        for x, vjp in zip(inputs, vjps):
            cols = []
            for i in range(x.shape[-1]):  # column i of J, for every row: J e_i = d(e_i . J^T u)/du
                e = torch.zeros_like(x)
                e[:, i] = 1.0
                (col,) = torch.autograd.grad(vjp, [u], grad_outputs=e, retain_graph=True)
                cols.append((col.detach() ** 2).sum(-1))
            diags.append(torch.stack(cols, -1).reshape(b, t_len, x.shape[-1]))
    return (diags[0], diags[1]) if wrt_states else diags[0]


def gn_denominator(curvature: Tensor, weight: float) -> Tensor:
    """``2 * weight * diag(J^T J)``, floored per problem at ``1e-12`` of its largest entry, so a
    gradient divided by it is a diagonal Gauss-Newton step (the caller clips it to a trust
    region in the input's units, for entries with almost no curvature)."""
    floor = 1e-12 * curvature.flatten(1).amax(-1).clamp_min(1e-30)
    return 2 * weight * torch.maximum(curvature, floor.reshape(-1, *[1] * (curvature.dim() - 1)))


def refine(
    model: WorldModel,
    prob: Problem,
    actions: Tensor,
    steps: int,
    lr: float,
    *,
    rule: str = "annealed",
    rollout: Any = None,
    planner: str = "",
) -> tuple[Tensor, Tensor, Tensor]:
    """``steps`` steps on the actions through the full rollout, keeping per problem the best
    in-bounds plan seen (starting with ``actions``), so the result is never worse than the
    start; the objective is ``prob.cost``. Returns ``(best actions, their rollout, their
    cost)``.

    ``rule``: ``"annealed"`` Adam steps of ``lr`` half-ranges cosine-annealed to 0 (so the
    last steps settle); ``"adam"`` the same without annealing; ``"halve"`` plain gradient
    steps of size ``lr``, a step that raises a problem's cost undone and its size halved.
    ``rollout(z0, actions)`` replaces the model's rollout (e.g. a noisy one; the cost is always
    of the actions given). A non-finite cost at the start is a ``PlanningError`` naming
    ``planner``; a later non-finite step is never kept.
    """
    z0, z_goal, low, high, cost = prob.z0, prob.z_goal, prob.low, prob.high, prob.cost
    b = z0.shape[0]
    roll = (lambda z, a: contracts.rollout(model, z, a)) if rollout is None else rollout
    size = torch.full((b, 1, 1), lr, dtype=z0.dtype, device=z0.device)
    best_a = actions.detach()
    best_cost = torch.full((b,), math.inf, dtype=z0.dtype, device=z0.device)
    best_grad = torch.zeros_like(best_a)
    best_traj: Tensor | None = None
    adam = AdamStep() if rule != "halve" else None
    cand = best_a
    for j in range(steps + 1):
        a = cand.detach().requires_grad_(True)
        with torch.enable_grad():
            traj = roll(z0, a)
            c = base.call_cost(cost, traj, a, z_goal)
            finite = torch.isfinite(c)
            if j == 0 and not bool(finite.all()):
                raise PlanningError(
                    f"{planner}: the rollout of the plan to refine is non-finite at rollout "
                    f"step {first_nonfinite_step(traj)}"
                )
            (grad,) = torch.autograd.grad(c.where(finite, torch.zeros_like(c)).sum(), [a])
        with torch.no_grad():
            better = finite & (c < best_cost)
            m = better[:, None, None]
            best_a = torch.where(m, a.detach(), best_a)
            best_grad = torch.where(m, grad, best_grad)
            best_cost = torch.where(better, c.detach(), best_cost)
            best_traj = traj.detach() if best_traj is None else torch.where(m, traj, best_traj)
            if j == steps:
                break
            if adam is None:  # plain steps: undo a step that raised the cost, halve its size
                size = torch.where(m, size, size * 0.5)
                cand = project(model, best_a - size * best_grad, low, high)
            else:  # Adam continues from where it is; the best point so far is kept
                step = adam.direction(grad) * (high - low) / 2
                if rule == "annealed":
                    step = step * 0.5 * (1 + math.cos(math.pi * j / steps))
                cand = project(model, a.detach() - size * step, low, high)
    assert best_traj is not None
    return best_a, best_traj, best_cost


def keep_better(
    model: WorldModel, prob: Problem, scored: Tensor, kept: Tensor, best: Tensor, best_cost: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Score the in-bounds, hard plans ``scored [B, H, A]`` by their noise-free rolled-out cost
    (``prob.cost``); where that is finite and below ``best_cost``, take ``kept`` (the planner's
    own form of the same plans) into ``best``. Returns ``(best, best_cost, better)``."""
    with torch.no_grad():
        traj = contracts.rollout(model, prob.z0, scored)
        c = base.call_cost(prob.cost, traj, scored, prob.z_goal)
        better = torch.isfinite(c) & (c < best_cost)
        return (
            torch.where(better[:, None, None], kept, best),
            torch.where(better, c, best_cost),
            better,
        )
