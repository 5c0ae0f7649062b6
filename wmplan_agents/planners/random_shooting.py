"""Random shooting: evaluate uniformly random action sequences and keep the best."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from wmplan_agents.contracts import CostFn, PlanResult
from wmplan_agents.planners.base import (
    BestSoFar,
    RandomStream,
    Seeded,
    check_counts,
    check_problem,
    evaluate,
    make_info,
    mode_one_hot,
    sample_categorical,
)


class RandomShooting(Seeded):
    """Uniform random shooting: ``iterations`` batches of ``n_samples`` sequences, best one wins.

    Box actions are drawn uniformly inside the bounds; discrete actions are uniform categories
    per one-hot block. With ``init_actions`` the first candidate of the first batch is the warm
    start (for a discrete space, its most likely category per step), so the plan is never worse
    than it and is always made of hard one-hots. All ``B`` problems share the same draws, so a
    batched call equals ``B`` single calls.

    NaN safety: candidates whose cost is non-finite get cost ``+inf`` and are never chosen; if
    every candidate of some problem in a batch is non-finite, ``plan`` raises ``PlanningError``
    naming the first time step at which the model output went non-finite.

    ``seed`` seeds the planner's own generator; ``reseed_every_plan=True`` restarts it at every
    ``plan`` call, making each plan a pure function of its inputs (see ``base.RandomStream``).
    """

    def __init__(
        self,
        *,
        n_samples: int = 1000,
        iterations: int = 1,
        seed: int = 0,
        reseed_every_plan: bool = False,
    ) -> None:
        n_samples, iterations = check_counts(n_samples=n_samples, iterations=iterations)
        self.n_samples = n_samples
        self.iterations = iterations
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
        dev, dt = prob.z0.device, prob.z0.dtype
        gen = self.rng.for_plan(dev)
        best = BestSoFar(prob, "RandomShooting")
        n, h, a = self.n_samples, prob.horizon, prob.action_size
        low, high = prob.sequence_bounds
        width = high - low
        for it in range(self.iterations):
            if prob.discrete:
                probs = torch.full(
                    (1, h, prob.n_blocks, prob.n_categories), 1.0 / prob.n_categories, device=dev
                )
                u = torch.rand(n, h, prob.n_blocks, generator=gen, device=dev, dtype=dt)
                samples = sample_categorical(probs.to(dt), u).expand(prob.batch, -1, -1, -1)
            else:
                u = torch.rand(n, h, a, generator=gen, device=dev, dtype=dt)
                samples = torch.addcmul(low, u, width).expand(prob.batch, -1, -1, -1)
            if it == 0 and prob.init_actions is not None:
                init = prob.init_actions
                if prob.discrete:  # a relaxed warm start enters as its hard one-hot
                    blocks = init.reshape(prob.batch, h, prob.n_blocks, prob.n_categories)
                    init = mode_one_hot(blocks)
                samples = samples.clone()
                samples[:, 0] = init
            c, trajectory = evaluate(model, prob, samples)
            best.update(samples, c, trajectory, it)
        return PlanResult(best.actions, best.cost, make_info(best.history, start))
