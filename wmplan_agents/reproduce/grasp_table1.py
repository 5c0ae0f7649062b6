"""GRASP, Table 1: open-loop long-horizon Push-T, success and median time to success.

CEM, LatCo, GD and GRASP plan with the shipped Push-T model (relative actions,
``action_repeat = 5``) at horizons ``H = 40 .. 80`` env steps (8 .. 16 model steps), each on the
same ``n_trials`` problems per horizon whose goal is ``H`` env steps of the pushing policy away
(``goal="reachable"``). Every plan is executed open loop in the real simulator and scored by
DINO-WM's test; :mod:`wmplan_agents.reproduce.open_loop` describes the protocol (success in the
simulator and under the model, budgets, timing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wmplan_agents.reproduce.common import (
    RunOptions,
    comparison_table,
    publish,
)
from wmplan_agents.reproduce.grasp_common import (
    Grid,
    PlannerBudgets,
    baseline_rows,
    cell_row,
    check_horizons,
    plot_grid,
    run_grid,
)

# Table 1 of grasp-paper.md: (success %, median time to success in s); None where the paper has "-"
PAPER: dict[str, dict[int, tuple[float, float | None]]] = {
    "CEM": {
        40: (61.4, 35.3),
        50: (30.2, 96.2),
        60: (7.2, 83.1),
        70: (7.8, 156.1),
        80: (2.8, 132.2),
    },
    "LatCo": {
        40: (15.0, 598.0),
        50: (4.2, 1114.7),
        60: (2.0, 231.5),
        70: (0.0, None),
        80: (0.0, None),
    },
    "GD": {
        40: (51.0, 18.0),
        50: (37.6, 76.3),
        60: (16.4, 146.5),
        70: (12.0, 103.1),
        80: (6.4, 161.3),
    },
    "GRASP": {
        40: (59.0, 8.5),
        50: (43.4, 15.2),
        60: (26.2, 49.1),
        70: (16.0, 79.9),
        80: (10.4, 58.9),
    },
}


@dataclass(frozen=True)
class GraspTable1Settings(PlannerBudgets):
    """Sizes and budgets of Table 1 (defaults: the full-size run); budgets in
    :class:`~wmplan_agents.reproduce.grasp_common.PlannerBudgets`."""

    env: str = "pusht"
    horizons: tuple[int, ...] = (40, 50, 60, 70, 80)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_horizons(self.horizons)


@dataclass
class GraspTable1Result:
    settings: GraspTable1Settings
    grid: Grid
    files: dict[str, str] = field(default_factory=dict)


def table(result: GraspTable1Result, paper: dict = PAPER, title: str = "") -> str:
    grid = result.grid
    rows = []
    for label in result.settings.planner_kwargs():
        for h in result.settings.horizons:
            rows.append(cell_row(grid.cell(label, h), paper.get(label, {}).get(h)))
    rows += baseline_rows(grid)
    title = title or (
        f"GRASP Table 1 ({grid.env}, open loop, {grid.n} trials per cell): success in the "
        "simulator [Wilson 95%] / median time to success (s per problem); paper: success % / s"
    )
    return comparison_table(rows, title=title)


def reproduce(s: GraspTable1Settings, opts: RunOptions) -> GraspTable1Result:
    """Run, print the table, save ``grasp_table1.png`` and ``grasp_table1.json``."""
    out = opts.out
    planners = s.planner_kwargs()
    grid = run_grid(
        s.env,
        s.horizons,
        planners,
        s.n_trials,
        s.episode_seed,
        s.seed,
        s.fractions,
        progress=opts.progress,
        echo=opts.echo,
        workers=opts.workers,
        address=opts.address,
        batch=s.batch,
    )
    result = GraspTable1Result(s, grid)
    result.files["plot"] = str(
        plot_grid(grid, list(planners), out / "grasp_table1.png", f"Table 1 ({s.env})")
    )
    publish(result, out / "grasp_table1.json", PAPER, table(result), opts.echo)
    return result
