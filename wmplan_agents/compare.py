"""Compare planners on long-horizon, non-greedy problems: success against planning time and
against model evaluations, under the model and in the simulator, open and closed loop.

A *family* is a set of start/goal pairs whose route first moves away from the goal, with the
model that plans them:

* ``"wall-detour"``: WallSingle, start on one side of the wall and goal on the other, the door at
  least ``12`` px off the point where the straight line meets the wall; planned with the env's
  exact dynamics at 5 env steps per model step (``ground_truth(env, action_repeat=5)``, the
  frameskip of DINO-WM), so success under the model and in the simulator agree up to float32
  rounding and the comparison is about the planners alone.
* ``"wall-detour-wide"``: the same problems and dynamics seen through a fixed random isometric
  embedding into a 64-d latent (``WideLatentModel``: the state lives on a 3-d subspace, the 61
  other directions decay by half each step). Not a learned latent: it is an exact model with
  many directions that do not matter, where GRASP's paper says its stop-gradient and state
  noise matter.
* ``"wall-detour-latent"``: the same problems planned with a *learned* 64-d latent: the
  shipped :class:`~wmplan_agents.models.LatentStateDynamics` for WallSingle's state
  (``wmplan_agents/pretrained/wallsingle_latent``, one env step per model step; an MLP encoder
  of the state, latent dynamics, a linear state readout), accurate enough on these problems
  that the scripted routes reach their goals under it (the report says how many).
* ``"maze-arms"``: PointMaze's U-maze from one arm to the other (cells (1, 1) and (3, 1), both
  ways), planned with :class:`~wmplan_agents.models.PointMassModel` (the point mass and its
  walls written out in torch, with a contact response fitted to MuJoCo's) at 5 env steps per
  model step. It is not MuJoCo, but close: the scripted routes reach 94-97% of their goals under
  it, against none under the shipped PointMaze model, a small MLP trained on short random
  pushes. The scripted route needs about 140 env steps, so horizons start at 150.
* ``"pusht-around"``: Push-T goals that need the agent to go round the block. The agent starts
  115-170 px from the T's centre of gravity; the block is pushed 40-100 px towards the agent's
  side (within 30 degrees of the line from the T to the agent), so the agent must first get
  behind it. A scripted route (round the T through waypoints 110 px from its centre, then the
  push, targets at most 20 px ahead as in the shipped model's data) takes 50-67 env steps; the
  goal is the state it ends in (agent position, block pose; the agent then holds still), so
  every goal is reachable. Planned with :class:`~wmplan_agents.models.PushTPhysicsModel` (the
  agent, the T and their frictionless contact written out in torch; 5 env steps per model
  step), under which the scripted routes reach 97-100% of their goals. The shipped Push-T
  state model, a small MLP trained on short pushes, predicts 9-14% of them: planned with it,
  this family measures the model (docs/notes/long-horizon-pusht.md).
* ``"pusht-around-pixels"``: the same problems seen as 64x64 images, planned with the shipped
  pixel model (32-d latent learned from images): the high-dimensional learned latent, which
  predicts none of the scripted routes.

Every problem is kept only if a scripted waypoint controller (through the door, round the U,
or round the block) reaches its goal within the horizon in the simulator, so each goal is
reachable; those actions are the problem's ``goal_actions``.

:func:`compare` plans the problems of a horizon in batched calls of ``batch`` problems per
planner and budget rung (fractions of the planner's iterations), executes every plan open
loop in the simulator and scores it there and under the model (``reproduce.open_loop``); with
``closed_loop=True`` it also runs each planner at its full budget as a receding-horizon agent
(all problems as one batch; shrinking horizon: every ``replan_every`` model steps it replans
the remaining steps from the states reached; success if the goal is reached at any step).
Model evaluations are rows through ``model.step`` per problem (forward passes; backward passes
not counted).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from wmplan_agents.contracts import WorldModel
from wmplan_agents.reproduce.open_loop import (
    ENVS,
    Cell,
    CellJob,
    Problems,
    execute,
    run_cells,
)

FAMILIES = (
    "wall-detour",
    "wall-detour-wide",
    "wall-detour-latent",
    "maze-arms",
    "pusht-around",
    "pusht-around-pixels",
)
# the learned wide-latent WallSingle model of "wall-detour-latent" (scripts/train_pretrained.py)
LATENT_WALL_MODEL = "wallsingle_latent"
# the horizons (env steps) a family is compared at by default
DEFAULT_HORIZONS: dict[str, tuple[int, ...]] = {
    "wall-detour": (25, 50, 100),
    "wall-detour-wide": (50, 100),
    "wall-detour-latent": (50,),
    "maze-arms": (150,),
    "pusht-around": (75, 100),
    "pusht-around-pixels": (75,),
}

# the compared planners: label -> (registry name, kwargs on top of the planner-wide preset)
DEFAULT_PLANNERS: dict[str, tuple[str, dict[str, Any]]] = {
    "GRASP": ("grasp", {}),
    # the CEM sync's own budget (5 steps), not the preset's 50 gradient sync steps
    "GRASP (CEM sync)": ("grasp", {"sync": "cem", "sync_steps": 5}),
    "CEM": ("cem", {}),
    "iCEM": ("icem", {}),
    "MPPI": ("mppi", {}),
    "GD": ("gd", {}),
    "LatCo": ("latco", {}),
}

_WALL_X, _WALL_HALF = 32.0, 3.0


def _env_name(family: str) -> str:
    """The benchmark env (``registry.benchmarks``) a family's problems live in."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {list(FAMILIES)}")
    return {
        "maze-arms": "maze-arms",
        "pusht-around": "pusht",
        "pusht-around-pixels": "pusht-pixels",
    }.get(family, "wall-detour")


