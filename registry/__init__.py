"""The catalogue: every environment id and every planner name of wmplan, in one place.

``registry`` imports nothing heavy. ``wmplan_envs`` calls :func:`register_envs` when it is imported,
and ``wmplan_agents.planners.make_planner`` looks planner names up in :data:`PLANNERS`.
"""

from registry.envs import ENVS, EnvEntry, register_envs
from registry.planners import PLANNERS, PlannerEntry, single_level_planners

__all__ = ["ENVS", "PLANNERS", "EnvEntry", "PlannerEntry", "register_envs", "single_level_planners"]
