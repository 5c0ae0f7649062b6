"""Improved CEM (iCEM), Pinneri et al. 2020: coloured noise, elite keeping, shrinking population."""

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
    check_real,
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
from wmplan_agents.planners.cem import elite_weights, gather, weighted_fit


def colored_noise_matrix(horizon: int, beta: float, dtype: torch.dtype, device: Any) -> Tensor:
    """The linear map ``C [H, R]`` that turns ``R`` white Gaussians into one sequence of ``H``
    Gaussians with power spectral density ``~ 1/f^beta`` along time and unit variance.

    In the frequency domain, white complex Gaussians are scaled by ``f^(-beta/2)`` (the lowest
    frequency ``1/H`` stands in for ``f = 0``) and transformed back with ``irfft``; the imaginary
    parts of the DC term (and of the Nyquist term for even ``H``) are dropped, as a real signal
    needs, leaving ``R = H`` real coefficients. Since ``irfft`` is linear, its action on each
    coefficient is one column of ``C``, so sampling is one matrix product. ``beta = 0`` is
    white noise. Computed once per plan.
    """
    nf = horizon // 2 + 1
    freqs = torch.fft.rfftfreq(horizon, dtype=torch.float64)
    freqs[0] = 1.0 / horizon
    scale = freqs ** (-beta / 2)
    # Var x_t = (s_0^2 + 4 sum_k s_k^2 + s_nyq^2) / H^2 (Re and Im each of variance s_k^2)
    weight = torch.full_like(scale, 4.0)
    weight[0] = 1.0
    if horizon % 2 == 0:
        weight[-1] = 1.0
    scale = scale / ((weight * scale**2).sum() / horizon**2).sqrt()
    basis = torch.eye(2 * nf, dtype=torch.float64).view(2 * nf, nf, 2) * scale[None, :, None]
    cols = torch.fft.irfft(torch.view_as_complex(basis), n=horizon, dim=-1)  # [2F, H]
    keep = torch.ones(2 * nf, dtype=torch.bool)
    keep[1] = False  # Im of the DC term
    if horizon % 2 == 0:
        keep[-1] = False  # Im of the Nyquist term
    return cols[keep].T.contiguous().to(device=device, dtype=dtype)


