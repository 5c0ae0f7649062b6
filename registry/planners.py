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
        name="grasp",
        entry_point="wmplan_agents.planners.grasp:GRASP",
        horizon=25,
        replan_every=5,
        kwargs={
            "iterations": 400,
            "state_noise": 0.01,
            "noise_decay": "cosine",
            "noise_until": 0.5,
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
