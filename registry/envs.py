"""Every ``WMPlan/`` environment id: entry point (as a string), default kwargs and limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment id."""

    id: str
    entry_point: str
    max_episode_steps: int | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    reward_threshold: float | None = None
    # Extra package the env needs (installed with ``pip install wmplan[envs]``); None when core.
    requires: str | None = None
    # Further kwargs sets the test sweep also checks (e.g. ``{"obs_type": "pixels"}``).
    variants: tuple[dict[str, Any], ...] = ()


ENVS: tuple[EnvEntry, ...] = (
    EnvEntry(
        id="WMPlan/LinearExpansive-v0",
        entry_point="wmplan_envs.linear_expansive:LinearExpansiveEnv",
        max_episode_steps=50,
        kwargs={"dim": 4, "expansion": 1.15, "system_seed": 0},
    ),
    EnvEntry(
        id="WMPlan/RuggedLandscape-v0",
        entry_point="wmplan_envs.rugged_landscape:RuggedLandscapeEnv",
        max_episode_steps=50,
        kwargs={"amplitude": 0.5, "omega": 15.0},
    ),
    EnvEntry(
        id="WMPlan/PushT-v0",
        entry_point="wmplan_envs.pusht:PushTEnv",
        # the env truncates itself: 2 * goal_steps (reachable goals), 300 (task="pusht")
        max_episode_steps=None,
        kwargs={"obs_type": "state", "task": "reachable"},
        variants=(
            {"obs_type": "pixels"},
            {"obs_type": "keypoints"},
            {"task": "pusht"},
            {"task": "pusht", "obs_type": "pixels"},
        ),
    ),
    EnvEntry(
        id="WMPlan/WallSingle-v0",
        entry_point="wmplan_envs.wall:WallSingleEnv",
        max_episode_steps=100,
        kwargs={"obs_type": "state"},
        variants=({"obs_type": "pixels"},),
    ),
    EnvEntry(
        id="WMPlan/PointMaze-v0",
        entry_point="wmplan_envs.pointmaze:PointMazeEnv",
        max_episode_steps=300,  # as gymnasium-robotics' PointMaze_UMaze-v3
        kwargs={"obs_type": "state"},
        requires="gymnasium_robotics",
        variants=({"obs_type": "pixels"},),
    ),
    EnvEntry(
        id="WMPlan/MiniGridEmpty-v0",
        entry_point="wmplan_envs.minigrid_empty:MiniGridEmptyEnv",
        max_episode_steps=256,  # as minigrid's MiniGrid-Empty-8x8-v0
        kwargs={"obs_type": "state"},
        requires="minigrid",
        variants=({"obs_type": "pixels"},),
    ),
    EnvEntry(
        id="WMPlan/CubeSingle-v0",
        entry_point="wmplan_envs.cube:CubeEnv",
        max_episode_steps=None,  # the env truncates itself: OGBench's 200 steps
        kwargs={"n_cubes": 1},
        requires="ogbench",
        variants=({"mode": "data_collection"},),
    ),
    EnvEntry(
        id="WMPlan/CubeDouble-v0",
        entry_point="wmplan_envs.cube:CubeEnv",
        max_episode_steps=None,  # OGBench's 500 steps
        kwargs={"n_cubes": 2},
        requires="ogbench",
    ),
)


def register_envs() -> None:
    """Register every id in :data:`ENVS` with Gymnasium (idempotent)."""
    import gymnasium as gym

    for entry in ENVS:
        if entry.id in gym.registry:
            continue
        gym.register(
            id=entry.id,
            entry_point=entry.entry_point,
            max_episode_steps=entry.max_episode_steps,
            reward_threshold=entry.reward_threshold,
            kwargs=dict(entry.kwargs),
        )
