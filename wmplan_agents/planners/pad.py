"""The PaD planner: refine candidate futures on a PaD model's energy, keep the lowest."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from wmplan_agents import contracts
from wmplan_agents.contracts import CostFn, PlanResult, WorldModel
from wmplan_agents.planners import base


@dataclass(frozen=True, kw_only=True)
class PaD(base.PlannerConfig):
    """Planning as Descent's inference, with a :class:`~wmplan_agents.models.pad.PaDModel`.

    For each problem, ``n_candidates`` futures start as Gaussian noise ``[K, D]`` under temporal
    targets ``lambda`` spread evenly over ``1..model.max_lambda`` (env steps to the goal), are
    refined by the model's own ``T`` steps (:meth:`~wmplan_agents.models.pad.PaDModel.refine`,
    the same code as in training), and the candidate of lowest final energy wins; its actions
    come from the model's inverse dynamics along the plan.

    Args:
        n_candidates: futures refined per problem (paper: 768).
        seed, reseed_every_plan: the random stream (the starting noise; see
            :class:`~.base.PlannerConfig`).

    ``plan(model, z0, z_goal, horizon)`` returns the first ``horizon`` (at most ``model.future``)
    actions; ``init_actions`` and ``carry`` are ignored (every plan starts from noise, as in the
    paper) and a ``cost`` is an error (the energy is the objective). ``result.cost`` is the
    winner's energy; ``info``: ``"lambda"`` ``[B]`` (the winner's temporal target),
    ``"energies"`` ``[B, C]``, ``"plan"`` ``[B, K, D]`` (the winner's refined future latents),
    ``"time_s"``, ``"iterations"`` (the refinement steps).
    """

    n_candidates: int = base.count(64)

    def check(self) -> None:
        if self.init_samples:
            raise ValueError(
                f"the pad planner starts every plan from noise; it takes no sampled start, "
                f"got init_samples={self.init_samples} (use 0)"
            )
        if self.action_scale != 1.0:
            raise ValueError(
                "the pad planner's actions come from its inverse-dynamics model; it takes no "
                f"action_scale, got {self.action_scale} (use 1)"
            )

    def _check(  # type: ignore[override]
        self,
        model: WorldModel,
        z0: Tensor,
        z_goal: Tensor,
        horizon: int,
        init_actions: Tensor | None,
        cost: CostFn | None,
    ) -> base.Problem:
        from wmplan_agents.models.pad import PaDModel

        if not isinstance(model, PaDModel):
            raise ValueError(
                f"the pad planner plans with a PaDModel (an energy over futures), got "
                f"{type(model).__name__}; use another planner for a dynamics model"
            )
        if cost is not None:
            raise ValueError("the pad planner minimises the model's energy; it takes no cost")
        horizon = base.check_int("horizon", horizon, 1, model.future)
        if z0.ndim != 2 or z_goal.shape != z0.shape or z0.shape[1] != model.latent_dim:
            raise ValueError(
                f"z0 and z_goal must both be [B, {model.latent_dim}] latents, got "
                f"{list(z0.shape)} and {list(z_goal.shape)}"
            )
        low, high = contracts.action_bounds(model, z0.device, z0.dtype)
        return base.Problem(z0, z_goal, horizon, None, contracts.goal_cost, low, high, False, 0, 0)

    def _plan(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator, carry: Tensor | None
    ) -> PlanResult:
        z0, z_goal, horizon = prob.z0, prob.z_goal, prob.horizon
        b, c, k, d = z0.shape[0], self.n_candidates, model.future, model.latent_dim
        # common random numbers: one problem's draws, shared by every problem of the batch
        noise = torch.randn((c, k, d), generator=gen, device=z0.device, dtype=z0.dtype)
        lam = torch.linspace(1.0, float(model.max_lambda), c, device=z0.device).round()
        z_now = z0.repeat_interleave(c, 0)
        goal = z_goal.repeat_interleave(c, 0)
        refined, energy = model.refine(
            noise.repeat(b, 1, 1), z_now, goal, lam.repeat(b), create_graph=False
        )
        energies = energy.reshape(b, c)
        if not torch.isfinite(energies).all():
            raise base.PlanningError(
                "the PaD energy of a refined future is not finite (check the model's inputs)"
            )
        best = energies.argmin(1)
        rows = torch.arange(b, device=z0.device) * c + best
        plan = refined[rows]
        with torch.no_grad():
            actions = model.actions(z0, plan)[:, :horizon]
        return PlanResult(
            actions.detach(),
            energies.gather(1, best[:, None])[:, 0].detach(),
            {
                "lambda": lam[best],
                "energies": energies.detach(),
                "plan": plan.detach(),
                "iterations": model.refine_steps,
            },
        )


__all__ = ["PaD"]
