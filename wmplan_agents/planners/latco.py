"""LatCo: latent collocation (Rybkin et al., 2021), the lifted baseline of grasp-paper.md."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from wmplan_agents import contracts
from wmplan_agents.contracts import PlanResult, WorldModel
from wmplan_agents.planners import _lifted, base


@dataclass(frozen=True, kw_only=True)
class LatCo(base.PlannerConfig):
    """Latent collocation: states and actions optimised jointly on the lifted objective.

    Virtual states ``s_1..s_{T-1}`` (``s_0 = z0``, ``s_T = z_goal`` fixed, as in Eq. (4) of
    grasp-paper.md) and actions are optimised by gradient descent on::

        L = cost(s, a, g) + sum_t lam_t ||F(s_t, a_t) - s_{t+1}||^2 + lam_a ||bound violation||^2

    with gradients flowing through the model's state inputs (no stop-gradient: that is GRASP's
    change). ``cost`` is applied to the virtual trajectory ``[s_1..s_{T-1}, g]``; the default
    (final-state distance) is then zero, and ``L`` is the weighted Eq. (4). The dynamics weights
    ``lam_t`` and the bound weight ``lam_a`` start at 1 and rise by dual ascent, ``lam <-
    min(lam + dual_lr * violation, max_weight)`` every iteration (LatCo's Lagrangian updates).
    Every ``eval_every`` iterations the current actions, clamped into the bounds, are rolled out
    and the best plan by rolled-out cost is kept; that plan is finally refined by
    ``refine_steps`` Adam steps through the full rollout (never returning a worse plan; first-order
    collocation converges slowly along an under-actuated chain). Discrete action spaces are not
    refined (their plans are hardened one-hots).

    Step rules (``step_rule``): the original solves each step with Levenberg-Marquardt;
    ``"gn"`` (default) is its diagonal: each gradient divided by the exact diagonal of its
    Gauss-Newton curvature (refreshed every 10 iterations; the action step clipped to the
    half-range and projected into the bounds, so ``lam_a`` is not needed; the state step clipped
    to the problem's largest start-goal difference), so the steps do not depend on the scale of
    the model's Jacobians or of the weights. ``"sgd"`` is plain gradient descent with step
    ``lr / max_t lam_t`` (use ``lr=0.2``), the actions pulled back by the bound penalty.
    Rationale and measurements: docs/design.md, "Lifted planners".

    Args:
        iterations: collocation iterations (ours; the GRASP paper does not list LatCo's).
        lr: the step (with ``"gn"``: a fraction of the Gauss-Newton step, in (0, 2]).
        dual_lr: the dual-ascent rate of the weights.
        max_weight: the weights' cap, at least 1.
        init_noise: std of the noise on the initial line of states.
        eval_every: iterations between roll-outs of the current plan.
        warm_states: given ``init_actions`` (e.g. the unexecuted tail of the previous MPC plan),
            start the states on their rollout (collocation warm-starts the whole trajectory);
            otherwise on the line from ``z0`` to the goal, where states and actions disagree and
            a receding-horizon agent with a final cost never arrives.
        step_rule: ``"gn"`` or ``"sgd"`` (above).
        refine_steps: Adam steps of the final refinement (0: plain collocation).
        lr_refine: their step, in half-ranges, cosine-annealed.
        discrete_samples: for a discrete space, hard plans drawn from the best relaxed plan
            besides its arg-max; the cheapest by rolled-out cost is returned (0: arg-max only).
        seed, reseed_every_plan: the random stream (:class:`~.base.PlannerConfig`); the noise
            is drawn on the CPU.

    ``info``: ``cost_history`` ``[iterations, B]`` (the lifted loss), ``rollout_cost_history``
    (rolled-out cost at each evaluation), ``weights`` ``[B, T]`` (final ``lam_t``),
    ``iterations``, ``time_s``, ``virtual_states``. A non-finite one-step prediction raises
    ``PlanningError`` naming the iteration and time step.
    """

    iterations: int = base.count(300, low=0)
    lr: float = base.real(0.5, 0.0)
    dual_lr: float = base.real(10.0, 0.0)
    max_weight: float = base.real(1e4, 1.0)
    init_noise: float = base.real(0.0, 0.0)
    eval_every: int = base.count(10)
    warm_states: bool = base.flag(True)
    step_rule: str = base.choice("gn", ("gn", "sgd"))
    refine_steps: int = base.count(50, low=0)
    lr_refine: float = base.real(0.05, 0.0)
    discrete_samples: int = base.count(64, low=0)
    noise_device: ClassVar[str | None] = "cpu"  # noise drawn on the CPU: plans device-independent

    def check(self) -> None:
        if self.step_rule == "gn" and not 0 < self.lr <= 2:
            raise ValueError(
                f"lr must be in (0, 2] with step_rule='gn' (a fraction of the diagonal "
                f"Gauss-Newton step; above 2 it diverges), got {self.lr!r}"
            )

    def _plan(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator, carry: Tensor | None
    ) -> PlanResult:
        z0, z_goal, low, high = prob.z0.detach(), prob.z_goal.detach(), prob.low, prob.high
        cost = None if prob.cost is contracts.goal_cost else prob.cost
        b, d = z0.shape
        t_len = prob.horizon
        cost_fn = prob.cost
        warm = self.warm_states and prob.init_actions is not None
        actions, path = _lifted.initial_path(model, prob, gen, self.init_noise, from_actions=warm)
        lam = torch.ones(b, t_len, dtype=z0.dtype, device=z0.device)
        lam_a = torch.ones(b, dtype=z0.dtype, device=z0.device)

        best_actions = torch.maximum(torch.minimum(actions, high), low)
        best_cost = torch.full((b,), math.inf, dtype=z0.dtype, device=z0.device)
        history: list[Tensor] = []
        rolled: list[Tensor] = []
        half = (high - low) / 2
        discrete = contracts.is_discrete(model)
        # a state step's cap, in the units of g / c (the step is 0.5 * lr times that)
        cap = (z_goal - z0).abs().amax(-1).clamp_min(1e-6)[:, None, None] / (0.5 * self.lr)
        curv_a = curv_s = None
        for k in range(self.iterations + 1):
            if k % self.eval_every == 0 or k == self.iterations:
                best_actions, best_cost = self._keep_best(
                    model, prob, actions, best_actions, best_cost
                )
                rolled.append(best_cost.clone())
            if k == self.iterations:
                break
            path.requires_grad_(True)
            prev, nxt = path[:, :-1], path[:, 1:]  # gradients flow through both
            pred = model.step(prev.reshape(b * t_len, d), actions.requires_grad_(True).reshape(
                b * t_len, -1)).reshape(b, t_len, d)  # fmt: skip
            resid = ((pred - nxt) ** 2).sum(-1)  # [B, T]
            gn = self.step_rule == "gn"
            loss = (lam * resid).sum(-1)
            if cost is not None:  # the default (final-state) cost of [s_1 .. s_{T-1}, g] is 0
                loss = loss + base.call_cost(cost_fn, nxt, actions, z_goal)
            if gn:
                if k % 10 == 0:  # diag(J^T J) wrt actions and states, refreshed every 10
                    curv_a, curv_s = _lifted.jacobian_diag(model, prev, actions, wrt_states=True)
            else:  # plain steps: divided by the largest weight, keeping lr below the bound
                loss = loss / lam.max(-1).values.clamp_min(1.0)
            total = loss.sum()
            if not math.isfinite(float(total.detach())):  # one check; details if it fails
                _lifted.raise_nonfinite("latco", pred, k)
            g_a, g_s = torch.autograd.grad(total, [actions, path])
            with torch.no_grad():
                path = path.detach()
                if gn and curv_a is not None and curv_s is not None:
                    # diagonal Gauss-Newton: each residual's weight times diag(J^T J); the
                    # actions are projected into the bounds
                    c_a = torch.mul(lam[..., None], curv_a).clamp_min_(1e-30)
                    step = torch.div(g_a, c_a).clamp_(-half, half)
                    actions = torch.add(actions, step, alpha=-0.5 * self.lr)
                    if discrete:  # relaxed one-hots onto the simplex, else into the box
                        actions = _lifted.project(model, actions, low, high)
                    else:
                        actions = torch.clamp(actions, low, high)
                    c_s = torch.addcmul(lam[:, :-1, None], lam[:, 1:, None], curv_s[:, 1:])
                    # clipped to the problem's own scale: the curvature is 10 iterations old,
                    # and a piecewise model (a wall) can change its Jacobian in between
                    d_s = torch.div(g_s[:, 1:-1], c_s).clamp_(-cap, cap)
                    path[:, 1:-1].sub_(d_s, alpha=0.5 * self.lr)
                else:  # the bound penalty lam_a ||excess||^2, its weight raised by dual ascent
                    excess = actions - torch.maximum(torch.minimum(actions, high), low)
                    viol = (excess**2).sum((1, 2))  # [B]
                    scale = lam.max(-1).values.clamp_min(1.0)
                    loss = loss + lam_a * viol / scale
                    g_a = g_a + 2 * (lam_a / scale)[:, None, None] * excess
                    actions = actions - self.lr * g_a
                    path[:, 1:-1] -= self.lr * g_s[:, 1:-1]
                    if contracts.is_discrete(model):  # relaxed one-hots stay on the simplex
                        actions = _lifted.project(model, actions, low, high)
                    lam_a = torch.add(lam_a, viol, alpha=self.dual_lr).clamp_max_(self.max_weight)
                # dual ascent on the dynamics weights
                lam = torch.add(lam, resid.detach(), alpha=self.dual_lr).clamp_max_(self.max_weight)
            history.append(loss.detach())

        info = {
            "cost_history": torch.stack(history) if history else torch.zeros(0, b),
            "rollout_cost_history": torch.stack(rolled),
            "weights": lam,
            "iterations": self.iterations,
            "virtual_states": path[:, 1:-1].detach().clone(),
        }
        if self.refine_steps > 0 and not contracts.is_discrete(model):
            best_actions, _, _ = _lifted.refine(
                model, prob, best_actions, self.refine_steps, self.lr_refine, planner="latco"
            )
        actions = _lifted.harden(model, best_actions)
        result_cost = _lifted.final_rollout_cost(model, prob, actions, "latco")
        actions, result_cost = _lifted.sampled_rounding(
            model, prob, best_actions, gen, self.discrete_samples, actions, result_cost
        )
        return PlanResult(actions=actions, cost=result_cost, info=info)

    def _keep_best(
        self,
        model: WorldModel,
        prob: base.Problem,
        actions: Tensor,
        best_actions: Tensor,
        best_cost: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Roll out the clamped (and, if discrete, hardened) actions; keep the better plan."""
        low, high = prob.low, prob.high
        cand = _lifted.harden(model, _lifted.project(model, actions.detach(), low, high))
        best, best_cost, _ = _lifted.keep_better(
            model, prob, cand, actions.detach(), best_actions, best_cost
        )
        return _lifted.project(model, best, low, high), best_cost
