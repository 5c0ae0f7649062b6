"""Planners, one per file, each registered by name in ``registry/planners.py``."""

from __future__ import annotations

import importlib
from typing import Any

from registry import PLANNERS
from wmplan_agents.contracts import Planner


def planner_class(name: str) -> type:
    """The class registered under ``name``."""
    if name not in PLANNERS:
        known = ", ".join(sorted(PLANNERS)) or "(none registered)"
        raise ValueError(f"unknown planner {name!r}: expected one of {known}")
    module_name, class_name = PLANNERS[name].entry_point.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_planner(name: str, **kwargs: Any) -> Planner:
    """Build the planner registered under ``name`` with keyword arguments ``kwargs``.

    Preset keyword arguments from the registry are used for anything not given.
    """
    cls = planner_class(name)
    return cls(**{**PLANNERS[name].kwargs, **kwargs})


__all__ = ["make_planner", "planner_class"]
