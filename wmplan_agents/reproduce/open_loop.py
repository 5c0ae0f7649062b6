"""Open-loop planning trials for the GRASP tables: problems, batched plans, real-simulator scoring.

One *cell* of a GRASP table is one planner at one horizon on one env. Its trials are ``n`` planning
problems (fixed seeds, the same for every planner), planned together in one batched ``plan()``
call and then executed, all planned actions, open loop, in ``n`` copies of the real simulator.

* **Horizon**: ``H`` counts env steps (the paper's Fig. 1 plans ``R^{50 x 2}`` at ``H = 50``); the
  model plans ``H / action_repeat`` model steps (Push-T: ``action_repeat = 5``, so ``H = 40`` is 8
  model steps).
* **Goal**: the state the env's data-like policy reaches ``H`` env steps after the start, so every
  goal is reachable within the horizon. Push-T: the env's own ``goal="reachable"`` with
  ``goal_steps = H`` (DINO-WM's setting, with ``H`` instead of 25); WallSingle and PointMaze: the
  policy of :func:`wmplan_agents.data.default_policy` (von Mises random walk, uniform forces) is
  replayed from the start, and the state it ends in is the goal.
* **Success in the simulator**: the env's own test (``compute_success``) between the reached state
  and the goal state, at the end of the plan (``success``) and, separately, at any env step of it
  (``success_any``).
* **Success under the model**: the same test applied to the model's predicted final state (the
  latent decoded by ``model.to_state``; Push-T's cos/sin angle features turned back into an angle);
  ``None`` for a model without a state decoder.
* **Time**: each planner runs at a ladder of budgets (fractions of its ``iterations``); the time
  of a rung is the batched wall time divided by ``n`` (seconds per problem); a trial's time to
  success is the time of the cheapest rung whose plan succeeds in the simulator, counted for
  trials that succeed at the full budget. The simulator only scores finished plans; it never
  steers a planner. The same ladder gives a time to success *under the model* (the paper's
  metric, its Sec. 4.2), from the rungs whose plan succeeds under the model.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from registry.benchmarks import BENCHMARK_ENVS
from wmplan_agents.contracts import StateDecoder, WorldModel
from wmplan_agents.reproduce.common import wilson_interval
from wmplan_envs.core import check_int

ENVS = BENCHMARK_ENVS  # the tables' envs, from the catalogue


@dataclass
class Problems:
    """``n`` planning problems: start and goal observations and the true goal states."""

    env_name: str
    horizon: int  # env steps
    seeds: list[int]
    start_obs: np.ndarray  # [n, obs]
    goal_obs: np.ndarray  # [n, obs]
    goal_states: np.ndarray  # [n, state]
    start_success: np.ndarray  # [n] the start already passes the success test
    goal_actions: np.ndarray  # [n, horizon, ...] env actions that reach each goal from its start
    reset_options: list[dict[str, Any]] | None = None  # per problem, for env.reset(options=)

    def reset(self, env: Any, i: int) -> Any:
        """Reset ``env`` to problem ``i``'s start: ``(obs, info)``."""
        opts = None if self.reset_options is None else self.reset_options[i]
        return env.reset(seed=self.seeds[i], options=opts)

    @property
    def n(self) -> int:
        return len(self.seeds)

    def subset(self, rows: range | list[int]) -> Problems:
        """The problems ``rows`` (in that order)."""
        idx = list(rows)
        return dataclasses.replace(
            self,
            seeds=[self.seeds[i] for i in idx],
            start_obs=self.start_obs[idx],
            goal_obs=self.goal_obs[idx],
            goal_states=self.goal_states[idx],
            start_success=self.start_success[idx],
            goal_actions=self.goal_actions[idx],
            reset_options=(
                None if self.reset_options is None else [self.reset_options[i] for i in idx]
            ),
        )


class HeldForcePolicy:
    """A unit force in a direction drawn once per episode (uniform angle), held throughout."""

    wants_state = False

    def __init__(self) -> None:
        self._action: np.ndarray | None = None

    def reset(self) -> None:
        self._action = None

    def __call__(self, obs: Any, rng: np.random.Generator) -> np.ndarray:
        if self._action is None:
            angle = rng.uniform(0.0, 2 * math.pi)
            self._action = np.array([math.cos(angle), math.sin(angle)], dtype=np.float32)
        return self._action


