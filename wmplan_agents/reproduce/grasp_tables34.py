"""GRASP, Tables 3-4: short-horizon open-loop planning on Push-T, PointMaze and WallSingle.

CEM, LatCo, GD and GRASP plan with each env's shipped model at ``H = 10, 20, 30`` env steps on
the same ``n_trials`` problems per (env, horizon), goals ``H`` env steps of a data-like policy
away. Success in the real simulator (Table 3) and median time to success (Table 4); the protocol
is in :mod:`wmplan_agents.reproduce.open_loop`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wmplan_agents.reproduce.common import RunOptions, comparison_table, publish
from wmplan_agents.reproduce.grasp_common import (
    MODEL_IDS,
    Grid,
    PlannerBudgets,
    baseline_rows,
    cell_row,
    check_horizons,
    plot_grid,
    run_grid,
)

_H = (10, 20, 30)


def _paper(succ: dict[str, tuple], times: dict[str, tuple]) -> dict:
    return {p: {h: (s, t) for h, s, t in zip(_H, succ[p], times[p], strict=True)} for p in succ}


# Tables 3 (success %) and 4 (median time, s) of grasp-paper.md, per env
PAPER: dict[str, dict[str, dict[int, tuple[float, float | None]]]] = {
    "pusht": _paper(
        {"CEM": (100.0, 96.0, 76.0), "LatCo": (67.4, 55.2, 35.4), "GD": (99.2, 88.4, 69.0),
         "GRASP": (100.0, 89.2, 75.2)},
        {"CEM": (1.3, 7.5, 23.6), "LatCo": (39.9, 437.2, 1800.0), "GD": (0.5, 2.4, 25.3),
         "GRASP": (1.5, 2.1, 9.1)},
    ),
    "pointmaze": _paper(
        {"CEM": (100.0, 100.0, 100.0), "LatCo": (100.0, 99.8, 99.0), "GD": (94.6, 91.8, 94.6),
         "GRASP": (100.0, 100.0, 99.8)},
        {"CEM": (0.7, 2.0, 6.3), "LatCo": (1.6, 13.7, 36.6), "GD": (0.3, 0.6, 1.2),
         "GRASP": (0.7, 1.8, 2.1)},
    ),
    "wallsingle": _paper(
        {"CEM": (98.0, 100.0, 100.0), "LatCo": (91.4, 81.6, 62.8), "GD": (91.8, 92.8, 91.6),
         "GRASP": (95.2, 91.8, 95.0)},
        {"CEM": (0.9, 1.5, 2.1), "LatCo": (12.1, 23.8, 111.1), "GD": (0.4, 0.5, 0.7),
         "GRASP": (1.6, 1.8, 2.1)},
    ),
}  # fmt: skip


@dataclass(frozen=True)
class GraspTables34Settings(PlannerBudgets):
    """Sizes and budgets of Tables 3-4 (defaults: the full-size run); budgets in
    :class:`~wmplan_agents.reproduce.grasp_common.PlannerBudgets`."""

    envs: tuple[str, ...] = ("pusht", "pointmaze", "wallsingle")
    horizons: tuple[int, ...] = _H

    def __post_init__(self) -> None:
        super().__post_init__()
        check_horizons(self.horizons)
        unknown = sorted(set(self.envs) - set(MODEL_IDS))
        if not self.envs or unknown:
            raise ValueError(f"envs must be some of {sorted(MODEL_IDS)}, got {self.envs!r}")


@dataclass
class GraspTables34Result:
    settings: GraspTables34Settings
    grids: dict[str, Grid]
    files: dict[str, str] = field(default_factory=dict)


def table(result: GraspTables34Result) -> str:
    s = result.settings
    rows = []
    for env, grid in result.grids.items():
        paper = PAPER.get(env, PAPER.get(env.split("-")[0], {}))  # pusht-pixels: Push-T's
        for label in s.planner_kwargs():
            for h in s.horizons:
                cell = grid.cell(label, h)
                ref = paper.get(label, {}).get(h)
                rows.append((f"{env} " + cell_row(cell, None)[0], *cell_row(cell, ref)[1:]))
        rows += baseline_rows(grid)
    n = s.n_trials
    return comparison_table(
        rows,
        title=(
            f"GRASP Tables 3-4 (open loop, {n} trials per cell): success in the simulator "
            "[Wilson 95%] / median time to success (s per problem); paper: success % / s"
        ),
    )


def reproduce(s: GraspTables34Settings, opts: RunOptions) -> GraspTables34Result:
    """Run, print the table, save ``grasp_tables34_<env>.png`` and ``grasp_tables34.json``."""
    out = opts.out
    planners = s.planner_kwargs()
    grids = {}
    for env in s.envs:
        grids[env] = run_grid(
            env, s.horizons, planners, s.n_trials, s.episode_seed, s.seed, s.fractions,
            progress=opts.progress, echo=opts.echo, workers=opts.workers, address=opts.address,
            batch=s.batch,
        )  # fmt: skip
    result = GraspTables34Result(s, grids)
    for env, grid in grids.items():
        path = out / f"grasp_tables34_{env}.png"
        result.files[f"plot_{env}"] = str(
            plot_grid(grid, list(planners), path, f"Tables 3-4 ({env})")
        )
    publish(result, out / "grasp_tables34.json", PAPER, table(result), opts.echo)
    return result
