"""Model predictive path integral control (MPPI), Williams et al. 2017, over open-loop sequences."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from wmplan_agents.contracts import PlanResult, WorldModel
from wmplan_agents.planners import base


def smoothing_matrix(horizon: int, rho: float, dtype: torch.dtype, device: Any) -> Tensor:
    """``L [H, H]`` with ``eps = L w`` an AR(1) sequence of unit marginal variance.

    ``eps_0 = w_0``, ``eps_t = rho eps_{t-1} + sqrt(1 - rho^2) w_t``: noise correlated over time
    with correlation ``rho^|t-s|`` (``rho = 0`` is white noise).
    """
    t = torch.arange(horizon, device=device, dtype=dtype)
    lag = t[:, None] - t[None, :]
    mat = torch.where(lag >= 0, rho ** lag.clamp_min(0), torch.zeros_like(lag))
    mat[:, 1:] *= math.sqrt(1.0 - rho**2)
    return mat


@dataclass(frozen=True, kw_only=True)
class MPPI(base.PlannerConfig):
    """MPPI: perturb the mean sequence, weight each sample by ``exp(-cost / temperature)``.

    Box actions: samples are ``mean + noise_std * half_range * eps`` with ``eps`` white Gaussian
    noise smoothed over time (AR(1) with correlation ``noise_smoothing``, unit marginal variance),
    clamped to the bounds; the new mean is the softmax(-(cost - min cost) / temperature)-weighted
    average of the samples (Williams et al. 2017, eq. 20, without the control-cost term: put one
    in ``cost`` if wanted). Sample 0 is the current mean. Discrete actions: categorical samples,
    the new probabilities are the weighted average of the sampled one-hots, mixed with
    ``discrete_floor`` of the uniform distribution so sampling never collapses. Returns the
    cheapest sequence evaluated over all iterations.

    Args:
        n_samples: sequences sampled per iteration.
        iterations: rounds per plan (pytorch-mppi runs one per control step; world-model
            planning runs several).
        temperature: the softmax temperature, at least float32's smallest normal number
            (pytorch-mppi: 1).
        noise_std: the noise std, in half-ranges of the action box.
        noise_smoothing: the AR(1) correlation of the noise over time, in [0, 1).
        discrete_floor: the share of the uniform distribution mixed into the categoricals.
        seed, reseed_every_plan: the random stream (:class:`~.base.PlannerConfig`).

    NaN safety: a sample with a non-finite cost gets weight 0 (cost ``+inf``); if every sample
    of some problem is non-finite, ``plan`` raises ``PlanningError`` naming the first time step
    at which the model output went non-finite.

    ``info`` extras: ``"effective_samples"`` (``[iterations, B]``, ``1 / sum w^2``).
    """

    n_samples: int = base.count(300)
    iterations: int = base.count(30)
    temperature: float = base.positive(1.0)
    noise_std: float = base.positive(0.2)
    noise_smoothing: float = base.fraction(0.5)
    discrete_floor: float = base.real(0.05, 0.0, 1.0)

    def check(self) -> None:
        if self.temperature < float(np.finfo(np.float32).tiny):
            raise ValueError(
                f"temperature must be at least {np.finfo(np.float32).tiny:.3g} (float32's "
                f"smallest normal number) so that -cost / temperature stays finite, got "
                f"{self.temperature!r}"
            )

    def _weights(self, cost: Tensor) -> Tensor:
        """``softmax(-cost / temperature)`` over samples, ``[B, N]``; ``+inf`` -> 0 (softmax
        subtracts the largest logit itself, so huge costs do not overflow)."""
        return torch.softmax(cost * (-1.0 / self.temperature), dim=1)

    @torch.no_grad()
    def _plan(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator, carry: Tensor | None
    ) -> PlanResult:
        dev, dt = prob.z0.device, prob.z0.dtype
        best = base.BestSoFar(prob, "MPPI")
        n, h, a = self.n_samples, prob.horizon, prob.action_size
        weights = []
        if prob.discrete:
            probs = base.initial_probs(prob, 0.5)
            uniform = torch.full_like(probs, 1.0 / prob.n_categories)
        else:
            mean = base.start_mean(prob)
            scale = self.noise_std * (prob.high - prob.low) / 2
            mixing = base.noise_mixing(smoothing_matrix(h, self.noise_smoothing, dt, dev), scale)
        for it in range(self.iterations):
            if prob.discrete:
                u = torch.rand(n, h, prob.n_blocks, generator=gen, device=dev, dtype=dt)
                samples = base.sample_categorical(probs, u)
                samples[:, 0] = base.mode_one_hot(probs)
            else:
                eps = base.correlated_noise(n, mixing, a, gen)  # smoothed and scaled, [N, H, A]
                eps[0] = 0.0
                samples = base.clamp_(torch.add(mean[:, None], eps), prob)
            c, trajectory = base.evaluate(model, prob, samples)
            best.update(samples, c, trajectory, it)
            w = self._weights(c)
            weights.append(w)
            if prob.discrete:
                weighted = torch.einsum("bn,bnhkc->bhkc", w, base.to_blocks(samples, prob))
                probs = (1 - self.discrete_floor) * weighted + self.discrete_floor * uniform
            else:  # the weighted mean of the samples as one batched matrix product
                mean = torch.bmm(w[:, None], samples.flatten(2)).view_as(mean)
        ess = 1.0 / torch.stack(weights).square().sum(-1)  # [iterations, B]
        info = base.make_info(best.history, effective_samples=ess.cpu())
        return PlanResult(best.actions, best.cost, info)
