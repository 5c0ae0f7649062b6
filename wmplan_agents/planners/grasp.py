"""GRASP: parallel stochastic gradient-based planning (grasp-paper.md, Algorithm 1)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from wmplan_agents import contracts
from wmplan_agents.contracts import PlanningError, PlanResult, WorldModel
from wmplan_agents.planners import _lifted, base

_DECAYS = ("none", "linear", "cosine")
_STEP_RULES = ("gn", "adam", "sgd")
_SYNCS = ("gd", "cem")


@dataclass(frozen=True, kw_only=True)
class GRASP(base.PlannerConfig):
    """GRASP (Gradient RelAxed Stochastic Planner), Algorithm 1 of grasp-paper.md.

    Virtual states ``s_1..s_{T-1}`` (``s_0 = z0`` and ``s_T = z_goal`` fixed) and actions
    ``a_0..a_{T-1}`` are optimised jointly on the loss of Eq. (10)::

        L = sum_t ||F(sg(s_t), a_t) - s_{t+1}||^2 + gamma * goal(F(sg(s_t), a_t))

    where ``goal`` is the dense goal term of Eq. (9) (``sum_t ||F(sg(s_t), a_t) - g||^2``; a
    user ``cost`` replaces it, applied to the one-step predictions). All ``B*T`` one-step
    predictions of an iteration are one batched ``model.step`` call. Each iteration: a step on
    the actions and one on the states, actions projected into the bounds; Gaussian noise on the
    states (Eq. 5); every ``sync_every`` iterations a sync on the actions alone through the full
    rollout (Eq. 13-15, objective ``cost``, default the final-state distance), after which the
    virtual states are reset to that rollout (Algorithm 1, line 7). The returned cost is the true
    rolled-out cost of the returned actions; with ``return_best`` the returned plan is, per
    problem, the best by that cost among the plans after each sync and the last one (the paper
    scores a trial by whether its plan succeeds during optimisation, Table 1 and Fig. 5).

    Step rules (``step_rule``): ``"gn"`` (default) divides the action step by the exact diagonal
    of its Gauss-Newton curvature ``2 (1 + gamma) diag(J_a^T J_a)`` (refreshed every 10
    iterations, clipped to the action half-range), so ``lr_actions = 1`` is a diagonal Newton
    step whatever the scale of the model's Jacobians; the state step needs no Jacobian under the
    stop-gradient (``lr_states = 0.5`` moves a state onto its one-step prediction); the sync takes
    Adam steps of ``lr_sync`` half-ranges, cosine-annealed within each sync, keeping the best
    point. ``"sgd"`` is the literal rule (plain steps; the sync halves a step that raised the
    cost), whose stable step size depends on the model; ``"adam"`` takes Adam directions times
    the half-range. Rationale and measurements: docs/design.md, "Lifted planners".

    Args:
        iterations: lifted iterations (ours).
        lr_actions: the action step (with ``"gn"``: a fraction of the Gauss-Newton step, at most
            2).
        lr_states: the state step, in [0, 1].
        gamma: the goal term's weight; ``None`` is 0 with the default objective (the goal is
            already the fixed ``s_T``) and 0.2 (the paper's Eq. 10) with a user ``cost``.
        state_noise: the std of the state noise (paper, Table 2: 0.5 on DINO-WM latents).
        noise_decay: ``"none"``, ``"linear"`` or ``"cosine"`` annealing of the state noise to 0
            at iteration ``noise_until * iterations`` (0 after it).
        noise_until: that fraction, in (0, 1].
        init_noise: the std of the noise on the initial line of states (the paper's unstated
            epsilon, Sec. 4.1).
        sync_every: iterations between syncs (paper: 100); 0 disables the sync.
        sync_steps: steps per sync; ``None``: 25 for ``sync="gd"`` (paper, Table 2), 5 for
            ``"cem"`` (:attr:`n_sync_steps`); 0 disables the sync.
        lr_sync: the sync's step.
        stop_gradient: stop the state gradient through the model (paper, Sec. 3.3).
        action_noise: std of noise added to the actions fed to every model evaluation (Table 5).
        rollout_noise: std of noise added to each state of the sync rollouts (Eq. 106).
        sync_states: reset the virtual states to the synced rollout (Algorithm 1, line 7).
        return_best: return the best synced plan instead of the last (Algorithm 1 literally).
        step_rule: ``"gn"``, ``"adam"`` or ``"sgd"`` (above).
        sync: ``"gd"`` (gradient steps through the rollout) or ``"cem"``, a small CEM around the
            current actions (the public GRASP solver's configuration: ``sync_samples`` 64,
            ``sync_elites`` 8; the first per-step std is ``sync_var_scale`` times the gap
            between the virtual states and the rollout, relative to the start-goal distance, at
            least ``sync_var_floor`` half-ranges).
        sync_samples, sync_elites, sync_var_scale, sync_var_floor: the CEM sync's settings.
        discrete_samples: for a discrete space, hard plans drawn from the final relaxed plan
            besides its arg-max; the cheapest by rolled-out cost is returned (ours; 0: arg-max
            only).
        seed, reseed_every_plan: the random stream (:class:`~.base.PlannerConfig`); the noise
            is drawn on the CPU.
        init_samples, init_beta: a sampled start (:class:`~.base.PlannerConfig`); with one,
            the virtual states start on the chosen route's rollout instead of the line, and
            with ``return_best`` the route itself is a candidate (``best_at`` 0).

    The sync fires after iterations ``sync_every, 2 * sync_every, ...`` (the literal ``k mod
    K_sync = 0`` would also fire at ``k = 0``) and never returns a worse point than its start.
    Ablations (Tables 2 and 5): ``sync_every=0``, ``state_noise=0``, ``stop_gradient=False``,
    ``action_noise``, ``rollout_noise``.

    ``info``: ``cost_history`` ``[iterations, B]`` (the Eq. 10 loss per problem),
    ``sync_cost_history`` (rollout cost after each sync), ``iterations``, ``time_s``,
    ``virtual_states`` ``[B, T-1, D]`` (the lifted states of the last iteration; a sync after
    it does not replace them), ``defects`` ``[B]`` (their dynamics term),
    ``best_at`` ``[B]`` (the iteration whose plan was returned). A non-finite one-step prediction
    raises ``PlanningError`` naming the iteration and time step. A batched call equals ``B``
    single calls up to float32 rounding (a few ulp).
    """

    iterations: int = base.count(300, low=0)
    lr_actions: float = base.real(0.5, 0.0)
    lr_states: float = base.real(0.25, 0.0, 1.0)
    gamma: float | None = base.real(None, 0.0, optional=True)
    state_noise: float = base.real(0.5, 0.0)
    noise_decay: str = base.choice("none", _DECAYS)
    noise_until: float = base.real(1.0, 0.0, 1.0, strict=True)
    init_noise: float = base.real(0.1, 0.0)
    sync_every: int = base.count(100, low=0)
    sync_steps: int | None = base.count(None, low=0, optional=True)
    lr_sync: float = base.real(0.1, 0.0)
    stop_gradient: bool = base.flag(True)
    action_noise: float = base.real(0.0, 0.0)
    rollout_noise: float = base.real(0.0, 0.0)
    sync_states: bool = base.flag(True)
    return_best: bool = base.flag(True)
    step_rule: str = base.choice("gn", _STEP_RULES)
    sync: str = base.choice("gd", _SYNCS)
    sync_samples: int = base.count(64)
    sync_elites: int = base.count(8)
    sync_var_scale: float = base.real(1.0, 0.0)
    sync_var_floor: float = base.real(0.01, 0.0)
    discrete_samples: int = base.count(64, low=0)
    noise_device: ClassVar[str | None] = "cpu"  # noise drawn on the CPU: plans device-independent

    def check(self) -> None:
        if self.sync_elites > self.sync_samples:
            raise ValueError(
                f"sync_elites must be at most sync_samples ({self.sync_samples}), got "
                f"{self.sync_elites}"
            )
        if self.step_rule == "gn" and self.lr_actions > 2:
            raise ValueError(
                f"lr_actions must be in [0, 2] with step_rule='gn' (a fraction of the diagonal "
                f"Gauss-Newton step), got {self.lr_actions!r}"
            )

    @property
    def n_sync_steps(self) -> int:
        """``sync_steps``, or its default for the sync: 25 for ``"gd"``, 5 for ``"cem"``."""
        if self.sync_steps is not None:
            return int(self.sync_steps)
        return 25 if self.sync == "gd" else 5

    # -- schedule ---------------------------------------------------------------------------
    def noise_at(self, k: int) -> float:
        """State-noise std at iteration ``k``: ``noise_decay`` anneals it to 0 at iteration
        ``noise_until * iterations``, after which it is 0 (a noise-free refinement phase)."""
        frac = k / max(self.noise_until * self.iterations, 1e-12)
        if frac >= 1.0:
            return 0.0
        if self.noise_decay == "linear":
            return self.state_noise * (1.0 - frac)
        if self.noise_decay == "cosine":
            return self.state_noise * 0.5 * (1.0 + math.cos(math.pi * frac))
        return self.state_noise

    def _noisy(self, actions: Tensor, gen: torch.Generator) -> Tensor:
        if self.action_noise > 0:
            actions = actions + self.action_noise * _lifted.randn(
                gen, tuple(actions.shape), actions
            )
        return actions

    # -- the plan ---------------------------------------------------------------------------
    def _plan(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator, carry: Tensor | None
    ) -> PlanResult:
        z0, z_goal, low, high = prob.z0.detach(), prob.z_goal.detach(), prob.low, prob.high
        cost = None if prob.cost is contracts.goal_cost else prob.cost
        b, d = z0.shape
        t_len = prob.horizon
        goal_term = contracts.dense_goal_cost if cost is None else cost
        gamma = self.gamma if self.gamma is not None else (0.0 if cost is None else 0.2)

        # states on the (noised) line; s_0 .. s_T in one tensor (s_0 = z0 and s_T = g fixed).
        # A sampled start is a route: the states start on its rollout, and it is a candidate.
        sampled = self.init_samples > 0
        actions, path = _lifted.initial_path(
            model, prob, gen, self.init_noise, from_actions=sampled
        )

        history: list[Tensor] = []
        sync_history: list[Tensor] = []
        defects = torch.zeros(b, dtype=z0.dtype, device=z0.device)
        best_a = actions.detach().clone()
        best_cost = torch.full((b,), math.inf, dtype=z0.dtype, device=z0.device)
        best_at = torch.full((b,), -1, dtype=torch.long, device=z0.device)
        adam = _lifted.AdamStep() if self.step_rule == "adam" else None
        denom: Tensor | None = None  # the Gauss-Newton scale, refreshed every 10 iterations
        half = (high - low) / 2
        if sampled and self.return_best:
            best_a, best_cost, best_at = self._keep_best(
                model, prob, actions, best_a, best_cost, best_at, 0
            )
        for k in range(self.iterations):
            path.requires_grad_(True)
            prev = path[:, :-1].detach() if self.stop_gradient else path[:, :-1]  # sg(s_t), Eq. 8
            nxt = path[:, 1:]  # s_1 .. s_T = g
            a_in = self._noisy(actions.requires_grad_(True), gen)
            # one batched model call over all B*T one-step predictions
            pred = model.step(prev.reshape(b * t_len, d), a_in.reshape(b * t_len, -1))
            pred = pred.reshape(b, t_len, d)
            dyn = ((pred - nxt) ** 2).sum((1, 2))  # Eq. (8)
            loss = dyn  # Eq. (10); the goal term is skipped at weight 0, not multiplied by it
            if gamma > 0:
                loss = loss + gamma * base.call_cost(goal_term, pred, actions, z_goal)
            total = loss.sum()
            if not math.isfinite(
                float(total.detach())
            ):  # one check per iteration; details if it fails
                _lifted.raise_nonfinite("grasp", pred, k)
            if self.step_rule == "gn" and k % 10 == 0:
                denom = _lifted.gn_denominator(_lifted.jacobian_diag(model, prev, a_in), 1 + gamma)
            g_a, g_s = torch.autograd.grad(total, [actions, path], allow_unused=True)
            with torch.no_grad():
                if denom is not None:
                    step = torch.clamp(g_a / denom, -half, half)
                elif adam is not None:
                    step = adam.direction(g_a) * half
                else:
                    step = g_a
                actions = _lifted.project(model, actions - self.lr_actions * step, low, high)
                path = path.detach()
                if g_s is not None and t_len > 1:
                    path[:, 1:-1] -= self.lr_states * g_s[:, 1:-1]
                sigma = self.noise_at(k)
                if sigma > 0 and t_len > 1:  # Langevin-style state noise, Eq. (5) / Alg. 1 l. 6
                    shape = (b, t_len - 1, d)
                    path[:, 1:-1] += sigma * _lifted.randn(gen, shape, path)
            history.append(loss.detach())
            defects = dyn.detach()
            if self.sync_every > 0 and self.n_sync_steps > 0 and (k + 1) % self.sync_every == 0:
                if self.sync == "cem":
                    actions, traj, sync_cost = self._sync_cem(
                        model, prob, actions, path[:, 1:-1], k, gen
                    )
                else:
                    actions, traj, sync_cost = self._sync(model, prob, actions, k, gen)
                sync_history.append(sync_cost)
                if self.return_best:  # the synced plan's clean rolled-out cost
                    best_a, best_cost, best_at = self._keep_best(
                        model, prob, actions, best_a, best_cost, best_at, k + 1
                    )
                # (not after the last iteration: info keeps the lifted states it optimised)
                if self.sync_states and t_len > 1 and k + 1 < self.iterations:
                    path[:, 1:-1] = traj[:, :-1].detach()

        relaxed = actions.detach()
        actions = _lifted.harden(model, relaxed)
        result_cost = _lifted.final_rollout_cost(model, prob, actions, "grasp")
        if self.return_best:  # a synced plan that rolled out better than the last one
            earlier = best_cost < result_cost
            actions = torch.where(earlier[:, None, None], _lifted.harden(model, best_a), actions)
            relaxed = torch.where(earlier[:, None, None], best_a, relaxed)
            result_cost = torch.where(earlier, best_cost, result_cost)
            best_at = torch.where(earlier, best_at, torch.full_like(best_at, self.iterations))
        else:
            best_at = torch.full_like(best_at, self.iterations)
        actions, result_cost = _lifted.sampled_rounding(
            model, prob, relaxed, gen, self.discrete_samples, actions, result_cost
        )
        info = {
            "cost_history": torch.stack(history) if history else torch.zeros(0, b),
            "sync_cost_history": torch.stack(sync_history) if sync_history else torch.zeros(0, b),
            "iterations": self.iterations,
            "virtual_states": path[:, 1:-1].detach().clone(),
            "defects": defects,
            "best_at": best_at,
        }
        return PlanResult(actions=actions, cost=result_cost, info=info)

    def _keep_best(
        self,
        model: WorldModel,
        prob: base.Problem,
        actions: Tensor,
        best_a: Tensor,
        best_cost: Tensor,
        best_at: Tensor,
        k: int,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Keep, per problem, the plan with the lowest noise-free rolled-out cost so far."""
        hard = _lifted.harden(model, actions.detach())
        best_a, best_cost, better = _lifted.keep_better(
            model, prob, hard, actions.detach(), best_a, best_cost
        )
        return best_a, best_cost, torch.where(better, torch.full_like(best_at, k), best_at)

    # -- full-rollout synchronisation (Eq. 13-15) ----------------------------------------------
    def _rollout(
        self, model: WorldModel, z0: Tensor, actions: Tensor, gen: torch.Generator
    ) -> Tensor:
        if self.rollout_noise <= 0:
            return contracts.rollout(model, z0, actions)
        z, out = z0, []
        for t in range(actions.shape[1]):  # s_{t+1} = F(s_t, a_t) + xi, Eq. (106)
            z = model.step(z, actions[:, t])
            z = z + self.rollout_noise * _lifted.randn(gen, tuple(z.shape), z)
            out.append(z)
        return torch.stack(out, dim=1)

    def _sync_cem(
        self,
        model: WorldModel,
        prob: base.Problem,
        actions: Tensor,
        states: Tensor,
        k: int,
        gen: torch.Generator,
    ) -> tuple[Tensor, Tensor, Tensor]:  # (actions, rollout, cost)
        """``sync_steps`` CEM iterations around the current actions: ``sync_samples`` sequences
        per problem, the ``sync_elites`` cheapest refit the mean and the per-step std. The
        first std of step ``t`` is ``max(sync_var_floor, sync_var_scale * gap_t / ||g - z0||)``
        action half-ranges, ``gap_t`` the distance between the virtual state ``s_{t+1}`` and the
        rollout's (the steps whose states disagree with the rollout are searched widely), at
        most one half-range. The current plan is always a candidate, so the rollout cost never
        rises. Returns actions, rollout, cost."""
        b, t_len, a_dim = actions.shape
        n = self.sync_samples
        z0, z_goal, low, high, cost = prob.z0, prob.z_goal, prob.low, prob.high, prob.cost
        half = (high - low) / 2
        with torch.no_grad():
            mean = actions.detach()
            traj = self._rollout(model, z0, mean, gen)
            c0 = base.call_cost(cost, traj, mean, z_goal)
            if not bool(torch.isfinite(c0).all()):
                step = _lifted.first_nonfinite_step(traj)
                raise PlanningError(
                    f"grasp: the sync rollout after iteration {k} is non-finite at rollout step "
                    f"{step}"
                )
            virtual = torch.cat([states, z_goal[:, None]], dim=1)  # s_1 .. s_T
            gap = (virtual - traj).norm(dim=-1)  # [B, T]
            scale = (z_goal - z0).norm(dim=-1).clamp_min(1e-12)[:, None]
            rel = (self.sync_var_scale * gap / scale).clamp(self.sync_var_floor, 1.0)
            std = rel[..., None] * half  # [B, T, A]
            best_a, best_cost, best_traj = mean, c0, traj
            for _ in range(self.n_sync_steps):
                eps = _lifted.randn(gen, (b, n, t_len, a_dim), mean)
                cand = _lifted.project(model, mean[:, None] + std[:, None] * eps, low, high)
                cand[:, 0] = mean  # the current plan competes
                flat = cand.reshape(b * n, t_len, a_dim)
                z_rep = z0.repeat_interleave(n, 0)
                g_rep = z_goal.repeat_interleave(n, 0)
                tr = self._rollout(model, z_rep, flat, gen)
                c = base.call_cost(cost, tr, flat, g_rep).reshape(b, n)
                c = torch.where(torch.isfinite(c), c, torch.full_like(c, math.inf))
                elite = c.topk(self.sync_elites, dim=1, largest=False).indices  # [B, E]
                idx = elite[..., None, None].expand(-1, -1, t_len, a_dim)
                elites = cand.gather(1, idx)
                mean = elites.mean(1)
                std = torch.maximum(elites.std(1, unbiased=False), self.sync_var_floor * half)
                top = c.gather(1, elite[:, :1]).squeeze(1)
                better = top < best_cost
                m = better[:, None, None]
                best_a = torch.where(m, elites[:, 0], best_a)
                best_cost = torch.where(better, top, best_cost)
                top_traj = tr.reshape(b, n, t_len, -1).gather(
                    1, elite[:, :1, None, None].expand(-1, 1, t_len, tr.shape[-1])
                )[:, 0]
                best_traj = torch.where(m, top_traj, best_traj)
        return best_a, best_traj, best_cost

    def _sync(
        self, model: WorldModel, prob: base.Problem, actions: Tensor, k: int, gen: torch.Generator
    ) -> tuple[Tensor, Tensor, Tensor]:  # (actions, rollout, cost)
        """``sync_steps`` steps on the actions through the full (noisy, if set) rollout by the
        step rule (``_lifted.refine``); never worse than the start. Returns actions, rollout,
        cost."""
        rule = {"sgd": "halve", "adam": "adam", "gn": "annealed"}[self.step_rule]
        return _lifted.refine(
            model, prob, actions, self.n_sync_steps, self.lr_sync,
            rule=rule, rollout=lambda z, a: self._rollout(model, z, self._noisy(a, gen), gen),
            planner=f"grasp (sync after iteration {k})",
        )  # fmt: skip
