"""GRASP, Table 2: ablations of GRASP at horizon 40 on Push-T (sync steps, noise, stop-gradient).

Each row changes one switch of the full planner (the ``grasp`` registry preset with
``iterations`` fixed; sync every 100 iterations as the paper's caption) and keeps the rest:
``sync_steps`` (0 = no sync, 10, 25, 50), ``state_noise`` (0, the preset's, twice the preset's:
the paper's 0 / 0.5 / 1.0 on DINO-WM latents, rescaled to our standardised latents) and
``stop_gradient`` (stop vs flow). All rows plan the same ``n_trials`` problems, open loop, scored
in the real simulator (:mod:`wmplan_agents.reproduce.open_loop`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from registry import PLANNERS as PLANNER_PRESETS
from wmplan_agents.reproduce.common import (
    RunOptions,
    check_positive,
    comparison_table,
    publish,
    pyplot,
    save_figure,
)
from wmplan_agents.reproduce.grasp_common import Grid, cell_row, load_model, preset_kwargs
from wmplan_agents.reproduce.open_loop import CellJob, make_problems, run_cells

# Table 2 of grasp-paper.md: row -> (accuracy %, median time to success in s)
PAPER: dict[str, tuple[float, float]] = {
    "no sync": (1.6, 4.5),
    "sync 10": (48.0, 11.2),
    "sync 25 (full)": (59.0, 8.5),
    "sync 50": (58.0, 9.8),
    "noise x0": (54.8, 10.4),
    "noise x1 (full)": (59.0, 8.5),
    "noise x2": (50.6, 8.4),
    "stop-gradient (full)": (59.0, 8.5),
    "gradient flows": (46.6, 10.3),
}
PRESET_NOISE = float(PLANNER_PRESETS["grasp"].kwargs.get("state_noise", 0.5))


@dataclass(frozen=True)
class GraspTable2Settings:
    """Sizes of Table 2 (defaults: the full-size run)."""

    env: str = "pusht"
    horizon: int = 40
    n_trials: int = 50
    batch: int = 50  # problems per plan call (the unit of work on Ray workers)
    episode_seed: int = 5000
    seed: int = 0
    fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    iterations: int = 400
    sync_every: int = 100
    sync_steps: tuple[int, ...] = (0, 10, 25, 50)
    full_sync_steps: int = 25
    noise_scales: tuple[float, ...] = (0.0, 1.0, 2.0)  # times the preset's state_noise

    def __post_init__(self) -> None:
        check_positive(horizon=self.horizon, n_trials=self.n_trials, iterations=self.iterations)
        check_positive(batch=self.batch)
        check_positive(sync_every=self.sync_every)
        if self.full_sync_steps not in self.sync_steps or 1.0 not in self.noise_scales:
            raise ValueError(
                "sync_steps must include full_sync_steps and noise_scales must include 1.0, got "
                f"{self.sync_steps!r}, {self.noise_scales!r}"
            )

    def variants(self) -> dict[str, dict[str, Any]]:
        """Row label -> GRASP keyword arguments; the full planner's rows share one run."""
        full = {"iterations": self.iterations, "sync_every": self.sync_every,
                "sync_steps": self.full_sync_steps, "state_noise": PRESET_NOISE,
                "stop_gradient": True}  # fmt: skip
        rows: dict[str, dict[str, Any]] = {}
        for k in self.sync_steps:
            name = "no sync" if k == 0 else f"sync {k}"
            rows[name + (" (full)" if k == self.full_sync_steps else "")] = {
                **full,
                "sync_steps": k,
            }
        for x in self.noise_scales:
            name = f"noise x{x:g}" + (" (full)" if x == 1.0 else "")
            rows[name] = {**full, "state_noise": PRESET_NOISE * x}
        rows["stop-gradient (full)"] = full
        rows["gradient flows"] = {**full, "stop_gradient": False}
        return rows


@dataclass
class GraspTable2Result:
    settings: GraspTable2Settings
    grid: Grid
    files: dict[str, str] = field(default_factory=dict)


def run(
    s: GraspTable2Settings,
    progress: bool = False,
    echo: Any = print,
    workers: int = 1,
    address: str | None = None,
) -> Grid:
    model = load_model(s.env)
    problems = make_problems(s.env, s.horizon, [s.episode_seed + i for i in range(s.n_trials)])
    grid = Grid(s.env, s.n_trials, [], {s.horizon: int(problems.start_success.sum())})
    labels: dict[str, list[str]] = {}  # one job per distinct variant, under all its labels
    jobs: dict[str, CellJob] = {}
    for label, kwargs in s.variants().items():
        key = repr(sorted(kwargs.items()))
        if key not in jobs:
            kw = preset_kwargs("grasp", s.env, kwargs)
            jobs[key] = CellJob(model, problems, "grasp", kw, s.fractions, s.seed, label, s.batch)
        labels.setdefault(key, []).append(label)
    cells = run_cells(list(jobs.values()), workers=workers, address=address, progress=progress)
    by_label = {}
    for key, cell in zip(jobs, cells, strict=True):
        for label in labels[key]:
            by_label[label] = dataclasses.replace(cell, planner=label)
    grid.cells = [by_label[label] for label in s.variants()]
    if progress:
        for cell in grid.cells:
            echo(f"  {cell.planner}: {cell.successes}/{cell.n}, {cell.median_time:.3f}s")
    return grid


def table(result: GraspTable2Result) -> str:
    s = result.settings
    rows = [cell_row(c, PAPER.get(c.planner)) for c in result.grid.cells]
    rows.append(("full planner's state_noise (ours; paper 0.5)", f"{PRESET_NOISE:g}", "0.5"))
    return comparison_table(
        rows,
        title=(
            f"GRASP Table 2 ({s.env}, H={s.horizon}, open loop, {s.n_trials} trials per row): "
            "success [Wilson 95%] / median time to success (s per problem); paper: % / s"
        ),
    )


def plot(result: GraspTable2Result, path: Path) -> Path:
    plt = pyplot()
    cells = result.grid.cells
    fig, ax = plt.subplots(figsize=(10, 4))
    rates = np.array([c.rate for c in cells])
    err = np.array([[r - c.interval[0], c.interval[1] - r] for r, c in zip(rates, cells)]).T
    ax.bar(range(len(cells)), 100 * rates, yerr=100 * err, capsize=4, label="measured")
    ax.scatter(range(len(cells)), [PAPER.get(c.planner, (np.nan,))[0] for c in cells],
               color="k", marker="x", zorder=3, label="paper")  # fmt: skip
    ax.set_xticks(range(len(cells)), [c.planner for c in cells], rotation=30, ha="right")
    ax.set_ylabel(f"open-loop success % ({result.grid.n} trials, Wilson 95%)")
    ax.set_ylim(0, 100)
    ax.legend()
    return save_figure(fig, path)


def reproduce(s: GraspTable2Settings, opts: RunOptions) -> GraspTable2Result:
    """Run, print the table, save ``grasp_table2.png`` and ``grasp_table2.json``."""
    out = opts.out
    result = GraspTable2Result(s, run(s, opts.progress, opts.echo, opts.workers, opts.address))
    result.files["plot"] = str(plot(result, out / "grasp_table2.png"))
    publish(result, out / "grasp_table2.json", PAPER, table(result), opts.echo)
    return result
