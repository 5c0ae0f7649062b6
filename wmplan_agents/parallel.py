"""Run independent trials on Ray workers: ``run_tasks(fn, tasks, workers=N, address=None)``.

:func:`~wmplan_agents.evaluate` and the reproductions' trial loops cut their work into shards
(episodes, or trials of one open-loop cell) that depend only on their own seeds, run them here,
and merge the results in shard order, so a run with ``workers=N`` gives the same numbers as the
serial run. ``workers=1`` without ``address`` runs in this process and needs no Ray.

With ``workers > 1`` (or an ``address``) the shards go to Ray tasks, at most ``workers`` at a
time, each with one CPU and one torch thread. Without ``address`` a local Ray is started with
``workers`` CPUs (or the one already running in this process is used, and left running);
``address="auto"`` or ``"ray://host:10001"`` joins an existing cluster, whose nodes need wmplan
installed. Ray is the extra ``pip install "wmplan[ray]"``.

What travels to a worker is a recipe, not live objects where that can be avoided: a model the
library can checkpoint goes as its checkpoint's bytes and is loaded there (nothing in it is
executed), a ground-truth model as its env id and kwargs; other models, planner instances and
custom costs are pickled by Ray.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from wmplan_agents.contracts import WorldModel
from wmplan_envs.core import check_int

INSTALL = 'pip install "wmplan[ray]"'


def require_ray() -> Any:
    """The ``ray`` module, or ``ImportError`` with the install line."""
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            f"running on more than one worker needs Ray, which is not installed: {INSTALL}"
        ) from err
    return ray


def check_workers(workers: Any, address: Any = None) -> int:
    """``workers`` as an int >= 1; ``address`` must be ``None`` or a string."""
    workers = check_int("workers", workers, 1)
    if address is not None and not isinstance(address, str):
        raise ValueError(f"address must be a Ray address string or None, got {address!r}")
    return workers


def uses_ray(workers: int, address: str | None) -> bool:
    return workers > 1 or address is not None


def _start_ray(workers: int, address: str | None) -> Any:
    ray = require_ray()
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus < 1:
        raise RuntimeError(f"the Ray cluster has no CPUs to run on ({ray.cluster_resources()})")
    return ray


def _run_one(fn: Callable[..., Any], task: Any) -> Any:
    torch.set_num_threads(1)
    return fn(task)


def run_tasks(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    workers: int = 1,
    address: str | None = None,
    progress: bool = False,
    desc: str = "",
    weights: Sequence[int] | None = None,
) -> list[Any]:
    """``[fn(t) for t in tasks]``, on up to ``workers`` Ray workers when ``workers > 1`` or an
    ``address`` is given. ``fn`` must be importable by the workers (a module-level function)
    and each task picklable. ``progress`` shows a bar advancing by ``weights[i]`` (default 1)
    as task ``i`` finishes. An exception in a task is raised here."""
    workers = check_workers(workers, address)
    weights = [1] * len(tasks) if weights is None else list(weights)
    bar = tqdm(total=sum(weights), desc=desc, disable=not progress, leave=False)
    try:
        if not uses_ray(workers, address):
            out = []
            for t, w in zip(tasks, weights, strict=True):
                out.append(fn(t))
                bar.update(w)
            return out
        ray = _start_ray(workers, address)
        remote = ray.remote(num_cpus=1, max_retries=0)(_run_one)
        fn_ref = ray.put(fn)
        results: list[Any] = [None] * len(tasks)
        pending: dict[Any, int] = {}
        queue = list(range(len(tasks)))
        while queue or pending:
            while queue and len(pending) < workers:
                i = queue.pop(0)
                pending[remote.remote(fn_ref, tasks[i])] = i
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    results[i] = ray.get(ref)
                except ray.exceptions.RayTaskError as err:
                    for other in pending:
                        ray.cancel(other)
                    cause = err.as_instanceof_cause()
                    raise cause from None
                bar.update(weights[i])
        return results
    finally:
        bar.close()


def shards(n: int, workers: int, per_worker: int = 4) -> list[range]:
    """``range(n)`` cut into contiguous pieces: one piece for one worker, else up to
    ``per_worker`` pieces per worker (so the bar moves and uneven pieces balance)."""
    k = 1 if workers <= 1 else min(n, workers * per_worker)
    bounds = [round(i * n / k) for i in range(k + 1)]
    return [range(a, b) for a, b in itertools.pairwise(bounds) if b > a]


# -- recipes: what a worker rebuilds ---------------------------------------------------------


@dataclass(frozen=True)
class ModelRecipe:
    """How a worker gets the model: ``kind`` is ``"checkpoint"`` (``data`` = the config JSON
    and the safetensors bytes), ``"ground_truth"`` (``data`` = env id, env kwargs,
    action_repeat) or ``"object"`` (``data`` = the model itself, pickled)."""

    kind: str
    data: Any


def model_recipe(model: WorldModel) -> ModelRecipe:
    """The recipe a worker rebuilds ``model`` from (see :class:`ModelRecipe`)."""
    from wmplan_agents import checkpoint
    from wmplan_agents.contracts import model_env
    from wmplan_agents.models.ground_truth import GroundTruthModel

    env_id, env_kwargs = model_env(model)
    if isinstance(model, GroundTruthModel) and env_id is not None:
        return ModelRecipe("ground_truth", (env_id, env_kwargs, model.action_repeat))
    if type(model) in checkpoint.model_classes().values():  # exported, with get_config
        with tempfile.TemporaryDirectory() as tmp:
            json_path, weights_path = checkpoint.save(model, Path(tmp) / "model")
            data = (json_path.read_text(), weights_path.read_bytes())
        return ModelRecipe("checkpoint", data)
    return ModelRecipe("object", model)


def build_model(recipe: ModelRecipe, device: str | torch.device = "cpu") -> Any:
    """The model a :class:`ModelRecipe` describes, on ``device``."""
    from wmplan_agents import checkpoint
    from wmplan_agents.models.ground_truth import ground_truth

    if recipe.kind == "ground_truth":
        env_id, env_kwargs, repeat = recipe.data
        return ground_truth(env_id, action_repeat=repeat, **env_kwargs)
    if recipe.kind == "checkpoint":
        config, weights = recipe.data
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "model.json").write_text(config)
            (Path(tmp) / "model.safetensors").write_bytes(weights)
            return checkpoint.load(Path(tmp) / "model", map_location=device)
    if recipe.kind == "object":
        return recipe.data
    raise ValueError(f"unknown model recipe kind {recipe.kind!r}")


@dataclass(frozen=True)
class AgentRecipe:
    """An :class:`~wmplan_agents.MPCAgent` as its model's recipe and its constructor arguments
    (``agent`` is ``None``), or any other agent pickled whole (``agent``)."""

    model: ModelRecipe | None
    init_args: dict[str, Any]
    agent: Any = None


def agent_recipe(agent: Any) -> AgentRecipe:
    from wmplan_agents.agent import MPCAgent

    if isinstance(agent, MPCAgent):
        return AgentRecipe(model_recipe(agent.model), dict(agent.init_args))
    return AgentRecipe(None, {}, agent)


def build_agent(recipe: AgentRecipe) -> Any:
    from wmplan_agents.agent import MPCAgent

    if recipe.model is None:
        return recipe.agent
    args = dict(recipe.init_args)
    model = build_model(recipe.model, args.get("device", "cpu"))
    return MPCAgent(model, **args)


__all__ = [
    "AgentRecipe",
    "ModelRecipe",
    "agent_recipe",
    "build_agent",
    "build_model",
    "check_workers",
    "model_recipe",
    "require_ray",
    "run_tasks",
    "shards",
]
