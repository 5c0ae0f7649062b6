"""Every reproduction of the papers' experiments: its name, the module that runs it, its
settings class (as strings, so listing them imports nothing heavy) and whether it shards its
trials over Ray workers. ``wmplan reproduce NAME`` and ``wmplan_agents.reproduce`` read them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reproduction:
    """Where one reproduction lives: ``module`` has a settings class and ``reproduce``."""

    name: str
    module: str
    settings: str
    summary: str
    parallel: bool = False  # it shards its trials over Ray workers (RunOptions.workers)

    def load(self) -> tuple[type, Any]:
        """``(settings class, reproduce function)``."""
        mod = importlib.import_module(self.module)
        return getattr(mod, self.settings), mod.reproduce


REPRODUCTIONS: dict[str, Reproduction] = {}


def register(entry: Reproduction) -> None:
    """Add a reproduction under ``entry.name`` (a duplicate name is an error)."""
    if entry.name in REPRODUCTIONS:
        raise ValueError(f"a reproduction named {entry.name!r} is already registered")
    REPRODUCTIONS[entry.name] = entry


register(
    Reproduction(
        "spectral-cliff",
        "wmplan_agents.reproduce.spectral_cliff",
        "SpectralCliffSettings",
        "Two Pillars Exp. 1: rollout Jacobian norm vs horizon, flat vs HELM (LinearExpansive)",
    )
)
register(
    Reproduction(
        "funnel",
        "wmplan_agents.reproduce.funnel",
        "FunnelSettings",
        "Two Pillars Exp. 2: GD basin coverage on true, flat and HELM energies (RuggedLandscape)",
    )
)
register(
    Reproduction(
        "minigrid",
        "wmplan_agents.reproduce.minigrid_alignment",
        "MiniGridSettings",
        "Two Pillars Exp. 3-4: gradient planning with an MSE vs a contrastive latent (MiniGrid)",
        parallel=True,
    )
)
register(
    Reproduction(
        "grasp-table1",
        "wmplan_agents.reproduce.grasp_table1",
        "GraspTable1Settings",
        "GRASP Table 1: open-loop Push-T at H=40..80, CEM/LatCo/GD/GRASP success and time",
        parallel=True,
    )
)
register(
    Reproduction(
        "grasp-table2",
        "wmplan_agents.reproduce.grasp_table2",
        "GraspTable2Settings",
        "GRASP Table 2: GRASP ablations (sync steps, state noise, stop-gradient) at H=40",
        parallel=True,
    )
)
register(
    Reproduction(
        "grasp-tables34",
        "wmplan_agents.reproduce.grasp_tables34",
        "GraspTables34Settings",
        "GRASP Tables 3-4: open-loop H=10..30 on Push-T, PointMaze, WallSingle",
        parallel=True,
    )
)

register(
    Reproduction(
        "pad",
        "wmplan_agents.reproduce.pad",
        "PadSettings",
        "Planning as Descent: the cube tasks (one cube; two with cubes=2), play vs noisy data, "
        "projector, replanning",
        parallel=True,
    )
)
