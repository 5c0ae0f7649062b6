"""Planning as Descent on OGBench's cube tasks: success on the 5 evaluation tasks.

``cubes=1`` (the default) is ``WMPlan/CubeSingle-v0``, ``cubes=2`` ``WMPlan/CubeDouble-v0``. For
each data regime (OGBench's ``play`` and ``noisy`` oracles) and with and without the
projector, a PaD model is loaded from ``models_dir`` (the checkpoints ``scripts/train_pad.py``
writes: ``cubesingle_pad[_noisy][_noproj]``, ``cubedouble_...`` for two cubes) or, if absent,
trained here on ``steps`` oracle steps for ``train_minutes``. Each model runs as
``MPCAgent(model, "pad", replan_every=N)`` on every task (``reset(options={"task_id": k})``,
``episodes`` episodes each, seeds ``seed + i``) for each replanning interval ``N``.
Reported: success per task and overall [Wilson 95%], and the mean episode length of the
successes. Baselines on the same data: CEM and GRASP (registry presets) with an
``MLPDynamics`` trained on it, at their preset interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wmplan_agents.reproduce.common import (
    RunOptions,
    check_positive,
    comparison_table,
    format_rate,
    publish,
)

ENV_IDS = {1: "WMPlan/CubeSingle-v0", 2: "WMPlan/CubeDouble-v0"}
PREFIXES = {1: "cubesingle", 2: "cubedouble"}  # of checkpoint and data-cache names
# the paper's claims (planning-as-descent-summary.md): success %, mean episode length
PAPER: dict[str, Any] = {
    "success": {"PaD": 95.0, "best prior method": 68.0},
    "projector ablation (noisy data)": {"with": 98.0, "without": 50.0},
    "mean length of successes": {"play": 78, "noisy": 63},
}


@dataclass(frozen=True)
class PadSettings:
    """Sizes of the reproduction (defaults: the full protocol)."""

    data: tuple[str, ...] = ("play", "noisy")
    projector: tuple[bool, ...] = (True, False)
    replan: tuple[int, ...] = (1, 2, 4, 8, 16)
    tasks: tuple[int, ...] = (1, 2, 3, 4, 5)
    episodes: int = 20
    seed: int = 0
    cubes: int = 1  # 1: CubeSingle, 2: CubeDouble
    models_dir: str = ""  # default: the shipped models' folder
    steps: int = 150_000  # oracle steps when a model must be trained here
    episode_steps: int = 1000  # steps per data episode (OGBench's datasets: 1,000)
    train_minutes: float = 25.0
    max_steps: int | None = None  # episode budget; default the env's (200 / 500, as OGBench)
    baselines: tuple[str, ...] = ("cem", "grasp")
    baseline_epochs: int = 30

    def __post_init__(self) -> None:
        check_positive(episodes=self.episodes, steps=self.steps)
        if self.max_steps is not None:
            check_positive(max_steps=self.max_steps)
        if isinstance(self.cubes, bool) or self.cubes not in ENV_IDS:
            raise ValueError(f"cubes must be 1 or 2, got {self.cubes!r}")
        check_positive(episode_steps=self.episode_steps)
        if not self.data or set(self.data) - {"play", "noisy"}:
            raise ValueError(f"data must be some of ('play', 'noisy'), got {self.data!r}")
        if not self.replan or min(self.replan) < 1:
            raise ValueError(f"replan must be positive integers, got {self.replan!r}")
        if not self.tasks or not set(self.tasks) <= {1, 2, 3, 4, 5}:
            raise ValueError(f"tasks must be some of 1..5, got {self.tasks!r}")
        if not self.train_minutes > 0:
            raise ValueError(f"train_minutes must be positive, got {self.train_minutes!r}")

    @property
    def env_id(self) -> str:
        return ENV_IDS[self.cubes]


@dataclass
class Row:
    """One agent on every task: successes and lengths per task."""

    label: str
    data: str
    successes: dict[int, list[bool]]
    lengths: dict[int, list[int]]

    @property
    def n(self) -> int:
        return sum(len(v) for v in self.successes.values())

    @property
    def total(self) -> int:
        return int(sum(sum(v) for v in self.successes.values()))

    @property
    def mean_success_length(self) -> float:
        lens = [
            n for k in self.successes for ok, n in zip(self.successes[k], self.lengths[k]) if ok
        ]
        return float(np.mean(lens)) if lens else float("nan")


@dataclass
class PadResult:
    settings: PadSettings
    rows: list[Row] = field(default_factory=list)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def model_name(data: str, projector: bool, cubes: int = 1) -> str:
    """The checkpoint name of a PaD model (``scripts/train_pad.py`` writes these)."""
    data_part = "" if data == "play" else f"_{data}"
    return f"{PREFIXES[cubes]}_pad{data_part}{'' if projector else '_noproj'}"


def _dataset(data: str, s: PadSettings, progress: bool) -> Any:
    from wmplan_agents.data import collect

    env_kwargs = {"mode": "data_collection", "max_steps": s.episode_steps}
    return collect(s.env_id, data, s.steps, seed=s.seed, progress=progress, env_kwargs=env_kwargs)


def _pad_model(data: str, projector: bool, s: PadSettings, folder: Path, cache: dict,
               progress: bool) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """The PaD model for (data, projector): loaded if saved, else trained and saved."""
    from wmplan_agents import checkpoint
    from wmplan_agents.contracts import set_model_env
    from wmplan_agents.models.pad import PaDModel, train_pad

    path = folder / model_name(data, projector, s.cubes)
    if path.with_suffix(".json").exists():
        meta = checkpoint.read_config(path).get("metadata", {})
        return checkpoint.load(path), {"source": str(path), **meta}
    if data not in cache:
        cache[data] = _dataset(data, s, progress)
    dataset = cache[data]
    model = PaDModel(dataset.observations.shape[1], dataset.action_space, projector=projector)
    result = train_pad(
        model, dataset, seed=s.seed, time_limit_s=60 * s.train_minutes, progress=progress
    )
    set_model_env(model, s.env_id, {})
    meta = {"trained_here": True, "updates": result.updates, "train_s": result.wall_s,
            "steps": s.steps}  # fmt: skip
    checkpoint.save(model, path, metadata=meta)
    return model, {"source": str(path), **meta}


def _run(label: str, data: str, agent: Any, s: PadSettings, workers: int, address: Any) -> Row:
    from wmplan_agents.evaluation import evaluate

    row = Row(label, data, {}, {})
    budget = {} if s.max_steps is None else {"max_steps": s.max_steps}
    for k in s.tasks:
        res = evaluate(
            agent, s.env_id, s.episodes, s.seed, progress=False, workers=workers,
            address=address, options={"task_id": k}, **budget,
        )  # fmt: skip
        row.successes[k], row.lengths[k] = res.successes, res.lengths
    return row


def table(result: PadResult) -> str:
    s = result.settings
    rows = []
    for r in result.rows:
        per_task = " ".join(f"{sum(r.successes[k])}/{len(r.successes[k])}" for k in s.tasks)
        measured = (
            f"{format_rate(r.total, r.n)}; tasks {per_task}; "
            f"mean length of successes {r.mean_success_length:.0f}"
        )
        if s.cubes != 1:
            ref = "no paper number (the paper reports one cube)"
        elif r.label.startswith("PaD") and r.data == "noisy":  # the paper's projector ablation
            ablation = PAPER["projector ablation (noisy data)"]
            rate = ablation["without" if "no projector" in r.label else "with"]
            ref = f"{rate:.0f}%; length {PAPER['mean length of successes']['noisy']}"
        elif r.label.startswith("PaD"):
            length = PAPER["mean length of successes"][r.data]
            ref = f"{PAPER['success']['PaD']:.0f}%; length {length}"
        else:
            ref = f"prior methods up to {PAPER['success']['best prior method']:.0f}%"
        rows.append((f"{r.data}: {r.label}", measured, ref))
    return comparison_table(
        rows,
        title=(
            f"PaD on {s.env_id.split('/')[1][:-3]} ({s.episodes} episodes per task, tasks "
            f"{list(s.tasks)}): success [Wilson 95%], per task, mean episode length of "
            "successes; paper"
        ),
    )


def reproduce(s: PadSettings, opts: RunOptions) -> PadResult:
    """Run, print the table and write ``pad.json``."""
    from wmplan_agents.agent import MPCAgent
    from wmplan_agents.models.pretrained import PRETRAINED_DIR

    out = opts.out
    folder = Path(s.models_dir) if s.models_dir else PRETRAINED_DIR
    result = PadResult(s)
    cache: dict[str, Any] = {}
    for data in s.data:
        for projector in s.projector:
            model, meta = _pad_model(data, projector, s, folder, cache, opts.progress)
            result.models[model_name(data, projector, s.cubes)] = meta
            for n in s.replan:
                label = f"PaD{'' if projector else ' (no projector)'}, N={n}"
                agent = MPCAgent(model, "pad", replan_every=n)
                result.rows.append(_run(label, data, agent, s, opts.workers, opts.address))
                if opts.progress:
                    opts.echo(f"  {data} {label}: {result.rows[-1].total}/{result.rows[-1].n}")
        for name in s.baselines:
            dynamics = _baseline_model(data, s, cache, opts.progress)
            agent = MPCAgent(dynamics, name)
            result.rows.append(_run(f"{name.upper()} + MLPDynamics", data, agent, s, opts.workers,
                                    opts.address))  # fmt: skip
    publish(result, out / "pad.json", PAPER, table(result), opts.echo)
    return result


def _baseline_model(data: str, s: PadSettings, cache: dict, progress: bool) -> Any:
    """An ``MLPDynamics`` on the same oracle data (trained once per data regime)."""
    from wmplan_agents.contracts import set_model_env
    from wmplan_agents.models.mlp import MLPDynamics
    from wmplan_agents.training import train

    key = f"mlp-{data}"
    if key not in cache:
        if data not in cache:
            cache[data] = _dataset(data, s, progress)
        dataset = cache[data]
        model = MLPDynamics(dataset.observations.shape[1], dataset.action_space, seed=s.seed)
        train(model, dataset, epochs=s.baseline_epochs, seed=s.seed, progress=progress)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        cache[key] = set_model_env(model, s.env_id, {})
    return cache[key]


__all__ = ["PAPER", "PadResult", "PadSettings", "reproduce", "table"]