class ICEM(Seeded):
    """iCEM: CEM with coloured noise, elite keeping across iterations and MPC steps, and a
    population that shrinks by ``population_decay`` each iteration (floor ``2 * n_elites``).

    Box actions: Gaussian with time-correlated noise of PSD ``~ 1/f^noise_beta``; the mean and
    std are refit to the elites with momentum ``momentum``; a fraction ``keep_elites`` of the
    elites is added to the next iteration's population. Across MPC steps: when ``init_actions``
    is exactly the previous plan shifted by ``s`` steps (the unexecuted tail, as MPCAgent passes
    it), the kept elites of the previous call are shifted by the same ``s`` (their last ``s``
    steps taken from ``init_actions``) and join the first population. Sample 0 of every
    iteration is the mean (the paper adds it in the last iteration only). Discrete actions:
    categorical sampling and refit as in CEM, with the same elite keeping and shrinking.
    Defaults from Pinneri et al. 2020 (N=300, K=10, 3 iterations, gamma 1.25, beta 2, keep 30%,
    momentum 0.1, initial std 0.5 of the half-range).

    Returns the best sequence evaluated. All ``B`` problems share the same random draws.

    NaN safety: non-finite costs become ``+inf`` and are dropped from the refit and the kept
    elites; if every candidate of a problem is non-finite, ``PlanningError`` names the step.

    ``info`` extras: ``"population"`` (candidates evaluated per iteration), ``"shift"`` (``[B]``
    steps by which kept elites were shifted from the previous call, -1 when not reused).

    ``seed`` seeds the planner's own generator; ``reseed_every_plan=True`` restarts it at every
    ``plan`` call, making each plan a pure function of its inputs (see ``base.RandomStream``).
    """

    def __init__(
        self,
        *,
        n_samples: int = 300,
        n_elites: int = 10,
        iterations: int = 3,
        noise_beta: float = 2.0,
        keep_elites: float = 0.3,
        population_decay: float = 1.25,
        momentum: float = 0.1,
        init_std: float = 0.5,
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
        if population_decay < 1.0:
            raise ValueError(f"population_decay must be >= 1, got {population_decay}")
        if not 0.0 <= keep_elites <= 1.0 or not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"keep_elites must be in [0, 1] and momentum in [0, 1), got {keep_elites}, "
                f"{momentum}"
            )
        if check_real("noise_beta", noise_beta) < 0:
            raise ValueError(f"noise_beta must be >= 0, got {noise_beta}")
        if check_real("population_decay", population_decay) < 1.0:
            raise ValueError(f"population_decay must be >= 1, got {population_decay}")
        self.n_samples = n_samples
        self.n_elites = n_elites
        self.iterations = iterations
        self.noise_beta = noise_beta
        self.keep_elites = keep_elites
        self.population_decay = population_decay
        self.momentum = momentum
        self.init_std = init_std
        self.init_weight = init_weight
        self.seed = seed
        self.rng = RandomStream(seed, reseed_every_plan)
        self._prev_plan: Tensor | None = None  # [B, H, A] returned by the previous call
        self._prev_kept: Tensor | None = None  # [B, k, H, A] kept elites of the previous call

    def reset(self, seed: int | None = None) -> None:
        """Forget the elites kept from the previous call and restart the random stream (from
        ``seed`` mixed into the planner's own seed when given)."""
        super().reset(seed)
        self._prev_plan = self._prev_kept = None

    def population(self, iteration: int) -> int:
        """``N_i = max(N * gamma^-i, 2K)`` (capped at ``N``)."""
        size = int(self.n_samples * self.population_decay ** (-iteration))
        return min(self.n_samples, max(size, 2 * self.n_elites))

    def _shifted_elites(self, prob: Problem) -> tuple[Tensor | None, Tensor]:
        """Kept elites of the previous call shifted onto this call's horizon, per problem."""
        b, h = prob.batch, prob.horizon
        shifts = torch.full((b,), -1, dtype=torch.long)
        prev, kept, init = self._prev_plan, self._prev_kept, prob.init_actions
        if init is None or prev is None or kept is None or prev.shape != init.shape:
            return None, shifts
        out = kept.clone()
        for i in range(b):
            for s in range(1, h):
                if torch.equal(prev[i, s:], init[i, : h - s]):
                    out[i, :, : h - s] = kept[i, :, s:]
                    out[i, :, h - s :] = init[i, h - s :]
                    shifts[i] = s
                    break
        # problems without a matching shift reuse the warm start itself instead of stale elites
        out[shifts < 0] = init[shifts < 0][:, None]
        return out, shifts

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
        kept, shifts = self._shifted_elites(prob)
        n_keep = max(1, round(self.keep_elites * self.n_elites)) if self.keep_elites > 0 else 0
        h, a, m = prob.horizon, prob.action_size, self.momentum
        pops = [self.population(i) for i in range(self.iterations)]
        if prob.discrete:
            probs = initial_probs(prob, self.init_weight)
        else:
            mean = prob.init_actions.clone() if prob.init_actions is not None else midpoint(prob)
            std = (self.init_std * (prob.high - prob.low) / 2).expand_as(mean).clone()
            coloring = colored_noise_matrix(h, self.noise_beta, dt, dev)
            mixing = noise_mixing(coloring, torch.ones(a, dtype=dt, device=dev))
            # every iteration's noise in one draw and one matrix product, split per iteration
            noise = correlated_noise(sum(pops), mixing, a, gen).split(pops)
        best = BestSoFar(prob, "iCEM")
        sizes = []
        for it, n in enumerate(pops):
            if prob.discrete:
                u = torch.rand(n, h, prob.n_blocks, generator=gen, device=dev, dtype=dt)
                samples = sample_categorical(probs, u)
                samples[:, 0] = mode_one_hot(probs)
            else:
                eps = noise[it]
                eps[0] = 0.0
                samples = clamp_(torch.addcmul(mean[:, None], std[:, None], eps), prob)
            if kept is not None and n_keep > 0:
                samples = torch.cat([samples, kept], dim=1)
            sizes.append(samples.shape[1])
            c, trajectory = evaluate(model, prob, samples)
            idx, w, elite_cost = elite_weights(c, min(self.n_elites, samples.shape[1]))
            best.update(samples, c, trajectory, it, (elite_cost[:, 0], idx[:, 0]), finite=w is None)
            elites = gather(samples, idx, best.rows)
            finite_keep = n_keep > 0 and (w is None or bool(w[:, :n_keep].all()))
            kept = elites[:, :n_keep] if finite_keep else None
            if prob.discrete:
                freq, _ = weighted_fit(to_blocks(elites, prob), w)
                probs = torch.lerp(freq, probs, m)  # m * probs + (1 - m) * freq
            else:
                if w is None:
                    new_var, new_mean = torch.var_mean(elites, dim=1, correction=0)
                    new_std = new_var.sqrt_()
                else:
                    new_mean, new_std = weighted_fit(elites, w)
                mean = torch.lerp(new_mean, mean, m)
                std = torch.lerp(new_std, std, m)
        self._prev_plan = best.actions.clone()
        self._prev_kept = kept
        info = make_info(best.history, start, population=sizes, shift=shifts)
        return PlanResult(best.actions, best.cost, info)
