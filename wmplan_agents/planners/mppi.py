"""Model predictive path integral control (MPPI), Williams et al. 2017, over open-loop sequences."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from wmplan_agents.contracts import CostFn, PlanResult
from wmplan_agents.planners.base import (
    BestSoFar,
    RandomStream,
    Seeded,
    check_counts,
    check_positive,
    check_problem,
    clamp_,
    correlated_noise,
    evaluate,
    initial_probs,
    make_info,
    midpoint,
    mode_one_hot,
    noise_mixing,
    sample_categorical,
    to_blocks,
)


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


class MPPI(Seeded):
    """MPPI: perturb the mean sequence, weight each sample by ``exp(-cost / temperature)``.

    Box actions: samples are ``mean + noise_std * half_range * eps`` with ``eps`` white Gaussian
    noise smoothed over time (AR(1) with correlation ``noise_smoothing``, unit marginal variance),
    clamped to the bounds; the new mean is the softmax(-(cost - min cost) / temperature)-weighted
    average of the samples (Williams et al. 2017, eq. 20, without the control-cost term: put one
    in ``cost`` if wanted). Sample 0 is the current mean. Discrete actions: categorical samples,
    the new probabilities are the weighted average of the sampled one-hots, mixed with
    ``discrete_floor`` of the uniform distribution so sampling never collapses. Defaults follow
    pytorch-mppi (temperature 1) with more iterations per plan, as world-model planning does.

    Returns the cheapest sequence evaluated over all iterations. All ``B`` problems share the
    same random draws, so a batched call equals ``B`` single calls.

    NaN safety: a sample with a non-finite cost gets weight 0 (cost ``+inf``); if every sample
    of some problem is non-finite, ``plan`` raises ``PlanningError`` naming the first time step
    at which the model output went non-finite.

    ``info`` extras: ``"effective_samples"`` (``[iterations, B]``, ``1 / sum w^2``).

    ``seed`` seeds the planner's own generator; ``reseed_every_plan=True`` restarts it at every
    ``plan`` call, making each plan a pure function of its inputs (see ``base.RandomStream``).
    """

    def __init__(
        self,
        *,
        n_samples: int = 300,
        iterations: int = 30,
        temperature: float = 1.0,
        noise_std: float = 0.2,
        noise_smoothing: float = 0.5,
        discrete_floor: float = 0.05,
        seed: int = 0,
        reseed_every_plan: bool = False,
    ) -> None:
        n_samples, iterations = check_counts(n_samples=n_samples, iterations=iterations)
        check_positive(temperature=temperature, noise_std=noise_std)
        if float(temperature) < float(np.finfo(np.float32).tiny):
            raise ValueError(
                f"temperature must be at least {np.finfo(np.float32).tiny:.3g} (float32's "
                f"smallest normal number) so that -cost / temperature stays finite, got "
                f"{temperature!r}"
            )
        if not 0.0 <= noise_smoothing < 1.0:
            raise ValueError(f"noise_smoothing must be in [0, 1), got {noise_smoothing}")
        if not 0.0 <= discrete_floor <= 1.0:
            raise ValueError(f"discrete_floor must be in [0, 1], got {discrete_floor}")
        self.n_samples = n_samples
        self.iterations = iterations
        self.temperature = temperature
        self.noise_std = noise_std
        self.noise_smoothing = noise_smoothing
        self.discrete_floor = discrete_floor
        self.seed = seed
        self.rng = RandomStream(seed, reseed_every_plan)

    def _weights(self, cost: Tensor) -> Tensor:
        """``softmax(-cost / temperature)`` over samples, ``[B, N]``; ``+inf`` -> 0 (softmax
        subtracts the largest logit itself, so huge costs do not overflow)."""
        return torch.softmax(cost * (-1.0 / self.temperature), dim=1)

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
        best = BestSoFar(prob, "MPPI")
        n, h, a = self.n_samples, prob.horizon, prob.action_size
        weights = []
        if prob.discrete:
            probs = initial_probs(prob, 0.5)
            uniform = torch.full_like(probs, 1.0 / prob.n_categories)
        else:
            mean = prob.init_actions.clone() if prob.init_actions is not None else midpoint(prob)
            scale = self.noise_std * (prob.high - prob.low) / 2
            mixing = noise_mixing(smoothing_matrix(h, self.noise_smoothing, dt, dev), scale)
        for it in range(self.iterations):
            if prob.discrete:
                u = torch.rand(n, h, prob.n_blocks, generator=gen, device=dev, dtype=dt)
                samples = sample_categorical(probs, u)
                samples[:, 0] = mode_one_hot(probs)
            else:
                eps = correlated_noise(n, mixing, a, gen)  # smoothed and scaled, [N, H, A]
                eps[0] = 0.0
                samples = clamp_(torch.add(mean[:, None], eps), prob)
            c, trajectory = evaluate(model, prob, samples)
            best.update(samples, c, trajectory, it)
            w = self._weights(c)
            weights.append(w)
            if prob.discrete:
                weighted = torch.einsum("bn,bnhkc->bhkc", w, to_blocks(samples, prob))
                probs = (1 - self.discrete_floor) * weighted + self.discrete_floor * uniform
            else:  # the weighted mean of the samples as one batched matrix product
                mean = torch.bmm(w[:, None], samples.flatten(2)).view_as(mean)
        ess = 1.0 / torch.stack(weights).square().sum(-1)  # [iterations, B]
        info = make_info(best.history, start, effective_samples=ess.cpu())
        return PlanResult(best.actions, best.cost, info)
