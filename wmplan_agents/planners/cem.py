"""The cross-entropy method (CEM) over open-loop action sequences."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from wmplan_agents.contracts import PlanResult, WorldModel
from wmplan_agents.planners import base


@dataclass(frozen=True, kw_only=True)
class CEM(base.PlannerConfig):
    """Cross-entropy method: sample, keep the ``n_elites`` cheapest, refit, repeat.

    Box actions: a diagonal Gaussian over the ``[H, A]`` sequence, initialised at ``init_actions``
    (or the centre of the box) with std ``init_std`` times the half-range; samples are clamped to
    the bounds; sample 0 of every iteration is the current mean. Discrete actions: independent
    categoricals per step and one-hot block, refit to the elites' category frequencies (sample 0
    is the mode). Returns the cheapest sequence evaluated over all iterations.

    Args:
        n_samples: sequences sampled per iteration (DINO-WM / GRASP's CEM baseline: 300).
        n_elites: the cheapest kept for the refit, at most ``n_samples`` (baseline: 30).
        iterations: sample-and-refit rounds (baseline: 30).
        init_std: the first std, in half-ranges of the action box.
        min_std: a floor on the refit std (0: none).
        momentum: weight of the old mean and std in each refit, in [0, 1).
        init_weight: weight of ``init_actions`` against uniform probabilities in the first
            categoricals of a discrete space, in [0, 1].
        seed, reseed_every_plan: the random stream (:class:`~.base.PlannerConfig`).

    NaN safety: a candidate whose cost is non-finite (e.g. the model produced NaN) gets cost
    ``+inf`` and is dropped from the elite refit; if every candidate of some problem is
    non-finite in an iteration, ``plan`` raises ``PlanningError`` naming the problem, the
    iteration and the first time step at which the model output went non-finite.

    ``info`` extras: ``"final_std"`` (``[B, H, A]``, Box) or ``"final_probs"`` (``[B, H, k, n]``).
    """

    n_samples: int = base.count(300)
    n_elites: int = base.count(30)
    iterations: int = base.count(30)
    init_std: float = base.positive(1.0)
    min_std: float = base.real(0.0, 0.0)
    momentum: float = base.fraction(0.0)
    init_weight: float = base.real(0.5, 0.0, 1.0)

    def check(self) -> None:
        base.check_elites(self.n_elites, self.n_samples)

    @torch.no_grad()
    def _plan(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator, carry: Tensor | None
    ) -> PlanResult:
        if prob.discrete:
            best, extras = self._plan_discrete(model, prob, gen)
        else:
            best, extras = self._plan_box(model, prob, gen)
        return PlanResult(best.actions, best.cost, base.make_info(best.history, **extras))

    def _plan_box(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator
    ) -> tuple[base.BestSoFar, dict]:
        mean = base.start_mean(prob)
        half_range = (prob.high - prob.low) / 2
        std = (self.init_std * half_range).expand_as(mean).clone()
        best = base.BestSoFar(prob, "CEM")
        n, h, a = self.n_samples, prob.horizon, prob.action_size
        for it in range(self.iterations):
            eps = torch.randn(n, h, a, generator=gen, device=mean.device, dtype=mean.dtype)
            eps[0] = 0.0  # sample 0 is the mean itself
            samples = base.clamp_((std[:, None] * eps).add_(mean[:, None]), prob)
            c, trajectory = base.evaluate(model, prob, samples)
            idx, w, elite_cost = base.elite_weights(c, self.n_elites)
            best.update(samples, c, trajectory, it, (elite_cost[:, 0], idx[:, 0]), finite=w is None)
            new_mean, new_std = base.weighted_fit(base.gather(samples, idx, best.rows), w)
            if self.momentum:
                mean = self.momentum * mean + (1 - self.momentum) * new_mean
                std = self.momentum * std + (1 - self.momentum) * new_std
            else:
                mean, std = new_mean, new_std
            if self.min_std > 0:
                std = std.clamp_min(self.min_std)
        return best, {"final_std": std}

    def _plan_discrete(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator
    ) -> tuple[base.BestSoFar, dict]:
        probs = base.initial_probs(prob, self.init_weight)
        best = base.BestSoFar(prob, "CEM")
        n, h, k = self.n_samples, prob.horizon, prob.n_blocks
        for it in range(self.iterations):
            u = torch.rand(n, h, k, generator=gen, device=probs.device, dtype=probs.dtype)
            samples = base.sample_categorical(probs, u)
            samples[:, 0] = base.mode_one_hot(probs)  # sample 0 is the mode
            c, trajectory = base.evaluate(model, prob, samples)
            idx, w, elite_cost = base.elite_weights(c, self.n_elites)
            best.update(samples, c, trajectory, it, (elite_cost[:, 0], idx[:, 0]), finite=w is None)
            freq, _ = base.weighted_fit(
                base.to_blocks(base.gather(samples, idx, best.rows), prob), w
            )
            probs = self.momentum * probs + (1 - self.momentum) * freq
        return best, {"final_probs": probs}
