"""Shared parts of the GRASP tables: the compared planners, a grid of open-loop cells, the rows
printed beside the paper's numbers, and the plots."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from registry.benchmarks import BENCHMARK_ENVS, GRASP_TABLE_ENVS
from wmplan_agents.contracts import WorldModel
from wmplan_agents.reproduce.common import check_positive, format_rate, pyplot, save_figure
from wmplan_agents.reproduce.open_loop import (
    Cell,
    CellJob,
    execute,
    make_problems,
    run_cells,
    zero_action_success,
)

# The env id whose shipped model each table env plans with (the catalogue's benchmark envs).
# the tables' envs with a shipped model -> its env id (and, below, its observation type)
MODEL_IDS = {name: BENCHMARK_ENVS[name].env_id for name in (*GRASP_TABLE_ENVS, "pusht-pixels")}


def obs_type(env: str) -> str:
    """The observation type the shipped model of the table env ``env`` reads."""
    return str(BENCHMARK_ENVS[env].kwargs.get("obs_type", "state"))


PLANNERS = ("cem", "latco", "gd", "grasp")  # the paper's row order
LABELS = {"cem": "CEM", "latco": "LatCo", "gd": "GD", "grasp": "GRASP"}


def preset_kwargs(planner: str, env: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` on top of ``planner``'s planner-wide registry entry: the paper's tables
    compare each method's own search, so the per-problem presets of the MPC agent (e.g. the
    WallSingle sampled start, ``init_samples``) are not used here. ``env`` is checked."""
    from registry.planners import PLANNERS as ENTRIES

    if env not in MODEL_IDS:
        raise ValueError(f"unknown env {env!r}; expected one of {sorted(MODEL_IDS)}")
    return {**ENTRIES[planner].kwargs, **kwargs}


def check_horizons(horizons: tuple[int, ...]) -> None:
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons must be positive integers, got {horizons!r}")


