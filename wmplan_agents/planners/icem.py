"""Improved CEM (iCEM), Pinneri et al. 2020: coloured noise, elite keeping, shrinking population."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from wmplan_agents.contracts import PlanResult, WorldModel
from wmplan_agents.planners import base


@dataclass(frozen=True, kw_only=True)
class ICEM(base.PlannerConfig):
    """iCEM: CEM with coloured noise, elite keeping across iterations and MPC steps, and a
    population that shrinks by ``population_decay`` each iteration (floor ``2 * n_elites``).

    Box actions: Gaussian with time-correlated noise of PSD ``~ 1/f^noise_beta``; the mean and
    std are refit to the elites with momentum ``momentum``; a fraction ``keep_elites`` of the
    elites is added to the next iteration's population. Sample 0 of every iteration is the
    mean (the paper adds it in the last iteration only). Discrete actions: categorical sampling
    and refit as in CEM, with the same elite keeping and shrinking. Returns the best sequence
    evaluated.

    Across MPC steps the kept elites travel in ``PlanResult.carry`` (``[B, 1 + k, H, A]``: the
    returned plan, then the ``k`` kept elites) and come back as ``plan(..., carry=...)``, which
    :class:`~wmplan_agents.MPCAgent` does per env. When ``init_actions`` is that plan shifted by
    ``s`` steps (the unexecuted tail, as the agent passes it), the kept elites are shifted by the
    same ``s`` (their last ``s`` steps taken from ``init_actions``) and join the first
    population; a problem without a matching shift (or with a NaN row: no carry) starts from the
    warm start alone.

    Args:
        n_samples: the first population (Pinneri et al. 2020: 300).
        n_elites: the elites refit to, at most ``n_samples`` (paper: 10).
        iterations: rounds (paper: 3).
        noise_beta: the noise colour, ``>= 0`` (0: white; paper: 2).
        keep_elites: fraction of the elites kept for the next iteration and call, in [0, 1]
            (paper: 0.3).
        population_decay: ``gamma >= 1``; iteration ``i`` samples ``max(N gamma^-i, 2K)``
            (paper: 1.25).
        momentum: weight of the old mean and std in each refit, in [0, 1) (paper: 0.1).
        init_std: the first std, in half-ranges of the action box (paper: 0.5).
        init_weight: weight of ``init_actions`` in the first categoricals of a discrete space.
        seed, reseed_every_plan: the random stream (:class:`~.base.PlannerConfig`).

    NaN safety: non-finite costs become ``+inf`` and are dropped from the refit and the kept
    elites; if every candidate of a problem is non-finite, ``PlanningError`` names the step.

    ``info`` extras: ``"population"`` (candidates evaluated per iteration), ``"shift"`` (``[B]``
    steps by which kept elites were shifted from the previous call, -1 when not reused).
    """

    n_samples: int = base.count(300)
    n_elites: int = base.count(10)
    iterations: int = base.count(3)
    noise_beta: float = base.real(2.0, 0.0)
    keep_elites: float = base.real(0.3, 0.0, 1.0)
    population_decay: float = base.real(1.25, 1.0)
    momentum: float = base.fraction(0.1)
    init_std: float = base.positive(0.5)
    init_weight: float = base.real(0.5, 0.0, 1.0)

    def check(self) -> None:
        base.check_elites(self.n_elites, self.n_samples)

    def population(self, iteration: int) -> int:
        """``N_i = max(N * gamma^-i, 2K)`` (capped at ``N``)."""
        size = int(self.n_samples * self.population_decay ** (-iteration))
        return min(self.n_samples, max(size, 2 * self.n_elites))

    @staticmethod
    def _shifted_elites(prob: base.Problem, carry: Tensor | None) -> tuple[Tensor | None, Tensor]:
        """The kept elites of ``carry`` shifted onto this call's horizon, per problem."""
        b, h = prob.batch, prob.horizon
        shifts = torch.full((b,), -1, dtype=torch.long)
        init = prob.init_actions
        if init is None or carry is None or tuple(carry.shape[::2]) != (b, h):
            return None, shifts
        prev, kept = carry[:, 0], carry[:, 1:]
        if kept.shape[1] == 0 or prev.shape != init.shape:
            return None, shifts
        # the smallest s with prev[s:] == init[:h - s], for every problem at once
        for s in range(h - 1, 0, -1):
            match = (prev[:, s:] == init[:, : h - s]).flatten(1).all(1).cpu()
            shifts[match] = s
        out = init[:, None].expand_as(kept).clone()  # no matching shift: the warm start itself
        for s in shifts.unique().tolist():
            if s > 0:
                rows = shifts == s
                out[rows, :, : h - s] = kept[rows, :, s:]
                out[rows, :, h - s :] = init[rows, None, h - s :]
        return out, shifts

    @torch.no_grad()
    def _plan(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator, carry: Tensor | None
    ) -> PlanResult:
        dev, dt = prob.z0.device, prob.z0.dtype
        kept, shifts = self._shifted_elites(prob, carry)
        n_keep = max(1, round(self.keep_elites * self.n_elites)) if self.keep_elites > 0 else 0
        h, a, m = prob.horizon, prob.action_size, self.momentum
        pops = [self.population(i) for i in range(self.iterations)]
        if prob.discrete:
            probs = base.initial_probs(prob, self.init_weight)
        else:
            mean = base.start_mean(prob)
            std = (self.init_std * (prob.high - prob.low) / 2).expand_as(mean).clone()
            # every iteration's noise in one draw and one matrix product, split per iteration
            noise = base.colored_noise(sum(pops), h, a, self.noise_beta, gen, dt).split(pops)
        best = base.BestSoFar(prob, "iCEM")
        sizes = []
        for it, n in enumerate(pops):
            if prob.discrete:
                u = torch.rand(n, h, prob.n_blocks, generator=gen, device=dev, dtype=dt)
                samples = base.sample_categorical(probs, u)
                samples[:, 0] = base.mode_one_hot(probs)
            else:
                eps = noise[it]
                eps[0] = 0.0
                samples = base.clamp_(torch.addcmul(mean[:, None], std[:, None], eps), prob)
            if kept is not None and n_keep > 0:
                samples = torch.cat([samples, kept], dim=1)
            sizes.append(samples.shape[1])
            c, trajectory = base.evaluate(model, prob, samples)
            idx, w, elite_cost = base.elite_weights(c, min(self.n_elites, samples.shape[1]))
            best.update(samples, c, trajectory, it, (elite_cost[:, 0], idx[:, 0]), finite=w is None)
            elites = base.gather(samples, idx, best.rows)
            finite_keep = n_keep > 0 and (w is None or bool(w[:, :n_keep].all()))
            kept = elites[:, :n_keep] if finite_keep else None
            if prob.discrete:
                freq, _ = base.weighted_fit(base.to_blocks(elites, prob), w)
                probs = torch.lerp(freq, probs, m)  # m * probs + (1 - m) * freq
            else:
                if w is None:
                    new_var, new_mean = torch.var_mean(elites, dim=1, correction=0)
                    new_std = new_var.sqrt_()
                else:
                    new_mean, new_std = base.weighted_fit(elites, w)
                mean = torch.lerp(new_mean, mean, m)
                std = torch.lerp(new_std, std, m)
        info = base.make_info(best.history, population=sizes, shift=shifts)
        carry_out = None if kept is None else torch.cat([best.actions[:, None], kept], dim=1)
        return PlanResult(best.actions, best.cost, info, carry=carry_out)
