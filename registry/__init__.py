"""The catalogue: every environment id, planner name, preset, shipped model, reproduction and
benchmark env table of wmplan, in one place.

``registry`` imports nothing heavy: entry points are strings. ``wmplan_envs`` calls
:func:`register_envs` when it is imported; ``wmplan_agents`` looks planner names up in
:data:`PLANNERS`, presets in :mod:`registry.presets` (filled by :mod:`registry.catalogue`),
shipped checkpoints in :data:`SHIPPED_MODELS`, reproductions in :data:`REPRODUCTIONS` and the
open-loop tables' envs in :data:`BENCHMARK_ENVS`.
"""

from registry.benchmarks import BENCHMARK_ENVS, EnvSetup
from registry.envs import ENVS, EnvEntry, register_envs
from registry.models import BENCHMARK_MODELS, SHIPPED_MODELS
from registry.planners import PLANNERS, PlannerEntry, single_level_planners
from registry.reproductions import REPRODUCTIONS, Reproduction

__all__ = [
    "BENCHMARK_ENVS",
    "BENCHMARK_MODELS",
    "ENVS",
    "PLANNERS",
    "REPRODUCTIONS",
    "SHIPPED_MODELS",
    "EnvEntry",
    "EnvSetup",
    "PlannerEntry",
    "Reproduction",
    "register_envs",
    "single_level_planners",
]
