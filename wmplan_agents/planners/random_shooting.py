"""Random shooting: evaluate uniformly random action sequences and keep the best."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from wmplan_agents.contracts import PlanResult, WorldModel
from wmplan_agents.planners import base


@dataclass(frozen=True, kw_only=True)
class RandomShooting(base.PlannerConfig):
    """Uniform random shooting: ``iterations`` batches of ``n_samples`` sequences, best one wins.

    Box actions are drawn uniformly inside the bounds; discrete actions are uniform categories
    per one-hot block. With ``init_actions`` the first candidate of the first batch is the warm
    start (for a discrete space, its most likely category per step), so the plan is never worse
    than it and is always made of hard one-hots.

    Args:
        n_samples: sequences per batch.
        iterations: batches.
        seed, reseed_every_plan: the random stream (:class:`~.base.PlannerConfig`).

    NaN safety: candidates whose cost is non-finite get cost ``+inf`` and are never chosen; if
    every candidate of some problem in a batch is non-finite, ``plan`` raises ``PlanningError``
    naming the first time step at which the model output went non-finite.
    """

    n_samples: int = base.count(1000)
    iterations: int = base.count(1)

    @torch.no_grad()
    def _plan(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator, carry: Tensor | None
    ) -> PlanResult:
        dev, dt = prob.z0.device, prob.z0.dtype
        best = base.BestSoFar(prob, "RandomShooting")
        n, h, a = self.n_samples, prob.horizon, prob.action_size
        low, high = prob.sequence_bounds
        width = high - low
        for it in range(self.iterations):
            if prob.discrete:
                probs = torch.full(
                    (1, h, prob.n_blocks, prob.n_categories), 1.0 / prob.n_categories, device=dev
                )
                u = torch.rand(n, h, prob.n_blocks, generator=gen, device=dev, dtype=dt)
                samples = base.sample_categorical(probs.to(dt), u).expand(prob.batch, -1, -1, -1)
            else:
                u = torch.rand(n, h, a, generator=gen, device=dev, dtype=dt)
                samples = torch.addcmul(low, u, width).expand(prob.batch, -1, -1, -1)
            if it == 0 and prob.init_actions is not None:
                init = prob.init_actions
                if prob.discrete:  # a relaxed warm start enters as its hard one-hot
                    blocks = init.reshape(prob.batch, h, prob.n_blocks, prob.n_categories)
                    init = base.mode_one_hot(blocks)
                samples = samples.clone()
                samples[:, 0] = init
            c, trajectory = base.evaluate(model, prob, samples)
            best.update(samples, c, trajectory, it)
        return PlanResult(best.actions, best.cost, base.make_info(best.history))
