"""What the defaults do: every planner with nothing but its name, on every problem of the
catalogue (:data:`registry.catalogue.DEFAULT_PROBLEMS`), closed loop.

Each cell is ``evaluate(MPCAgent(model, planner), gym.make(env_id, **model.env_kwargs),
n_episodes, seed)`` with the model the problem names (the env's ground truth or its shipped
model), so it measures exactly what a user gets from the two headline lines. Cells run in
``workers`` processes of one torch thread each.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from typing import Any

from registry import PLANNERS, single_level_planners
from registry.catalogue import DEFAULT_PROBLEMS


@dataclass
class Cell:
    """One (problem, planner) pair over ``episodes`` episodes from ``seed``."""

    problem: str
    env_id: str
    obs_type: str
    source: str
    planner: str
    preset: str
    episodes: int
    seed: int
    successes: int = 0
    plan_time_per_step_s: float = float("nan")
    mean_length: float = float("nan")
    wall_s: float = 0.0
    target: float | None = None
    error: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.successes / self.episodes

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else (self.error is None and self.rate >= self.target)


def target_for(targets: dict[str, float], planner: str) -> float | None:
    """The target of ``planner``: its own, else ``"*"`` (every planner but random shooting)."""
    if planner in targets:
        return targets[planner]
    return targets.get("*") if planner != "random" else None


def make_model(env_id: str, obs_type: str, source: str) -> Any:
    """The model of a problem: the env's ground truth or its shipped model."""
    from wmplan_agents.models import ground_truth, load_pretrained

    if source == "ground-truth":
        return ground_truth(env_id, **({} if obs_type == "state" else {"obs_type": obs_type}))
    if source == "pretrained":
        return load_pretrained(env_id, obs_type)
    raise ValueError(f"model source must be 'ground-truth' or 'pretrained', got {source!r}")


def run_cell(cell: Cell) -> Cell:
    """Evaluate one cell (in this process, one torch thread)."""
    import gymnasium as gym
    import torch

    import wmplan_envs  # noqa: F401
    from wmplan_agents.agent import MPCAgent
    from wmplan_agents.evaluation import evaluate

    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        model = make_model(cell.env_id, cell.obs_type, cell.source)
        agent = MPCAgent(model, cell.planner, **cell.overrides)
        cell.preset = str(agent.preset)
        env = gym.make(cell.env_id, **model.env_kwargs)
        try:
            result = evaluate(agent, env, cell.episodes, cell.seed, progress=False)
        finally:
            env.close()
        cell.successes = int(sum(result.successes))
        cell.plan_time_per_step_s = result.plan_time_per_step_s
        cell.mean_length = result.mean_length
    except Exception as err:  # reported in the table, never hidden
        cell.error = f"{type(err).__name__}: {err}"
    cell.wall_s = time.perf_counter() - start
    return cell


def defaults_table(
    *,
    problems: list[str] | None = None,
    planners: list[str] | None = None,
    episodes: int = 20,
    seed: int = 1000,
    workers: int = 2,
    overrides: dict[str, Any] | None = None,
    echo: Any = print,
) -> list[Cell]:
    """Run every cell; ``problems``: labels or env ids to keep (default all); ``overrides``:
    MPCAgent keyword arguments for every cell (for tuning; the table itself uses none)."""
    if episodes < 1 or workers < 1:
        raise ValueError(f"episodes and workers must be >= 1, got {episodes}, {workers}")
    planners = list(planners or single_level_planners())
    unknown = sorted(set(planners) - set(PLANNERS))
    if unknown:
        raise ValueError(f"unknown planners {unknown}; expected some of {sorted(PLANNERS)}")
    cells = []
    for label, env_id, obs, source, targets in DEFAULT_PROBLEMS:
        if problems and not any(p in (label, env_id, f"{env_id}:{obs}") or p in label
                                for p in problems):  # fmt: skip
            continue
        for planner in planners:
            cells.append(
                Cell(label, env_id, obs, source, planner, "", episodes, seed,
                     target=target_for(targets, planner), overrides=dict(overrides or {}))
            )  # fmt: skip
    if not cells:
        raise ValueError(f"no problem matches {problems!r}")
    done: list[Cell] = []
    if workers == 1:
        for cell in cells:
            done.append(run_cell(cell))
            echo(format_row(done[-1]))
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for cell in pool.map(run_cell, cells):
                done.append(cell)
                echo(format_row(cell))
    return done


def format_row(cell: Cell) -> str:
    if cell.error is not None:
        outcome = f"error ({cell.error[:80]})"
    else:
        outcome = (
            f"{cell.successes}/{cell.episodes} ({100 * cell.rate:.0f}%)  "
            f"{1000 * cell.plan_time_per_step_s:.1f} ms/step"
        )
    mark = {True: "meets", False: "BELOW", None: ""}[cell.meets_target]
    target = f"target {100 * cell.target:.0f}% {mark}" if cell.target is not None else ""
    return f"{cell.problem:34s} {cell.planner:7s} {outcome:36s} {target}"


def markdown(cells: list[Cell]) -> str:
    """The table as Markdown: one row per problem, one column per planner."""
    planners = list(dict.fromkeys(c.planner for c in cells))
    problems = list(dict.fromkeys(c.problem for c in cells))
    lines = [
        "| problem | " + " | ".join(planners) + " |",
        "|---|" + "---|" * len(planners),
    ]
    for problem in problems:
        row = []
        for planner in planners:
            cell = next((c for c in cells if c.problem == problem and c.planner == planner), None)
            if cell is None:
                row.append("")
            elif cell.error is not None:
                row.append("error")
            else:
                row.append(
                    f"{cell.successes}/{cell.episodes}, {1000 * cell.plan_time_per_step_s:.0f} ms"
                )
        lines.append(f"| {problem} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def to_json(cells: list[Cell]) -> str:
    return json.dumps([asdict(c) for c in cells], indent=1)


__all__ = ["Cell", "defaults_table", "markdown", "run_cell", "target_for"]
