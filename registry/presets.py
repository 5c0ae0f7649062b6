"""MPC presets per problem: what a planner runs with on one env (and observation type).

What plans well depends on the pair (planner, problem), not on the planner alone: the horizon
that reaches a goal, how often to replan, the step sizes that suit a model's scale, whether a
cost at the end of the horizon can arrive while the horizon recedes. A :class:`Preset` says what
differs from the planner-wide entry in :mod:`registry.planners` for one
``(planner, env id, obs type)``; :func:`resolve_preset` merges them. The catalogue itself
(:data:`PRESETS`) is filled in by :mod:`registry.catalogue`.

Precedence, as the MPC agent applies it: an argument given explicitly > the preset of the
(planner, problem) pair > the problem's preset for every planner (planner ``"*"``) > the
planner-wide entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registry.planners import PLANNERS

COSTS = ("final", "dense", "arrive")
"""Default goal costs by name: squared latent distance at the last step of the plan
(``"final"``), summed over every step (``"dense"``: head for the goal at once and stay), or the
final distance plus a tenth of its mean over the plan (``"arrive"``: any route that arrives by
the end of the plan, the earlier the better); see ``wmplan_agents.contracts``."""


@dataclass(frozen=True)
class Preset:
    """What one problem changes in a planner's entry (``None``: keep the planner-wide value)."""

    horizon: int | None = None
    replan_every: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    cost: str | None = None

    def __post_init__(self) -> None:
        if self.cost is not None and self.cost not in COSTS:
            raise ValueError(f"cost must be one of {COSTS} or None, got {self.cost!r}")


@dataclass(frozen=True)
class ResolvedPreset:
    """The settings an agent runs with, and where they came from (``source``)."""

    planner: str
    horizon: int
    replan_every: int
    kwargs: dict[str, Any]
    cost: str
    source: str  # "WMPlan/PushT-v0 (state)" or "planner-wide"

    def __str__(self) -> str:
        return f"{self.planner} @ {self.source}"


# (planner name or "*", env id, obs type) -> Preset
PRESETS: dict[tuple[str, str, str], Preset] = {}


def add_preset(planner: str, env_id: str, obs_type: str, preset: Preset) -> None:
    """Register ``preset`` for ``planner`` (``"*"``: every planner) on ``env_id`` with
    ``obs_type`` observations."""
    if planner != "*" and planner not in PLANNERS:
        raise ValueError(f"unknown planner {planner!r}: expected one of {sorted(PLANNERS)}")
    PRESETS[(planner, env_id, obs_type)] = preset


def resolve_preset(
    planner: str, env_id: str | None = None, obs_type: str | None = None
) -> ResolvedPreset:
    """The settings of ``planner`` on ``(env_id, obs_type)``: the problem's preset on top of the
    planner-wide entry (just the planner-wide entry when the problem has none or is unknown)."""
    if planner not in PLANNERS:
        raise ValueError(f"unknown planner {planner!r}: expected one of {sorted(PLANNERS)}")
    import registry.catalogue  # noqa: F401  (fills PRESETS)

    entry = PLANNERS[planner]
    problem = (env_id or "", obs_type or "state")
    env_wide = PRESETS.get(("*", *problem))
    own = PRESETS.get((planner, *problem))
    if env_wide is None and own is None:
        return ResolvedPreset(
            planner, entry.horizon, entry.replan_every, dict(entry.kwargs), "final", "planner-wide"
        )
    horizon, replan, cost, kwargs = entry.horizon, entry.replan_every, "final", dict(entry.kwargs)
    for preset in (env_wide, own):  # the planner's own preset wins over the env-wide one
        if preset is None:
            continue
        horizon = preset.horizon if preset.horizon is not None else horizon
        replan = preset.replan_every if preset.replan_every is not None else replan
        cost = preset.cost or cost
        kwargs.update(preset.kwargs)
    return ResolvedPreset(
        planner, horizon, min(replan, horizon), kwargs, cost, f"{problem[0]} ({problem[1]})"
    )


__all__ = ["COSTS", "PRESETS", "Preset", "ResolvedPreset", "add_preset", "resolve_preset"]
