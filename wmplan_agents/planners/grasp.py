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
    the actions (``lr_actions``, by ``step_rule``) and a gradient step on the states
    (``lr_states``), actions projected into the bounds; Gaussian noise ``state_noise`` on the
    states (Eq. 5, optionally decayed); every ``sync_every`` iterations, ``sync_steps`` steps on
    the actions alone through the full rollout (Eq. 13-15, objective ``cost``, default the
    final-state distance) and the virtual states are reset to that rollout (Algorithm 1, line
    7). The returned cost is the true rolled-out cost of the returned actions.

    Steps (``step_rule``). The default, ``"gn"``, makes every step independent of the scale of
    the model's Jacobians, so one setting serves models whose Jacobians differ by orders of
    magnitude:

    * the action step of Eq. (12) is divided by the diagonal of its Gauss-Newton curvature,
      ``2 (1 + gamma) diag(J_a^T J_a)``, computed exactly for every time step (one double-backward
      pass per action dimension, refreshed every 10 iterations) and clipped to the action
      half-range: ``lr_actions = 1`` is a diagonal Newton step on the one-step residuals;
    * the state step of Eq. (11) involves no Jacobian under the stop-gradient (its gradient is
      ``2 (s_{t+1} - F(sg(s_t), a_t))``), so ``lr_states = 0.25`` moves each state halfway to its
      one-step prediction whatever the model;
    * the sync takes Adam steps of size ``lr_sync`` times the action half-range, cosine-annealed
      to 0 within each sync, and keeps each problem's best point (Adam's per-element scaling
      also evens out the ``spectral-radius^t`` spread of the rollout gradient over time).

    ``"sgd"`` is the literal rule, ``a -= lr * grad`` in the lifted phase and in the sync (the
    sync undoing a step that raised a problem's cost and halving its step size); its stable step
    size depends on the model (``lr < 1 / ((1 + gamma) lambda_max(J_a^T J_a))``: about 0.014 on
    the shipped Push-T model) and is kept for the ablations. ``"adam"`` takes Adam directions
    times the half-range in the lifted phase and the sync (``lr_actions = 0.05, lr_sync = 0.02``
    suit it); at a fixed step size it cannot settle on an exact plan of an expansive system.

    ``gamma`` (the weight of the goal term, Eq. 10): ``None`` (default) is 0 with the default
    objective and 0.2 with a user ``cost``. Without a cost the goal is already a hard
    constraint (``s_T = g``), and the dense term pulls every intermediate prediction towards
    the goal, which biases the plan of an under-actuated system (measured on a 20-step double
    integrator: 3% of the starting distance left with 0.2, 0.4% with 0); with a user cost it is
    the only way the cost enters the lifted phase. Pass ``gamma=0.2`` for the paper's literal
    Eq. (10).

    Defaults, and where they come from:

    * ``sync_every=100``: paper, Table 2 caption ("GD sync happens every 100 stochastic steps").
    * ``sync_steps=25`` (with ``sync="gd"``): paper, Table 2 ("25 (ours)").
    * ``state_noise=0.5``: paper, Table 2 ("sigma = 0.5 (ours)"), on DINO-WM latents; the
      registry preset uses 0.01, cosine-annealed to 0 half-way.
    * ``stop_gradient=True``: paper, Sec. 3.3 and Table 2 ("Stop (ours)").
    * actions initialised at zero, states on the noised line from ``z0`` to the goal: paper,
      Sec. 4.1. ``init_noise`` (the std of that noise; the paper leaves epsilon unstated) = 0.1:
      ours.
    * ``iterations=300``, ``lr_actions=0.5``, ``lr_states=0.25``, ``lr_sync=0.1``,
      ``noise_decay="none"``: ours (the paper sweeps these per environment without listing
      them). They were chosen on exactly solvable problems (``wmplan_agents.problems``) and
      checked on others (docs/results.md).

    Where this differs from a literal reading of Algorithm 1 (each documented in docs/design.md):
    the sync fires after iterations ``sync_every, 2*sync_every, ...`` (the literal ``k mod
    K_sync = 0`` also fires at ``k = 0``, which would overwrite the line initialisation before it
    is used); a sync never returns a point worse than where it started; with
    ``return_best=True`` (default) the returned plan is, per problem, the one with the lowest
    noise-free rolled-out cost among the plans after each sync and the last one (the literal
    Algorithm 1 returns the last, ``return_best=False``). The paper scores a trial by whether and
    when its plan succeeds during optimisation (Table 1, Fig. 5), which this matches.

    ``sync="cem"`` replaces the gradient sync by a small CEM around the current actions
    (``_sync_cem``: ``sync_samples=64`` sequences, ``sync_elites=8``, ``sync_steps`` default 5
    with it, first per-step std from the gap between the virtual states and the rollout times
    ``sync_var_scale=1.0``, floor ``sync_var_floor=0.01`` half-ranges). These numbers are the
    public GRASP solver's CEM-sync configuration; how the gap becomes a std is ours (relative to
    the start-goal distance, in action half-ranges). It does not need the model's gradient
    through the rollout, but it is not a precise optimiser: it leaves 2% on the 20-step double
    integrator where the gradient sync leaves 0.4%.

    Ablation switches (Tables 2 and 5): ``sync_every=0`` or ``sync_steps=0`` (no sync),
    ``state_noise=0`` (no noise), ``stop_gradient=False`` (state gradients flow through the model),
    ``action_noise`` (std of Gaussian noise added to the actions fed to every model evaluation),
    ``rollout_noise`` (std of Gaussian noise added to each state of the sync rollouts, Eq. 106).

    ``info``: ``cost_history`` ``[iterations, B]`` (the Eq. 10 loss per problem),
    ``sync_cost_history`` (rollout cost after each sync), ``iterations``, ``time_s``,
    ``virtual_states`` ``[B, T-1, D]``, ``defects`` ``[B]`` (dynamics term at the end),
    ``best_at`` ``[B]`` (the iteration whose plan was returned).

    A non-finite one-step prediction raises ``PlanningError`` naming the iteration and time step.

    ``seed`` seeds the planner's own generator; ``reseed_every_plan=True`` restarts it at every
    ``plan`` call, making each plan a pure function of its inputs (see ``base.RandomStream``).
    A batched call equals ``B`` single calls up to floating-point rounding (a few float32 ulp,
    e.g. 5.96e-8, from the order torch sums batched products in; the tests allow 1e-5).
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
    sync_steps: int | None = None
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
    noise_device: ClassVar[str | None] = "cpu"  # noise drawn on the CPU: plans device-independent

    def check(self) -> None:
        if self.sync_steps is not None:
            base.check_int("sync_steps", self.sync_steps, 0)
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

        # states on the (noised) line; s_0 .. s_T in one tensor (s_0 = z0 and s_T = g fixed)
        actions, path = _lifted.initial_path(model, prob, gen, self.init_noise, from_actions=False)

        history: list[Tensor] = []
        sync_history: list[Tensor] = []
        defects = torch.zeros(b, dtype=z0.dtype, device=z0.device)
        best_a = actions.detach().clone()
        best_cost = torch.full((b,), math.inf, dtype=z0.dtype, device=z0.device)
        best_at = torch.full((b,), -1, dtype=torch.long, device=z0.device)
        adam = _lifted.AdamStep() if self.step_rule == "adam" else None
        denom: Tensor | None = None  # the Gauss-Newton scale, refreshed every 10 iterations
        half = (high - low) / 2
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
                if self.sync_states and t_len > 1:
                    path[:, 1:-1] = traj[:, :-1].detach()

        actions = _lifted.harden(model, actions.detach())
        result_cost = _lifted.final_rollout_cost(model, prob, actions, "grasp")
        if self.return_best:  # a synced plan that rolled out better than the last one
            earlier = best_cost < result_cost
            actions = torch.where(earlier[:, None, None], _lifted.harden(model, best_a), actions)
            result_cost = torch.where(earlier, best_cost, result_cost)
            best_at = torch.where(earlier, best_at, torch.full_like(best_at, self.iterations))
        else:
            best_at = torch.full_like(best_at, self.iterations)
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
