"""wmplan agents: world models, planners, the MPC agent, training and evaluation.

Importing ``wmplan_agents`` also registers the ``WMPlan/`` environments. The public names are
loaded lazily, so ``import wmplan_agents`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

import wmplan_envs  # noqa: F401  (registers the WMPlan/ ids)

_LAZY = {
    "PlanResult": "wmplan_agents.contracts",
    "PlanningError": "wmplan_agents.contracts",
    "WorldModel": "wmplan_agents.contracts",
    "MPCAgent": "wmplan_agents.agent",
    "evaluate": "wmplan_agents.evaluation",
    "make_planner": "wmplan_agents.planners",
    "ground_truth": "wmplan_agents.models",
    "load_pretrained": "wmplan_agents.models",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'wmplan_agents' has no attribute {name!r}")
