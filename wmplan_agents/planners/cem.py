"""The cross-entropy method (CEM) over open-loop action sequences."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from wmplan_agents.contracts import CostFn, PlanResult
from wmplan_agents.planners.base import (
    BestSoFar,
    Problem,
    RandomStream,
    Seeded,
    check_counts,
    check_positive,
    check_problem,
    clamp_,
    evaluate,
    initial_probs,
    make_info,
    midpoint,
    mode_one_hot,
    sample_categorical,
    to_blocks,
)


def elite_weights(cost: Tensor, n_elites: int) -> tuple[Tensor, Tensor | None, Tensor]:
    """The ``K`` cheapest candidates of ``cost [B, N]``: their indices ``[B, K]`` and costs
    ``[B, K]`` (both sorted, cheapest first), and 0/1 weights ``[B, K]`` that drop the non-finite
    elites, or ``None`` when every elite is finite (the common case). Returns
    ``(idx, weights, elite_cost)``."""
    elite_cost, idx = cost.topk(n_elites, dim=1, largest=False)  # sorted: the last is the worst
    if float(elite_cost[:, -1].max()) != float("inf"):  # costs are finite or +inf here
        return idx, None, elite_cost
    return idx, elite_cost.isfinite().to(cost.dtype), elite_cost


def gather(x: Tensor, idx: Tensor, rows: Tensor | None = None) -> Tensor:
    """``x [B, N, ...]`` rows ``idx [B, K]`` -> ``[B, K, ...]`` (``rows``: ``arange(B)``, if the
    caller has it)."""
    rows = torch.arange(x.shape[0], device=x.device) if rows is None else rows
    return x[rows[:, None], idx]


def weighted_fit(elites: Tensor, w: Tensor | None) -> tuple[Tensor, Tensor]:
    """Mean and std over dim 1 of ``elites [B, K, ...]`` with 0/1 weights ``w [B, K]``
    (``None``: all weights 1)."""
    if w is None:
        k = elites.shape[1]
        mean = elites.sum(1) / k
        return mean, ((elites - mean[:, None]) ** 2).sum(1).div_(k).sqrt_()
    w = w.reshape(*w.shape, *([1] * (elites.ndim - 2)))
    total = w.sum(1).clamp_min(1.0)
    mean = (w * elites).sum(1) / total
    var = (w * (elites - mean[:, None]) ** 2).sum(1) / total
    return mean, var.sqrt()


class CEM(Seeded):
    """Cross-entropy method: sample, keep the ``n_elites`` cheapest, refit, repeat.

    Box actions: a diagonal Gaussian over the ``[H, A]`` sequence, initialised at ``init_actions``
    (or the centre of the box) with std ``init_std`` times the half-range; samples are clamped to
    the bounds; sample 0 of every iteration is the current mean. Discrete actions: independent
    categoricals per step and one-hot block, refit to the elites' category frequencies (sample 0
    is the mode). Defaults follow the CEM baseline of DINO-WM / GRASP (300 samples, 30 elites,
    30 iterations).

    Returns the cheapest sequence evaluated over all iterations (the mean is among them, as
    sample 0). All ``B`` problems share the same random draws, so a batched call equals ``B``
    single calls.

    NaN safety: a candidate whose cost is non-finite (e.g. the model produced NaN) gets cost
    ``+inf`` and is dropped from the elite refit; if every candidate of some problem is
    non-finite in an iteration, ``plan`` raises ``PlanningError`` naming the problem, the
    iteration and the first time step at which the model output went non-finite.

    ``info`` extras: ``"final_std"`` (``[B, H, A]``, Box) or ``"final_probs"`` (``[B, H, k, n]``).

    ``seed`` seeds the planner's own generator; ``reseed_every_plan=True`` restarts it at every
    ``plan`` call, making each plan a pure function of its inputs (see ``base.RandomStream``).
    """

    def __init__(
        self,
        *,
        n_samples: int = 300,
        n_elites: int = 30,
        iterations: int = 30,
        init_std: float = 1.0,
        min_std: float = 0.0,
        momentum: float = 0.0,
        init_weight: float = 0.5,
        seed: int = 0,
        reseed_every_plan: bool = False,
    ) -> None:
        n_samples, n_elites, iterations = check_counts(
            n_samples=n_samples, n_elites=n_elites, iterations=iterations
        )
        check_positive(init_std=init_std)
        if n_elites > n_samples:
            raise ValueError(f"n_elites ({n_elites}) must be <= n_samples ({n_samples})")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not 0.0 <= init_weight <= 1.0:
            raise ValueError(f"init_weight must be in [0, 1], got {init_weight}")
        self.n_samples = n_samples
        self.n_elites = n_elites
        self.iterations = iterations
        self.init_std = init_std
        self.min_std = min_std
        self.momentum = momentum
        self.init_weight = init_weight
        self.seed = seed
        self.rng = RandomStream(seed, reseed_every_plan)

    @torch.no_grad()
    def plan(
        self,
        model: Any,
        z0: Tensor,
        z_goal: Tensor,
        horizon: int,
        init_actions: Tensor | None = None,
        cost: CostFn | None = None,
    ) -> PlanResult:
        """Plan ``horizon`` actions for each of the ``B`` problems; see the class docstring."""
        start = time.perf_counter()
        prob = check_problem(model, z0, z_goal, horizon, init_actions, cost)
        gen = self.rng.for_plan(prob.z0.device)
        if prob.discrete:
            best, extras = self._plan_discrete(model, prob, gen)
        else:
            best, extras = self._plan_box(model, prob, gen)
        return PlanResult(best.actions, best.cost, make_info(best.history, start, **extras))

    def _plan_box(self, model: Any, prob: Problem, gen: torch.Generator) -> tuple[BestSoFar, dict]:
        mean = prob.init_actions.clone() if prob.init_actions is not None else midpoint(prob)
        half_range = (prob.high - prob.low) / 2
        std = (self.init_std * half_range).expand_as(mean).clone()
        best = BestSoFar(prob, "CEM")
        n, h, a = self.n_samples, prob.horizon, prob.action_size
        for it in range(self.iterations):
            eps = torch.randn(n, h, a, generator=gen, device=mean.device, dtype=mean.dtype)
            eps[0] = 0.0  # sample 0 is the mean itself
            samples = clamp_((std[:, None] * eps).add_(mean[:, None]), prob)
            c, trajectory = evaluate(model, prob, samples)
            idx, w, elite_cost = elite_weights(c, self.n_elites)
            best.update(samples, c, trajectory, it, (elite_cost[:, 0], idx[:, 0]), finite=w is None)
            new_mean, new_std = weighted_fit(gather(samples, idx, best.rows), w)
            if self.momentum:
                mean = self.momentum * mean + (1 - self.momentum) * new_mean
                std = self.momentum * std + (1 - self.momentum) * new_std
            else:
                mean, std = new_mean, new_std
            if self.min_std > 0:
                std = std.clamp_min(self.min_std)
        return best, {"final_std": std}

    def _plan_discrete(
        self, model: Any, prob: Problem, gen: torch.Generator
    ) -> tuple[BestSoFar, dict]:
        probs = initial_probs(prob, self.init_weight)
        best = BestSoFar(prob, "CEM")
        n, h, k = self.n_samples, prob.horizon, prob.n_blocks
        for it in range(self.iterations):
            u = torch.rand(n, h, k, generator=gen, device=probs.device, dtype=probs.dtype)
            samples = sample_categorical(probs, u)
            samples[:, 0] = mode_one_hot(probs)  # sample 0 is the mode
            c, trajectory = evaluate(model, prob, samples)
            idx, w, elite_cost = elite_weights(c, self.n_elites)
            best.update(samples, c, trajectory, it, (elite_cost[:, 0], idx[:, 0]), finite=w is None)
            freq, _ = weighted_fit(to_blocks(gather(samples, idx, best.rows), prob), w)
            probs = self.momentum * probs + (1 - self.momentum) * freq
        return best, {"final_probs": probs}