def _make(env_name: str, horizon: int) -> Any:
    import wmplan_envs  # noqa: F401

    if env_name not in ENVS:
        raise ValueError(f"unknown env {env_name!r}; expected one of {sorted(ENVS)}")
    setup = ENVS[env_name]
    kwargs = dict(setup.kwargs)
    if setup.goal_from_env:
        kwargs["goal_steps"] = horizon
    return gym.make(setup.env_id, **kwargs).unwrapped


def _scorer(env_name: str, horizon: int, env: Any) -> Any:
    """What scores states: ``env`` itself, or for an env with pixel observations (whose success
    test reads states from ``info``) the same env with state observations."""
    if ENVS[env_name].kwargs.get("obs_type", "state") == "state":
        return env
    twin = dict(ENVS[env_name].kwargs, obs_type="state")
    twin.pop("image_size", None)
    if ENVS[env_name].goal_from_env:
        twin["goal_steps"] = horizon
    return gym.make(ENVS[env_name].env_id, **twin).unwrapped


def _success(env: Any, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
    return np.asarray(env.compute_success(state, goal), dtype=bool)


def make_problems(env_name: str, horizon: int, seeds: list[int]) -> Problems:
    """One problem per seed, with a goal ``horizon`` env steps of the data-like policy away."""
    from wmplan_agents.data import default_policy

    if horizon < 1 or not seeds:
        raise ValueError(f"need horizon >= 1 and at least one seed, got {horizon}, {seeds}")
    env = _make(env_name, horizon)
    policy: Any = None
    if env_name == "pointmaze":
        policy = HeldForcePolicy()
    elif not ENVS[env_name].goal_from_env:
        policy = default_policy(env)
    start, start_states, goal_obs, goal_states, goal_actions = [], [], [], [], []
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        start.append(obs["observation"])
        start_states.append(np.asarray(info["state"], dtype=np.float64))
        if policy is None:
            goal_obs.append(obs["desired_goal"])
            goal_states.append(info["goal_state"])
            goal_actions.append(np.asarray(env.goal_actions))
        else:
            if hasattr(policy, "reset"):
                policy.reset()
            rng = np.random.default_rng(seed)
            acts = []
            for _ in range(horizon):
                key = info["state"] if getattr(policy, "wants_state", False) else obs
                acts.append(np.asarray(policy(key, rng), dtype=np.float32))
                obs, _, _, _, info = env.step(acts[-1])
            goal_actions.append(np.stack(acts))
            goal_obs.append(obs["observation"])
            goal_states.append(info["state"])
    env.close()
    goal_states_arr = np.stack(goal_states).astype(np.float64)
    start_arr = np.stack(start)
    scorer = _scorer(env_name, horizon, env)
    starts_ok = _success(scorer, np.stack(start_states), goal_states_arr)
    return Problems(
        env_name,
        horizon,
        list(seeds),
        start_arr,
        np.stack(goal_obs),
        goal_states_arr,
        starts_ok,
        np.stack(goal_actions),
    )


def execute(problems: Problems, env_actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run each problem's env actions ``[n, H, ...]`` open loop from its start in the real
    simulator: ``(success at the end, success at any step)``, both ``[n]`` bool."""
    if len(env_actions) != problems.n:
        raise ValueError(f"got actions for {len(env_actions)} problems, expected {problems.n}")
    env = _make(problems.env_name, problems.horizon)
    scorer = _scorer(problems.env_name, problems.horizon, env)
    final = np.zeros(problems.n, dtype=bool)
    anytime = np.zeros(problems.n, dtype=bool)
    for i in range(problems.n):
        _, info = problems.reset(env, i)
        hit = False
        for action in env_actions[i]:
            _, _, _, _, info = env.step(action)
            state = np.asarray(info["state"], dtype=np.float64)
            hit = hit or bool(_success(scorer, state, problems.goal_states[i]))
        end = np.asarray(info["state"], dtype=np.float64)
        final[i] = bool(_success(scorer, end, problems.goal_states[i]))
        anytime[i] = hit
    env.close()
    return final, anytime


def zero_action_success(problems: Problems) -> np.ndarray:
    """End-of-plan success of doing nothing (all-zero env actions): how easy the problems are."""
    env = _make(problems.env_name, problems.horizon)
    shape = env.action_space.shape
    env.close()
    zeros = np.zeros((problems.n, problems.horizon, *shape), dtype=np.float32)
    return execute(problems, zeros)[0]


def decode_state(model: WorldModel, z: torch.Tensor) -> np.ndarray | None:
    """The model's latent ``[B, D]`` as env states (``None`` without a state decoder)."""
    if not isinstance(model, StateDecoder):
        return None
    with torch.no_grad():
        x = model.to_state(z).double().cpu().numpy()
    dims = tuple(getattr(model, "angle_dims", ()))
    if not dims:
        return x
    raw = int(model.raw_dim)
    keep = [i for i in range(raw) if i not in dims]
    out = np.zeros((len(x), raw))
    out[:, keep] = x[:, : len(keep)]
    trig = x[:, len(keep) :].reshape(len(x), len(dims), 2)
    out[:, list(dims)] = np.arctan2(trig[..., 1], trig[..., 0]) % (2 * np.pi)
    return out


def model_success(
    model: WorldModel, problems: Problems, z0: torch.Tensor, actions: torch.Tensor
) -> list[bool] | None:
    """The model's own verdict on a plan: the env's success test on the decoded final latent of
    ``actions`` (model actions ``[n, steps, ...]``) from ``z0``; ``None`` without a decoder."""
    from wmplan_agents import contracts

    with torch.no_grad():
        pred = contracts.rollout(model, z0, actions)[:, -1]
    decoded = decode_state(model, pred)
    if decoded is None:
        return None
    env = _make(problems.env_name, problems.horizon)
    try:
        scorer = _scorer(problems.env_name, problems.horizon, env)
        return _success(scorer, decoded, problems.goal_states).tolist()
    finally:
        env.close()


@dataclass
class Cell:
    """One planner at one horizon: per-trial outcomes at the full budget and per rung."""

    planner: str
    horizon: int
    model_steps: int
    n: int
    iterations: list[int]  # per rung
    rung_time_s: list[float]  # per rung, seconds per problem (batched wall time / n)
    success: list[bool]  # full budget, end of the plan, real simulator
    success_any: list[bool]  # full budget, any step of the plan
    success_model: list[bool] | None  # full budget, model's predicted final state
    time_to_success: list[float]  # per trial; nan unless it succeeded at the full budget
    rung_successes: list[int]  # per rung, end-of-plan successes
    rung_evals: list[int] = field(default_factory=list)  # per rung, model rows evaluated / n
    rung_model_successes: list[int] = field(default_factory=list)  # per rung, under the model
    planned_cost: list[float] = field(default_factory=list)  # full budget, the planner's cost
    # per trial, like time_to_success but for success under the model (None without a decoder)
    time_to_success_model: list[float] | None = None
    errors: list[str] = field(
        default_factory=list
    )  # PlanningError per failed rung (all trials fail)

    @property
    def successes(self) -> int:
        return int(np.sum(self.success))

    @property
    def rate(self) -> float:
        return self.successes / self.n

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.n)

    @property
    def median_time(self) -> float:
        t = [v for v in self.time_to_success if math.isfinite(v)]
        return float(np.median(t)) if t else math.nan

    @property
    def median_time_model(self) -> float:
        t = [v for v in self.time_to_success_model or [] if math.isfinite(v)]
        return float(np.median(t)) if t else math.nan

    @property
    def model_successes(self) -> int | None:
        return None if self.success_model is None else int(np.sum(self.success_model))


class CountingModel:
    """A world model that counts the rows it is asked to step (``rows``: one per one-step
    prediction, forward passes only, ``rollout`` counted per step); every other attribute is the
    wrapped model's. Planners see it as the model itself."""

    def __init__(self, model: WorldModel) -> None:
        self.__dict__["_model"] = model
        self.__dict__["rows"] = 0

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        self.__dict__["rows"] += int(z.shape[0])
        return self._model.step(z, a)

    def __getattr__(self, name: str) -> Any:
        inner = getattr(self.__dict__["_model"], name)
        if name != "rollout":
            return inner

        def rollout(z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            self.__dict__["rows"] += int(z0.shape[0]) * int(actions.shape[1])
            return inner(z0, actions)

        return rollout

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "rows":
            self.__dict__["rows"] = value
        else:
            setattr(self._model, name, value)


def run_cell(
    model: WorldModel,
    problems: Problems,
    planner: str,
    planner_kwargs: dict[str, Any],
    fractions: tuple[float, ...] = (1.0,),
    seed: int = 0,
    label: str | None = None,
    *,
    batch: int | None = None,
    workers: int = 1,
    address: str | None = None,
) -> Cell:
    """Plan all problems at each budget rung (batched), execute each plan, score the trials.
    ``batch``, ``workers``, ``address``: see :func:`run_cells`."""
    job = CellJob(model, problems, planner, planner_kwargs, fractions, seed, label, batch)
    return run_cells([job], workers=workers, address=address)[0]


@dataclass(frozen=True)
class CellJob:
    """The arguments of one :func:`run_cell`."""

    model: WorldModel
    problems: Problems
    planner: str
    planner_kwargs: dict[str, Any]
    fractions: tuple[float, ...] = (1.0,)
    seed: int = 0
    label: str | None = None
    batch: int | None = None  # problems per plan call (None: all in one)

    def blocks(self) -> list[CellJob]:
        """This job as jobs of at most ``batch`` consecutive problems each."""
        n = self.problems.n
        size = n if self.batch is None else check_int("batch", self.batch, 1)
        if size >= n:
            return [self]
        return [
            dataclasses.replace(self, problems=self.problems.subset(range(i, min(i + size, n))))
            for i in range(0, n, size)
        ]


def run_cells(
    jobs: list[CellJob],
    *,
    workers: int = 1,
    address: str | None = None,
    progress: bool = False,
) -> list[Cell]:
    """:func:`run_cell` for each job, in order.

    Each job's problems are planned in blocks of ``job.batch`` problems (one batched plan call
    each; ``None``: all at once), and the blocks' cells are merged (:func:`merge_cells`). A
    block is the unit of work: ``workers > 1`` (or a Ray ``address``) runs the blocks as Ray
    tasks (:mod:`wmplan_agents.parallel`), each rebuilding its model from a recipe, and since
    the blocks are the same either way, the plans and outcomes equal the serial run's. (A
    batched model call rounds differently at another batch size, so the blocks, not the
    workers, fix the numbers; a diverged plan fails the trials of its block.)
    """
    from wmplan_agents import parallel

    workers = parallel.check_workers(workers, address)
    blocks = [job.blocks() for job in jobs]
    flat = [block for job_blocks in blocks for block in job_blocks]
    weights = [block.problems.n for block in flat]
    if not parallel.uses_ray(workers, address):
        cells = parallel.run_tasks(
            _run_cell, flat, progress=progress, desc="open-loop cells", weights=weights
        )
    else:
        recipes: dict[int, Any] = {}
        tasks = []
        for block in flat:
            if id(block.model) not in recipes:
                recipes[id(block.model)] = parallel.model_recipe(block.model)
            tasks.append((recipes[id(block.model)], dataclasses.replace(block, model=None)))
        cells = parallel.run_tasks(
            _cell_task, tasks, workers=workers, address=address, progress=progress,
            desc="open-loop cells", weights=weights,
        )  # fmt: skip
    out, start = [], 0
    for job_blocks in blocks:
        out.append(merge_cells(cells[start : start + len(job_blocks)]))
        start += len(job_blocks)
    return out


def _cell_task(task: tuple[Any, CellJob]) -> Cell:
    """One block on a worker: rebuild the model, plan and score the problems."""
    from wmplan_agents import parallel

    recipe, job = task
    return _run_cell(dataclasses.replace(job, model=parallel.build_model(recipe)))


def merge_cells(cells: list[Cell]) -> Cell:
    """One cell from the cells of consecutive blocks of the same problems: per-trial lists in
    order, per-rung counts summed, per-rung times and evaluations averaged over trials."""
    if len(cells) == 1:
        return cells[0]
    first = cells[0]
    n = sum(c.n for c in cells)

    def concat(name: str) -> list | None:
        parts = [getattr(c, name) for c in cells]
        return None if any(p is None for p in parts) else [x for p in parts for x in p]

    def per_trial_mean(name: str) -> list[float]:
        per_rung = zip(*(getattr(c, name) for c in cells), strict=True)
        return [sum(v * c.n for v, c in zip(vs, cells, strict=True)) / n for vs in per_rung]

    def summed(name: str) -> list[int]:
        return [int(sum(v)) for v in zip(*(getattr(c, name) for c in cells), strict=True)]

    return Cell(
        planner=first.planner,
        horizon=first.horizon,
        model_steps=first.model_steps,
        n=n,
        iterations=first.iterations,
        rung_time_s=per_trial_mean("rung_time_s"),
        success=concat("success"),
        success_any=concat("success_any"),
        success_model=concat("success_model"),
        time_to_success=concat("time_to_success"),
        rung_successes=summed("rung_successes"),
        rung_evals=[round(v) for v in per_trial_mean("rung_evals")],
        rung_model_successes=summed("rung_model_successes"),
        planned_cost=concat("planned_cost"),
        errors=[f"block {i}: {e}" for i, c in enumerate(cells) for e in c.errors],
        time_to_success_model=concat("time_to_success_model"),
    )


def _run_cell(job: CellJob) -> Cell:
    """:func:`run_cell` in this process."""
    model, problems, planner = job.model, job.problems, job.planner
    planner_kwargs, fractions, seed, label = job.planner_kwargs, job.fractions, job.seed, job.label
    from registry import PLANNERS
    from wmplan_agents import contracts
    from wmplan_agents.planners import make_planner

    repeat = contracts.action_repeat(model)
    if problems.horizon % repeat:
        raise ValueError(
            f"horizon {problems.horizon} env steps is not a multiple of action_repeat {repeat}"
        )
    steps = problems.horizon // repeat
    full = int(planner_kwargs.get("iterations", PLANNERS[planner].kwargs.get("iterations", 100)))
    rungs = sorted({max(1, round(f * full)) for f in fractions} | {full})
    with torch.no_grad():
        z0 = model.encode(torch.as_tensor(problems.start_obs, dtype=torch.float32))
        zg = model.encode(torch.as_tensor(problems.goal_obs, dtype=torch.float32))
    counter = CountingModel(model)
    rung_time, rung_ok, first = [], [], np.full(problems.n, math.nan)
    rung_evals: list[int] = []
    rung_model_ok: list[int] = []
    first_model = np.full(problems.n, math.nan)
    errors: list[str] = []
    fail = np.zeros(problems.n, dtype=bool)
    ok, anytime, model_ok, cost = fail, fail, None, [math.nan] * problems.n
    for iters in rungs:
        p = make_planner(planner, **{**planner_kwargs, "iterations": iters, "seed": seed})
        counter.rows = 0
        start = time.perf_counter()
        try:
            result = p.plan(counter, z0, zg, steps)
        except contracts.PlanningError as err:  # a diverged plan fails every trial of the batch
            rung_time.append((time.perf_counter() - start) / problems.n)
            rung_evals.append(counter.rows // problems.n)
            rung_ok.append(0)
            rung_model_ok.append(0)
            errors.append(f"{iters} iterations: {err}")
            ok, anytime, model_ok, cost = fail, fail, None, [math.nan] * problems.n
            continue
        per = (time.perf_counter() - start) / problems.n
        rung_evals.append(counter.rows // problems.n)
        ok, anytime = execute(problems, contracts.to_env_actions(model, result.actions))
        rung_time.append(per)
        rung_ok.append(int(ok.sum()))
        first = np.where(np.isnan(first) & ok, per, first)
        model_ok = model_success(model, problems, z0, result.actions)
        rung_model_ok.append(0 if model_ok is None else int(np.sum(model_ok)))
        if model_ok is not None:
            first_model = np.where(np.isnan(first_model) & model_ok, per, first_model)
        cost = result.cost.detach().double().cpu().numpy().tolist()
    # ok, anytime, model_ok and cost are those of the last rung, the full budget
    return Cell(
        planner=label or planner,
        horizon=problems.horizon,
        model_steps=steps,
        n=problems.n,
        iterations=rungs,
        rung_time_s=rung_time,
        success=ok.tolist(),
        success_any=anytime.tolist(),
        success_model=model_ok,
        time_to_success=np.where(ok, first, math.nan).tolist(),
        rung_successes=rung_ok,
        rung_evals=rung_evals,
        rung_model_successes=rung_model_ok,
        planned_cost=cost,
        errors=errors,
        time_to_success_model=(
            None if model_ok is None else np.where(model_ok, first_model, math.nan).tolist()
        ),
    )
