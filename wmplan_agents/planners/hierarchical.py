"""Coarse-to-fine planning with a two-level world model (HELM's hierarchy as one planner call)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from wmplan_agents import contracts
from wmplan_agents.contracts import Planner, PlanResult, WorldModel
from wmplan_agents.planners import base


@dataclass(frozen=True, kw_only=True)
class CoarseToFine(base.PlannerConfig):
    """Plan on a model's coarse level first, then refine on the model itself from that plan.

    A *two-level model* is any world model with ``coarse_model()``, returning a world model on
    the same latent whose one step covers ``k`` of the model's steps (its ``action_repeat`` is
    ``k`` times the model's; a coarse action is the ``k`` fine actions concatenated).
    :class:`~wmplan_agents.models.HELM` is one. ``plan(model, z0, goal, horizon)`` counts
    ``horizon`` in the model's (fine) steps and:

    1. plans ``ceil(horizon / k)`` coarse steps with the ``coarse`` planner on
       ``model.coarse_model()`` (a warm start ``init_actions`` is regrouped for it);
    2. splits the coarse plan into fine actions, cut to ``horizon``, and hands it as
       ``init_actions`` to the ``fine`` planner on ``model``;
    3. returns, per problem, the better by the fine model's rolled-out cost of the fine plan and
       the split coarse plan (so refinement never makes the plan worse on the fine model).

    Args:
        coarse: the registered planner of the coarse level (its registry preset, updated by
            ``coarse_kwargs``).
        fine: the registered planner that refines on the model itself (likewise with
            ``fine_kwargs``); ``None`` plans with the coarse level alone.
        coarse_kwargs, fine_kwargs: keyword arguments for those planners.
        seed, reseed_every_plan, action_scale: passed to both planners (``coarse_planner``,
            ``fine_planner``: the planners made).

    ``info``: the fine planner's info plus ``coarse_cost`` (the coarse planner's own cost),
    ``coarse_on_fine_cost`` (the split coarse plan rolled out by the fine model), ``refined``
    (``[B]`` bool: the fine plan was kept) and ``coarse_steps``, ``time_s``.
    """

    coarse: str = "gd"
    fine: str | None = "gd"
    coarse_kwargs: dict[str, Any] | None = None
    fine_kwargs: dict[str, Any] | None = None
    coarse_planner: Planner = field(init=False, repr=False, compare=False)
    fine_planner: Planner | None = field(init=False, repr=False, compare=False)

    def check(self) -> None:
        from wmplan_agents.planners import make_planner

        if self.coarse == "coarse-to-fine" or self.fine == "coarse-to-fine":
            raise ValueError("coarse and fine must be single-level planners, not coarse-to-fine")
        common = {
            "seed": self.seed,
            "reseed_every_plan": self.reseed_every_plan,
            "action_scale": self.action_scale,
        }
        coarse = make_planner(self.coarse, **{**common, **(self.coarse_kwargs or {})})
        fine = self.fine and make_planner(self.fine, **{**common, **(self.fine_kwargs or {})})
        object.__setattr__(self, "coarse_planner", coarse)
        object.__setattr__(self, "fine_planner", fine or None)

    def reset(self, seed: int | None = None) -> None:
        """Reset both planners (their random streams restart, from ``seed`` when given)."""
        self.coarse_planner.reset(seed)
        if self.fine_planner is not None:
            self.fine_planner.reset(seed)

    @staticmethod
    def coarse_level(model: WorldModel) -> tuple[Any, int]:
        """``(model.coarse_model(), k)``; ``ValueError`` if ``model`` has no coarse level."""
        if not isinstance(model, contracts.TwoLevel):
            raise ValueError(
                f"coarse-to-fine planning needs a two-level model with coarse_model() (e.g. a "
                f"HELM); {type(model).__name__} has none"
            )
        coarse = model.coarse_model()
        fine_k, coarse_k = contracts.action_repeat(model), contracts.action_repeat(coarse)
        if coarse_k % fine_k:
            raise ValueError(
                f"the coarse level's action_repeat ({coarse_k}) must be a multiple of the model's "
                f"({fine_k})"
            )
        return coarse, coarse_k // fine_k

    def _plan(
        self, model: WorldModel, prob: base.Problem, gen: torch.Generator, carry: Tensor | None
    ) -> PlanResult:
        horizon = prob.horizon
        cost = None if prob.cost is contracts.goal_cost else prob.cost
        coarse_model, k = self.coarse_level(model)
        b, a_dim = prob.z0.shape[0], prob.low.shape[0]
        steps = math.ceil(horizon / k)
        coarse_init = None
        if prob.init_actions is not None:  # regroup k fine actions per coarse action
            pad = steps * k - horizon
            init = prob.init_actions
            if pad:
                init = torch.cat([init, init[:, -1:].expand(b, pad, a_dim)], dim=1)
            coarse_init = init.reshape(b, steps, k * a_dim)
        coarse = self.coarse_planner.plan(
            coarse_model, prob.z0, prob.z_goal, steps, coarse_init, cost
        )
        split = coarse.actions.reshape(b, steps * k, a_dim)[:, :horizon].contiguous()
        final_cost = prob.cost
        with torch.no_grad():
            traj = contracts.rollout(model, prob.z0, split)
            split_cost = base.call_cost(final_cost, traj, split, prob.z_goal)
        info: dict[str, Any] = {
            "coarse_cost": coarse.cost,
            "coarse_on_fine_cost": split_cost,
            "coarse_steps": steps,
        }
        if self.fine_planner is None:
            info["refined"] = torch.zeros(b, dtype=torch.bool)
            return PlanResult(actions=split, cost=split_cost, info=info)
        fine = self.fine_planner.plan(model, prob.z0, prob.z_goal, horizon, split, cost)
        refined = ~(split_cost < fine.cost)  # NaN-safe: a non-finite split cost loses
        actions = torch.where(refined[:, None, None], fine.actions, split)
        result_cost = torch.where(refined, fine.cost, split_cost)
        info = {**fine.info, **info, "refined": refined}
        return PlanResult(actions=actions, cost=result_cost, info=info)