def _make(env_name: str) -> Any:
    import wmplan_envs  # noqa: F401

    setup = ENVS[env_name]
    return gym.make(setup.env_id, **setup.kwargs).unwrapped


def _toward(pos: np.ndarray, target: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(gain * (target - pos), -1.0, 1.0).astype(np.float32)


def _wall_script(start: np.ndarray, goal: np.ndarray, door_y: float) -> list:
    """Env actions: to the door's mouth on the start's side, through, then to the goal."""
    side = 1.0 if start[0] < _WALL_X else -1.0
    points = [
        np.array([_WALL_X - side * (_WALL_HALF + 2.5), door_y]),
        np.array([_WALL_X + side * (_WALL_HALF + 2.5), door_y]),
        goal[:2].astype(np.float64),
    ]
    return [points, 0]  # (waypoints, index), advanced by _script_action


def _script_action(script: list, pos: np.ndarray, reach: float, gain: float) -> np.ndarray:
    points, k = script
    while k < len(points) - 1 and np.linalg.norm(points[k] - pos) < reach:
        k += 1
    script[1] = k
    return _toward(pos, points[k], gain)


def _maze_points(start_cell: tuple[int, int], goal_xy: np.ndarray) -> list:
    # U-maze cell centres (x = j - 2, y = 2 - i): round the bottom of the U through column 3
    top, bottom = (np.array([1.0, 1.0]), np.array([1.0, -1.0]))
    mid = [top, bottom] if start_cell[0] == 1 else [bottom, top]
    return [[*mid, goal_xy[:2].astype(np.float64)], 0]


_T_RADIUS = 110.0  # the route's distance from the T's centre of gravity (the T reaches 77)
_T_MOVE = 20.0  # the route's largest step target, px (PushTPushingPolicy's max_move)


def _t_centre(state: np.ndarray) -> np.ndarray:
    """The T's centre of gravity for a Push-T state (block x, y, angle at 2:5): the mean of its
    two rectangles' centres, as the env's physics sets it."""
    from wmplan_envs.pusht_render import BAR, STEM

    lx, ly = 0.5 * (np.mean(BAR, axis=0) + np.mean(STEM, axis=0))  # local (0, 45)
    c, s = math.cos(state[4]), math.sin(state[4])
    return np.array([state[2] + c * lx - s * ly, state[3] + s * lx + c * ly])


def _pusht_draw(rng: np.random.Generator) -> tuple[np.ndarray, list, np.ndarray, float] | None:
    """A start, the route's waypoints round the block, the push direction and distance (``None``
    if the draw does not fit: agent too close to the block, route or goal near the walls)."""
    block = rng.uniform(150.0, 362.0, size=2)
    start = np.array([0.0, 0.0, *block, rng.uniform(-math.pi, math.pi)])
    centre = _t_centre(start)
    phi = float(rng.uniform(-math.pi, math.pi))  # the agent starts near the T, on this side
    start[:2] = centre + rng.uniform(_T_RADIUS + 5.0, 170.0) * np.array(
        [math.cos(phi), math.sin(phi)]
    )
    if np.any(start[:2] < 30.0) or np.any(start[:2] > 482.0):
        return None
    turn = rng.uniform(-math.pi / 6, math.pi / 6)
    push = np.array([math.cos(phi + turn), math.sin(phi + turn)])  # towards the agent's side
    dist = float(rng.uniform(40.0, 100.0))
    side = 1.0 if rng.random() < 0.5 else -1.0
    angles = [phi + side * math.pi / 3, phi + side * 2 * math.pi / 3, phi + turn + math.pi]
    points = [centre + _T_RADIUS * np.array([math.cos(a), math.sin(a)]) for a in angles]
    end = centre + dist * push
    if (
        np.any(end < 110)
        or np.any(end > 402)
        or any(np.any(p < 20) or np.any(p > 492) for p in points)
    ):
        return None
    return start, points, push, dist


def _pusht_route(
    env: Any, start: np.ndarray, points: list, push: np.ndarray, dist: float, horizon: int
) -> np.ndarray | None:
    """The scripted route's env actions ``[horizon, 2]``: through the waypoints, then push the
    T's centre ``dist`` px along ``push``, then hold still; ``None`` if the push does not finish
    within the horizon. Targets lie at most ``_T_MOVE`` px from the agent, the pace of the
    pushing policy behind the shipped model's data. ``env``: a reset Push-T env (state
    observations); its state is replaced by ``start`` (its goal is not used)."""
    env.set_state(start)
    state = env.state_of(env.physics_state)
    centre0, k, pushing, done, acts = _t_centre(start), 0, False, False, []
    for _ in range(horizon):
        pos, move = state[:2], np.zeros(2)
        if not pushing:
            while k < len(points) and np.linalg.norm(points[k] - pos) < 15.0:
                k += 1
            pushing = k == len(points)
            if not pushing:
                move = points[k] - pos
        if pushing and not done:
            centre = _t_centre(state)
            done = bool((centre - centre0) @ push >= dist)
            if not done:  # towards a point just past the centre
                move = centre + 40.0 * push - pos
        move *= min(1.0, _T_MOVE / max(float(np.linalg.norm(move)), 1e-9))
        acts.append(np.clip(move / 100.0, -1.0, 1.0).astype(np.float32))
        _, _, _, _, info = env.step(acts[-1])
        state = np.asarray(info["state"], dtype=np.float64)
    return np.stack(acts) if done else None


@dataclass
class _Draw:
    seed: int
    options: dict[str, Any]


def detour_problems(family: str, horizon: int, n: int, seed: int = 0) -> Problems:
    """``n`` problems of ``family`` at ``horizon`` env steps (seeds ``seed, seed + 1, ...``
    tried in order; a draw is kept if it is a detour and the scripted route reaches its goal)."""
    from wmplan_agents.reproduce.open_loop import _success

    env_name = _env_name(family)
    if horizon < 1 or n < 1:
        raise ValueError(f"need horizon >= 1 and n >= 1, got {horizon}, {n}")
    env = _make(env_name)
    # Push-T routes are scripted on a state env (no rendering), from a placed start
    route_env = _make("pusht") if env_name.startswith("pusht") else None
    if route_env is not None:
        route_env.reset(seed=seed)
    keep: list[tuple[_Draw, np.ndarray, dict, dict]] = []
    s = seed
    while len(keep) < n:
        if s - seed > 200 * n + 1000:
            raise ValueError(
                f"found only {len(keep)} {family} problems reachable in {horizon} env steps "
                f"among {s - seed} draws; use a longer horizon"
            )
        rng = np.random.default_rng(s)
        if env_name.startswith("pusht"):
            drawn = _pusht_draw(rng)
            route = None if drawn is None else _pusht_route(route_env, *drawn, horizon)
            if route is not None:
                draw = _Draw(s, {"start": drawn[0].tolist(), "goal_actions": route.tolist()})
                obs, info = env.reset(seed=s, options=draw.options)
                keep.append((draw, route, obs, info))
            s += 1
            continue
        if env_name == "wall-detour":
            door = float(rng.uniform(env.door_low, env.door_high))
            left = rng.uniform([7.4, 7.4], [_WALL_X - _WALL_HALF - 3.4, 56.6])
            right = rng.uniform([_WALL_X + _WALL_HALF + 3.4, 7.4], [56.6, 56.6])
            start, goal = (left, right) if rng.random() < 0.5 else (right, left)
            cross = start[1] + (goal[1] - start[1]) * (_WALL_X - start[0]) / (goal[0] - start[0])
            if abs(cross - door) < 12.0:
                s += 1
                continue
            draw = _Draw(s, {"start": start.tolist(), "goal": goal.tolist(), "door_y": door})
            obs, info = env.reset(seed=s, options=draw.options)
            script = _wall_script(start, goal, door)
            reach, gain = 1.0, 0.5
        else:
            cells = ((1, 1), (3, 1)) if s % 2 == 0 else ((3, 1), (1, 1))
            draw = _Draw(s, {"reset_cell": cells[0], "goal_cell": cells[1]})
            obs, info = env.reset(seed=s, options=draw.options)
            script = _maze_points(cells[0], np.asarray(info["goal_state"]))
            reach, gain = 0.35, 5.0
        first_obs, first_info = obs, info
        acts = []
        for _ in range(horizon):
            pos = np.asarray(info["state"], dtype=np.float64)[:2]
            a = _script_action(script, pos, reach, gain)
            if env_name == "maze-arms":  # damp the point's momentum
                a = np.clip(a - 0.15 * np.asarray(info["state"])[2:4], -1, 1).astype(np.float32)
            acts.append(a)
            obs, _, _, _, info = env.step(a)
        ok = bool(_success(env, np.asarray(info["state"]), np.asarray(first_info["goal_state"])))
        if ok:
            keep.append((draw, np.stack(acts), first_obs, first_info))
        s += 1
    for e in (env, route_env):
        if e is not None:
            e.close()
    start_obs = np.stack([k[2]["observation"] for k in keep])
    goal_obs = np.stack([k[2]["desired_goal"] for k in keep])
    goal_states = np.stack([np.asarray(k[3]["goal_state"], dtype=np.float64) for k in keep])
    return Problems(
        env_name,
        horizon,
        [k[0].seed for k in keep],
        start_obs,
        goal_obs,
        goal_states,
        np.zeros(len(keep), dtype=bool),
        np.stack([k[1] for k in keep]),
        reset_options=[k[0].options for k in keep],
    )


class WideLatentModel:
    """A model seen through a fixed isometric embedding ``z = Q x`` into ``dim`` dimensions
    (``Q [dim, d]`` with orthonormal columns from ``seed``): ``step(z, a) = Q F(Q^T z, a) +
    decay (z - Q Q^T z)``. Exact on the embedded states; the ``dim - d`` other directions carry
    no information and decay by ``decay`` per step."""

    def __init__(self, base: Any, dim: int = 64, decay: float = 0.5, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        d = int(base.observation_space.shape[0])
        q, _ = torch.linalg.qr(torch.randn(dim, d, generator=gen, dtype=torch.float64))
        self.base, self.q, self.decay = base, q, float(decay)
        self.action_space = base.action_space
        self.action_repeat = getattr(base, "action_repeat", 1)

    def _q(self, like: torch.Tensor) -> torch.Tensor:
        return self.q.to(dtype=like.dtype, device=like.device)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.base.encode(obs)
        return x @ self._q(x).T

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        q = self._q(z)
        x = z @ q
        return self.base.step(x, a) @ q.T + self.decay * (z - x @ q.T)

    def to_state(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self._q(z)


def family_model(family: str) -> Any:
    """The model that plans ``family`` (module docstring)."""
    from wmplan_agents import checkpoint
    from wmplan_agents.models import PointMassModel, PushTPhysicsModel, ground_truth
    from wmplan_agents.models.pretrained import PRETRAINED_DIR, load_pretrained

    env_name = _env_name(family)
    if env_name == "maze-arms":
        return PointMassModel(action_repeat=5)
    if family == "pusht-around":
        return PushTPhysicsModel()
    if family == "pusht-around-pixels":
        return load_pretrained("WMPlan/PushT-v0", obs_type="pixels")
    if family == "wall-detour-latent":
        return checkpoint.load(PRETRAINED_DIR / LATENT_WALL_MODEL).eval().requires_grad_(False)
    model = ground_truth(gym.make(ENVS[env_name].env_id, obs_type="state"), action_repeat=5)
    return WideLatentModel(model) if family == "wall-detour-wide" else model


@dataclass
class ClosedLoop:
    """One planner at one horizon as a receding-horizon agent on all problems."""

    planner: str
    horizon: int
    n: int
    success: list[bool]  # reached the goal at some step within the horizon
    time_s: float  # planning wall time per problem


@dataclass
class Comparison:
    """The cells of :func:`compare` (open loop) and its closed-loop runs."""

    family: str
    cells: list[Cell] = field(default_factory=list)
    closed: list[ClosedLoop] = field(default_factory=list)
    n_problems: dict[int, int] = field(default_factory=dict)  # horizon -> problems
    replay: dict[int, int] = field(default_factory=dict)  # horizon -> scripted successes
    # horizon -> problems whose scripted route succeeds under the model (None: no decoder)
    replay_model: dict[int, int | None] = field(default_factory=dict)


def _closed_loop(
    model: WorldModel, problems: Problems, label: str, name: str, kwargs: dict[str, Any],
    steps: int, replan_every: int, seed: int,
) -> ClosedLoop:  # fmt: skip
    """Shrinking-horizon MPC on all problems at once: plan the remaining model steps, execute
    ``replan_every`` of them in every simulator, replan from the reached states."""
    from wmplan_agents import contracts
    from wmplan_agents.planners import make_planner
    from wmplan_agents.reproduce.open_loop import _scorer, _success

    repeat = contracts.action_repeat(model)
    planner = make_planner(name, **{**kwargs, "seed": seed})
    envs = [_make(problems.env_name) for _ in range(problems.n)]
    # states are scored by a state twin when the env shows pixels
    scorer = _scorer(problems.env_name, problems.horizon, envs[0])
    obs = [problems.reset(env, i)[0] for i, env in enumerate(envs)]
    hit = np.zeros(problems.n, dtype=bool)
    plan_s = 0.0
    with torch.no_grad():
        zg = model.encode(torch.as_tensor(problems.goal_obs, dtype=torch.float32))
    for done in range(0, steps, replan_every):
        start = time.perf_counter()
        with torch.no_grad():
            z0 = model.encode(
                torch.as_tensor(np.stack([o["observation"] for o in obs]), dtype=torch.float32)
            )
        result = planner.plan(model, z0, zg, steps - done)
        plan_s += time.perf_counter() - start
        env_acts = contracts.to_env_actions(model, result.actions)  # [n, left * repeat, ...]
        for t in range(min(replan_every, steps - done) * repeat):
            for i, env in enumerate(envs):
                obs[i], _, _, _, info = env.step(env_acts[i, t])
                state = np.asarray(info["state"], dtype=np.float64)
                hit[i] |= bool(_success(scorer, state, problems.goal_states[i]))
    for env in {*envs, scorer}:
        env.close()
    return ClosedLoop(label, problems.horizon, problems.n, hit.tolist(), plan_s / problems.n)


def _route_under_model(model: WorldModel, problems: Problems) -> int | None:
    """How many scripted routes the model predicts to reach their goals (how accurate the model
    is on the family); ``None`` for a model without a state decoder."""
    from wmplan_agents import contracts
    from wmplan_agents.reproduce.open_loop import model_success

    with torch.no_grad():
        z0 = model.encode(torch.as_tensor(problems.start_obs, dtype=torch.float32))
    actions = contracts.from_env_actions(model, problems.goal_actions).to(z0.dtype)
    ok = model_success(model, problems, z0, actions)
    return None if ok is None else int(np.sum(ok))


def compare(
    family: str,
    horizons: tuple[int, ...] = (50, 100),
    planners: dict[str, tuple[str, dict[str, Any]]] | None = None,
    n_trials: int = 100,
    fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0),
    seed: int = 0,
    problem_seed: int = 10_000,
    closed_loop: bool = False,
    replan_every: int = 2,
    open_loop: bool = True,
    model: WorldModel | None = None,
    echo: Any = None,
    workers: int = 1,
    address: str | None = None,
    batch: int = 50,
) -> Comparison:
    """Every planner of ``planners`` (default :data:`DEFAULT_PLANNERS`) on ``n_trials``
    problems of ``family`` at each horizon (env steps), open loop at a ladder of budgets and,
    with ``closed_loop``, as an agent at its full budget (``open_loop=False``: only that).
    ``echo(line)`` reports progress. ``batch``: problems per plan call; ``workers``,
    ``address``: Ray workers for those blocks (``reproduce.open_loop.run_cells``; closed loop
    stays in this process)."""
    from registry import PLANNERS
    from wmplan_agents import contracts

    planners = dict(DEFAULT_PLANNERS if planners is None else planners)
    for label, (name, _) in planners.items():
        if name not in PLANNERS:
            raise ValueError(f"{label}: unknown planner {name!r}; expected one of {list(PLANNERS)}")
    if not (open_loop or closed_loop):
        raise ValueError("open_loop and closed_loop are both False: nothing to run")
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons must be positive integers, got {horizons!r}")
    model = family_model(family) if model is None else model
    repeat = contracts.action_repeat(model)
    out = Comparison(family)
    jobs, problem_sets = [], {}
    for h in horizons:
        if h % repeat:
            raise ValueError(f"horizon {h} is not a multiple of the model's action_repeat {repeat}")
        problems = detour_problems(family, h, n_trials, seed=problem_seed + 1000 * h)
        problem_sets[h] = problems
        out.n_problems[h] = problems.n
        out.replay[h] = int(execute(problems, problems.goal_actions)[1].sum())
        out.replay_model[h] = _route_under_model(model, problems)
        for label, (name, kw) in planners.items():
            kwargs = {**PLANNERS[name].kwargs, **kw}
            jobs.append(CellJob(model, problems, name, kwargs, fractions, seed, label, batch))
    out.cells = run_cells(jobs, workers=workers, address=address) if open_loop else []
    for i, job in enumerate(jobs):
        h = job.problems.horizon
        if open_loop and echo:
            cell = out.cells[i]
            echo(
                f"{family} H={h} {job.label}: sim {cell.successes}/{cell.n}, model "
                f"{cell.model_successes}/{cell.n}, {cell.rung_time_s[-1]:.3f} s, "
                f"{cell.rung_evals[-1]} evals per problem"
            )
        if closed_loop:
            steps = h // repeat
            run = _closed_loop(
                model, problem_sets[h], job.label, job.planner, job.planner_kwargs, steps,
                min(replan_every, steps), seed,
            )  # fmt: skip
            out.closed.append(run)
            if echo:
                echo(
                    f"{family} H={h} {job.label} closed loop: {sum(run.success)}/{run.n}, "
                    f"{run.time_s:.3f} s planning per problem"
                )
    return out


def success_at_time(cell: Cell, budget_s: float) -> float:
    """Open-loop success rate of the most expensive rung within ``budget_s`` s per problem
    (0 if even the cheapest rung costs more)."""
    ok = [s for t, s in zip(cell.rung_time_s, cell.rung_successes) if t <= budget_s]
    return (ok[-1] if ok else 0) / cell.n


def time_to_rate(cell: Cell, rate: float) -> float:
    """Seconds per problem of the cheapest rung whose success rate reaches ``rate``."""
    for t, s in zip(cell.rung_time_s, cell.rung_successes):
        if s / cell.n >= rate:
            return t
    return math.inf


def report(result: Comparison) -> list[str]:
    """Markdown tables: per horizon and planner, full-budget success in the simulator and
    under the model, time and evaluations per problem, success at the common time budget, time
    to CEM's success, and closed-loop success."""
    lines = []
    for h in sorted(result.n_problems):
        cells = [c for c in result.cells if c.horizon == h]
        if not cells:  # closed loop only
            lines += [
                f"{result.family}, H = {h} env steps: {result.n_problems[h]} problems, closed "
                "loop only",
                "",
                "| planner | closed loop | s planning / problem |",
                "|---|---|---|",
                *(f"| {r.planner} | {sum(r.success)}/{r.n} | {r.time_s:.3f} |"
                  for r in result.closed if r.horizon == h),
                "",
            ]  # fmt: skip
            continue
        common = min(max(c.rung_time_s) for c in cells)
        cem = next((c for c in cells if c.planner == "CEM"), None)
        closed = {r.planner: r for r in result.closed if r.horizon == h}
        under = result.replay_model.get(h)
        lines += [
            f"{result.family}, H = {h} env steps: {result.n_problems[h]} problems (scripted "
            f"route reaches {result.replay[h]} in the simulator"
            + ("" if under is None else f", {under} under the model")
            + f"); common budget {common:.3f} s per problem",
            "",
            "| planner | sim | model | s / problem | evals / problem | sim at common budget "
            "| s to CEM's rate | closed loop |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in cells:
            # no time to CEM's rate when CEM solves nothing (every rung would "reach" 0%)
            to_cem = "-" if cem is None or cem.rate == 0 else f"{time_to_rate(c, cem.rate):.3f}"
            cl = closed.get(c.planner)
            lines.append(
                f"| {c.planner} | {c.successes}/{c.n} | "
                f"{'-' if c.model_successes is None else f'{c.model_successes}/{c.n}'} | "
                f"{c.rung_time_s[-1]:.3f} | {c.rung_evals[-1]} | "
                f"{100 * success_at_time(c, common):.0f}% | {to_cem} | "
                f"{'-' if cl is None else f'{sum(cl.success)}/{cl.n}'} |"
            )
        lines.append("")
    return lines


def plot(result: Comparison, path: Path) -> Path:
    """Success (simulator: solid, model: dashed) against time and against model evaluations,
    one panel pair per horizon (the paper's Figure 5 layout)."""
    from wmplan_agents.reproduce.common import pyplot, save_figure

    plt = pyplot()
    hs = sorted(result.n_problems)
    fig, axes = plt.subplots(len(hs), 2, figsize=(11, 4 * len(hs)), squeeze=False)
    for row, h in enumerate(hs):
        for c in (c for c in result.cells if c.horizon == h):
            sim = 100 * np.array(c.rung_successes) / c.n
            mod = 100 * np.array(c.rung_model_successes) / c.n
            for col, x in enumerate((c.rung_time_s, c.rung_evals)):
                line = axes[row, col].plot(x, sim, "o-", label=c.planner)[0]
                if c.success_model is not None:
                    axes[row, col].plot(x, mod, "--", color=line.get_color(), alpha=0.6)
        for col, xlabel in enumerate(("planning time per problem (s)", "model evaluations")):
            ax = axes[row, col]
            ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("success (%)")
            ax.set_ylim(-3, 103)
            ax.set_title(f"{result.family}, H = {h} (solid: simulator, dashed: model)")
        axes[row, 0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, Path(path))
