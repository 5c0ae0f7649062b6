"""Every planner name: the class that implements it (as a string) and the MPC preset it runs with.

A preset is what ``MPCAgent(model, planner=NAME)`` uses when the caller gives nothing else: the
planning horizon, how many actions are executed before replanning, and planner keyword arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlannerEntry:
    """One planner name."""

    name: str
    entry_point: str
    horizon: int
    replan_every: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    # the models it plans with: "any" world model, "two-level" (one with coarse_model()) or
    # "pad" (a PaDModel: an energy over futures, no forward dynamics)
    model_kind: str = "any"


def single_level_planners() -> list[str]:
    """The names of the planners that plan with any world model, sorted."""
    return sorted(name for name, entry in PLANNERS.items() if entry.model_kind == "any")


PLANNERS: dict[str, PlannerEntry] = {}


def _add(entry: PlannerEntry) -> None:
    PLANNERS[entry.name] = entry


_add(
    PlannerEntry(
        name="cem",
        entry_point="wmplan_agents.planners.cem:CEM",
        horizon=15,
        replan_every=5,
        kwargs={"n_samples": 300, "n_elites": 30, "iterations": 30},
        summary="cross-entropy method: Gaussian (or categorical) refit to the elites",
    )
)
_add(
    PlannerEntry(
        name="icem",
        entry_point="wmplan_agents.planners.icem:ICEM",
        horizon=15,
        replan_every=1,
        kwargs={
            "n_samples": 300,
            "n_elites": 10,
            "iterations": 3,
            "noise_beta": 2.0,
            "keep_elites": 0.3,
            "population_decay": 1.25,
            "momentum": 0.1,
        },
        summary="iCEM: coloured noise, elite keeping (also across MPC steps), shrinking population",
    )
)
_add(
    PlannerEntry(
        name="mppi",
        entry_point="wmplan_agents.planners.mppi:MPPI",
        horizon=15,
        replan_every=1,
        kwargs={"n_samples": 300, "iterations": 10, "temperature": 1.0, "noise_std": 0.2},
        summary="MPPI: temperature-weighted average of time-smoothed perturbations",
    )
)
_add(
    PlannerEntry(
        name="gd",
        entry_point="wmplan_agents.planners.gd:GradientDescent",
        horizon=15,
        replan_every=5,
        kwargs={"iterations": 100, "n_restarts": 8, "lr": 0.1, "max_grad_norm": 10.0},
        summary="Adam through the full rollout, parallel restarts, gradient clipping",
    )
)
_add(
    PlannerEntry(
        name="random",
        entry_point="wmplan_agents.planners.random_shooting:RandomShooting",
        horizon=15,
        replan_every=5,
        kwargs={"n_samples": 1000, "iterations": 1},
        summary="random shooting: best of uniformly random action sequences",
    )
)
_add(
    PlannerEntry(
        name="grasp",
        entry_point="wmplan_agents.planners.grasp:GRASP",
        horizon=25,
        replan_every=5,
        kwargs={
            "iterations": 400,
            "state_noise": 0.01,
            "noise_decay": "cosine",
            "noise_until": 0.5,
            # 50 annealed sync steps of 0.05 half-ranges: chosen on the exact problems' seed 7
            # and 30 Push-T problems (seeds 7000-7029); 25 steps of 0.1 left Push-T plans short
            # of the goal even under the model (16/30 at H = 40, now 30/30)
            "sync_steps": 50,
            "lr_sync": 0.05,
        },
        summary="GRASP: lifted virtual states, stop-gradient, state noise, periodic rollout sync",
    )
)
_add(
    PlannerEntry(
        name="latco",
        entry_point="wmplan_agents.planners.latco:LatCo",
        horizon=25,
        replan_every=5,
        kwargs={"iterations": 400},
        summary="LatCo: joint state/action collocation, dynamics penalty raised by dual ascent",
    )
)
_add(
    PlannerEntry(
        name="coarse-to-fine",
        entry_point="wmplan_agents.planners.hierarchical:CoarseToFine",
        horizon=50,
        replan_every=10,
        kwargs={"coarse": "gd", "fine": "gd"},
        summary="two-level models (HELM): plan on the coarse level, refine on the fine one",
        model_kind="two-level",
    )
)
_add(
    PlannerEntry(
        name="pad",
        entry_point="wmplan_agents.planners.pad:PaD",
        horizon=16,
        replan_every=4,
        kwargs={"n_candidates": 64},
        summary="Planning as Descent: refine candidate futures on a learned energy (PaD models)",
        model_kind="pad",
    )
)
