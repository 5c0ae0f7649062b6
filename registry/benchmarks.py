"""The envs of the open-loop benchmark tables (GRASP Tables 1-4, ``wmplan compare``): how each
makes its env and where its goals come from. Each plans with the env's shipped state model
(:data:`registry.models.SHIPPED_MODELS`) or its ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EnvSetup:
    """How the tables make an env: its id, keyword arguments, and where goals come from."""

    env_id: str
    kwargs: dict[str, Any]
    goal_from_env: bool  # True: the env's reachable goal (goal_steps = H); False: policy replay


BENCHMARK_ENVS: dict[str, EnvSetup] = {
    "pusht": EnvSetup(
        "WMPlan/PushT-v0",
        {"obs_type": "state", "relative": True, "goal": "reachable", "terminate_on_success": False},
        True,
    ),
    # the shipped pixel model's setting (64x64 images; the model plans from images alone)
    "pusht-pixels": EnvSetup(
        "WMPlan/PushT-v0",
        {
            "obs_type": "pixels",
            "image_size": 64,
            "relative": True,
            "goal": "reachable",
            "terminate_on_success": False,
        },
        True,
    ),
    "wallsingle": EnvSetup(
        "WMPlan/WallSingle-v0", {"obs_type": "state", "terminate_on_success": False}, False
    ),
    "pointmaze": EnvSetup("WMPlan/PointMaze-v0", {"obs_type": "state"}, False),
    # ``wmplan compare``'s long-horizon families (their problems are built by wmplan_agents.compare)
    "wall-detour": EnvSetup(
        "WMPlan/WallSingle-v0", {"obs_type": "state", "terminate_on_success": False}, False
    ),
    # continuing: the simulator keeps running past the goal, so a plan is scored at its end
    "maze-arms": EnvSetup(
        "WMPlan/PointMaze-v0", {"obs_type": "state", "continuing_task": True}, False
    ),
}

# the envs of GRASP's Tables 1-4, in the paper's order
GRASP_TABLE_ENVS: tuple[str, ...] = ("pusht", "wallsingle", "pointmaze")