@dataclass(frozen=True)
class PlannerBudgets:
    """The compared planners and their fixed budgets (registry presets otherwise), the trials
    (``n_trials`` problems from seeds ``episode_seed + i``; planner seed ``seed``, planned in
    blocks of ``batch`` problems per call, the unit of work on Ray workers) and the budget
    ladder (``fractions`` of each planner's iterations, for the time to success)."""

    planners: tuple[str, ...] = PLANNERS
    n_trials: int = 50
    batch: int = 50
    episode_seed: int = 5000
    seed: int = 0
    fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    cem_samples: int = 300
    cem_iterations: int = 30
    gd_iterations: int = 100
    latco_iterations: int = 400
    grasp_iterations: int = 400

    def __post_init__(self) -> None:
        check_positive(n_trials=self.n_trials, batch=self.batch, cem_samples=self.cem_samples)
        check_positive(cem_iterations=self.cem_iterations, gd_iterations=self.gd_iterations)
        check_positive(latco_iterations=self.latco_iterations)
        check_positive(grasp_iterations=self.grasp_iterations)
        if not self.fractions or not all(0 < f <= 1 for f in self.fractions):
            raise ValueError(f"fractions must lie in (0, 1], got {self.fractions!r}")
        unknown = sorted(set(self.planners) - set(PLANNERS))
        if unknown:
            raise ValueError(f"unknown planners {unknown}; expected some of {list(PLANNERS)}")

    def planner_kwargs(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """``label -> (planner name, kwargs)``: registry presets with these budgets."""
        budgets = {
            "cem": {
                "iterations": self.cem_iterations,
                "n_samples": self.cem_samples,
                "n_elites": max(1, self.cem_samples // 10),
            },
            "latco": {"iterations": self.latco_iterations},
            "gd": {"iterations": self.gd_iterations},
            "grasp": {"iterations": self.grasp_iterations},
        }
        return {LABELS[p]: (p, budgets[p]) for p in self.planners}


@dataclass
class Grid:
    """Cells of one env over horizons, with how easy the problems are (start/no-op success)."""

    env: str
    n: int
    cells: list[Cell]
    start_success: dict[int, int] = field(default_factory=dict)  # horizon -> count
    zero_action_success: dict[int, int] = field(default_factory=dict)  # horizon -> count
    replay_success: dict[int, int] = field(default_factory=dict)  # the goal's own actions

    def cell(self, planner: str, horizon: int) -> Cell:
        for c in self.cells:
            if c.planner == planner and c.horizon == horizon:
                return c
        raise KeyError(f"no cell for {planner!r} at H={horizon}")


def load_model(env: str) -> Any:
    """The shipped world model that plans on ``env``."""
    from wmplan_agents.models.pretrained import load_pretrained

    if env not in MODEL_IDS:
        raise ValueError(f"unknown env {env!r}; expected one of {sorted(MODEL_IDS)}")
    return load_pretrained(MODEL_IDS[env], obs_type(env))


def run_grid(
    env: str,
    horizons: tuple[int, ...],
    planners: dict[str, tuple[str, dict[str, Any]]],
    n_trials: int,
    episode_seed: int,
    seed: int,
    fractions: tuple[float, ...],
    progress: bool = False,
    echo: Any = print,
    model: WorldModel | None = None,
    workers: int = 1,
    address: str | None = None,
    batch: int | None = None,
) -> Grid:
    """Every ``label -> (planner name, kwargs)`` at every horizon on the same ``n_trials``
    problems per horizon (seeds ``episode_seed + i``), planned ``batch`` problems per call;
    ``workers``, ``address``: Ray workers for the blocks
    (:func:`~wmplan_agents.reproduce.open_loop.run_cells`)."""
    model = load_model(env) if model is None else model
    seeds = [episode_seed + i for i in range(n_trials)]
    grid = Grid(env, n_trials, [])
    jobs = []
    for h in horizons:
        problems = make_problems(env, h, seeds)
        grid.start_success[h] = int(problems.start_success.sum())
        grid.zero_action_success[h] = int(zero_action_success(problems).sum())
        grid.replay_success[h] = int(execute(problems, problems.goal_actions)[0].sum())
        for label, (name, kwargs) in planners.items():
            kwargs = preset_kwargs(name, env, kwargs)
            jobs.append(CellJob(model, problems, name, kwargs, fractions, seed, label, batch))
    grid.cells = run_cells(jobs, workers=workers, address=address, progress=progress)
    if progress:
        for cell in grid.cells:
            echo(
                f"  {env} H={cell.horizon} {cell.planner}: {cell.successes}/{cell.n}, "
                f"{cell.median_time:.3f}s"
            )
    return grid


def fmt_time(seconds: float) -> str:
    return "-" if not math.isfinite(seconds) else f"{seconds:.3f}s"


def cell_row(c: Cell, paper: tuple[float, float | None] | None) -> tuple[str, str, str]:
    """``(label, measured, paper)``: success with Wilson 95%, median time to success, success
    under the model (with its median time to success) and at any step of the plan."""
    model = (
        "n/a"
        if c.model_successes is None
        else f"{c.model_successes} / {fmt_time(c.median_time_model)}"
    )
    measured = (
        f"{format_rate(c.successes, c.n)} / {fmt_time(c.median_time)}"
        f" (model {model}, any step {int(np.sum(c.success_any))})"
        + (f" [{len(c.errors)} rung(s) diverged]" if c.errors else "")
    )
    if paper is None:
        ref = "-"
    else:
        succ, t = paper
        ref = f"{succ:.1f}% / " + ("-" if t is None else f"{t:.1f}s")
    return f"{c.planner} H={c.horizon}", measured, ref


def baseline_rows(grid: Grid) -> list[tuple[str, str, str]]:
    rows = []
    for h in sorted(grid.zero_action_success):
        rows.append(
            (
                f"{grid.env} H={h}: start at goal / zero actions / goal's own actions",
                f"{grid.start_success[h]}/{grid.n} / {grid.zero_action_success[h]}/{grid.n} / "
                f"{grid.replay_success[h]}/{grid.n}",
                "not reported",
            )
        )
    return rows


def plot_grid(grid: Grid, labels: list[str], path: Path, title: str) -> Path:
    """Success (Wilson 95%) and median time to success against horizon, one line per planner."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for label in labels:
        cells = sorted((c for c in grid.cells if c.planner == label), key=lambda c: c.horizon)
        if not cells:
            continue
        hs = [c.horizon for c in cells]
        rates = np.array([c.rate for c in cells])
        lo = np.array([c.interval[0] for c in cells])
        hi = np.array([c.interval[1] for c in cells])
        ax1.errorbar(
            hs,
            100 * rates,
            yerr=100 * np.stack([rates - lo, hi - rates]),
            capsize=4,
            marker="o",
            label=label,
        )
        ax2.plot(hs, [c.median_time for c in cells], marker="o", label=label)
    ax1.set_xlabel("horizon H (env steps)")
    ax1.set_ylabel(f"open-loop success % ({grid.n} trials, Wilson 95%)")
    ax1.set_ylim(-2, 102)
    ax1.set_title(title)
    ax1.legend()
    ax2.set_xlabel("horizon H (env steps)")
    ax2.set_ylabel("median time to success (s per problem)")
    ax2.set_yscale("log")
    return save_figure(fig, path)
