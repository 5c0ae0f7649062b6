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
    ``lam_t`` (one per time step) and the action-bound weight ``lam_a`` start at 1 and rise by
    dual ascent, ``lam <- min(lam + dual_lr * violation, max_weight)`` every iteration (LatCo's
    Lagrangian updates). With ``step_rule="sgd"`` the actions move freely during optimisation
    (the bound penalty pulls them back); with the default ``"gn"`` they are projected into the
    bounds after every step instead (no ``lam_a``: a step clipped to the box needs no penalty,
    and it is fewer operations per iteration). Every ``eval_every`` iterations the current
    actions, clamped into the bounds, are rolled out and the best plan by rolled-out cost is
    kept.

    Steps (``step_rule``). The original solves each step with Levenberg-Marquardt; the default
    here, ``"gn"``, is its diagonal: each gradient is divided by the diagonal of its
    Gauss-Newton curvature (for ``a_t``: ``2 lam_t diag(J_a^T J_a)``, the step clipped to the
    action half-range; for ``s_t``: ``2 lam_{t-1} + 2 lam_t
    diag(J_s^T J_s)``, the step clipped to the largest start-goal difference of the problem, as
    the curvature is up to 10 iterations old and a piecewise model can change its Jacobian in
    between), computed exactly (``_lifted.jacobian_diag``, refreshed every 10 iterations), so
    the steps do not depend on the scale of the model's Jacobians or of the
    weights. ``"sgd"`` is plain gradient descent with step size ``lr / max_t lam_t`` per problem
    (below the horizon-independent curvature bound of Eq. (31) times the largest weight; use
    ``lr=0.2`` with it), kept for comparisons.

    First-order collocation converges slowly along the chain of an under-actuated system, so
    the best plan is finally refined by ``refine_steps`` Adam steps through the full rollout
    (step ``lr_refine`` times the half-range, cosine-annealed; the best point is kept, so the
    refinement never returns a worse plan): measured on a 20-step double integrator, 5.8% of
    the starting distance is left without it and 0.4% with it. ``refine_steps=0`` is plain
    collocation. Discrete action spaces are not refined (their plans are hardened one-hots).

    Defaults (ours; the GRASP paper sweeps LatCo's settings without listing them):
    ``iterations=300``, ``lr=0.5``, ``refine_steps=50``, ``lr_refine=0.05``, ``dual_lr=10.0``,
    ``max_weight=1e4``, ``init_noise=0.0``, ``eval_every=10``. States start on the line from
    ``z0`` to the goal (plus ``init_noise``),
    actions at zero, as GRASP's are (Sec. 4.1). Given ``init_actions`` (a warm start, e.g. the
    unexecuted tail of the previous MPC plan), the actions start there and, with
    ``warm_states=True`` (default), the states start on the rollout of those actions, as
    collocation warm-starts the whole previous trajectory. On the line instead, states and
    actions would disagree: the dynamics penalty then drags the actions back towards a path
    that spreads the move evenly over the full horizon, so with a final-state cost every
    replan arrives exactly at step ``T`` and a receding-horizon agent never arrives (measured:
    0/3 LinearExpansive episodes through ``MPCAgent``; see docs/design.md).

    ``info``: ``cost_history`` ``[iterations, B]`` (the lifted loss), ``rollout_cost_history``
    (rolled-out cost at each evaluation), ``weights`` ``[B, T]`` (final ``lam_t``),
    ``iterations``, ``time_s``, ``virtual_states``. A non-finite one-step prediction raises
    ``PlanningError`` naming the iteration and time step.

    ``seed`` seeds the planner's own generator; ``reseed_every_plan=True`` restarts it at every
    ``plan`` call, making each plan a pure function of its inputs (see ``base.RandomStream``).
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
