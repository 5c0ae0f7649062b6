"""Model-predictive control over any world model with any planner.

:class:`MPCAgent` follows Stable-Baselines3's ``PolicyPredictor`` protocol (``predict``), so the
same agent runs in a plain Gymnasium episode loop, on a vector env, and inside SB3's
``evaluate_policy``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from registry import PLANNERS
from registry.presets import resolve_preset
from wmplan_agents.contracts import (
    COSTS,
    CostFn,
    Planner,
    Resettable,
    WorldModel,
    action_bounds,
    action_dim,
    action_repeat,
    is_discrete,
    model_env,
    model_obs_shape,
    single_env,
    to_env_actions,
)
from wmplan_envs.core import check_int


def _planner_name(planner: Any) -> str | None:
    """The registered name whose entry point is ``planner``'s class, or ``None``."""
    path = f"{type(planner).__module__}:{type(planner).__name__}"
    for entry in PLANNERS.values():
        if entry.entry_point == path:
            return entry.name
    return None


def _observation_shape(space: Any) -> tuple[int, ...] | None:
    """The per-env shape of the ``observation`` entry of a (Dict) observation space."""
    if isinstance(space, gym.spaces.Dict):
        space = space["observation"]
    if isinstance(space, gym.spaces.Box):
        return tuple(space.shape)
    if space is None:
        return None
    raise ValueError(f"observation_space must be a Box or a goal Dict space, got {space}")


def _env_parts(env: Any) -> tuple[Any, Any, Any, Any]:
    """``(unwrapped env or None, spec or None, action space, observation space)`` of one env or
    of one sub-env of a vector env; an env without reachable sub-envs (``AsyncVectorEnv``) is
    described by its ``single_*`` spaces alone."""
    try:
        single = single_env(env)
    except ValueError:
        action_space = getattr(env, "single_action_space", None)
        obs_space = getattr(env, "single_observation_space", None)
        if action_space is None or obs_space is None:
            raise
        return None, getattr(env, "spec", None), action_space, obs_space
    return single.unwrapped, single.spec, single.action_space, single.observation_space


def _same_space(a: gym.spaces.Space, b: gym.spaces.Space) -> bool:
    if isinstance(a, gym.spaces.Discrete) and isinstance(b, gym.spaces.Discrete):
        return int(a.n) == int(b.n) and int(a.start) == int(b.start)
    if isinstance(a, gym.spaces.Box) and isinstance(b, gym.spaces.Box):
        return (
            a.shape == b.shape
            and np.allclose(a.low, b.low, equal_nan=True)
            and np.allclose(a.high, b.high, equal_nan=True)
        )
    return False


_MISSING = object()


def _episode_starts(episode_start: Any) -> np.ndarray:
    """``episode_start`` (a bool, or an array of bools or 0/1 as SB3 passes it) as a bool array."""
    arr = np.asarray(episode_start)
    if arr.dtype == bool:
        return arr.reshape(-1)
    if arr.dtype.kind in "iuf" and np.all((arr == 0) | (arr == 1)):
        return arr.astype(bool).reshape(-1)
    raise ValueError(
        f"episode_start must be a bool or an array of bools (or 0/1), got {episode_start!r}"
    )


def _check_model_kind(planner: str, model: WorldModel) -> None:
    """A PaD model plans only with the ``pad`` planner, and ``pad`` only with a PaD model."""
    from wmplan_agents.models.pad import PaDModel

    pad_planner = PLANNERS[planner].model_kind == "pad"
    if pad_planner and not isinstance(model, PaDModel):
        raise ValueError(
            f"planner={planner!r} plans with a PaD model (an energy over futures); "
            f"{type(model).__name__} is a dynamics model: use another planner"
        )
    if isinstance(model, PaDModel) and not pad_planner:
        raise ValueError(
            f"a PaD model has no forward dynamics for planner={planner!r}; use planner='pad'"
        )


class MPCAgent:
    """Plan with ``planner`` over ``model``, execute the first actions, replan.

    Args:
        model: any :class:`~wmplan_agents.contracts.WorldModel` (``action_space``, ``encode``,
            ``step``; optional ``rollout``, ``action_repeat``), living on ``device``. A model
            that knows its env (``env_id``, ``env_kwargs``: every shipped or trained checkpoint
            and ``ground_truth(env)``) gets that env's presets and is checked against the env
            by :meth:`check_env`.
        planner: a registered planner name (built with the preset's keyword arguments, then
            ``planner_kwargs``) or a planner instance (which keeps its own settings).
        horizon: model actions per plan (default: the preset's).
        replan_every: model actions executed from each plan before replanning (default: the
            preset's, capped at ``horizon``); each model action is ``action_repeat`` env actions.
        device: where observations are encoded and plans are made.
        cost: ``"final"`` (squared latent distance at the end of the plan), ``"dense"`` (summed
            over the plan), ``"arrive"`` (final plus a tenth of the mean over the plan) or a
            differentiable ``cost(z_traj, actions, z_goal) -> [B]``; default: the preset's.
        observation_space: the env's observation space (Dict or its ``observation`` Box), used to
            tell a single observation from a batch; defaults to ``model.observation_space`` or
            the shape the model's config declares. Without either, an observation is a batch
            exactly when ``episode_start`` is an array with one entry per row (as SB3 passes it).
        planner_kwargs: keyword arguments for the planner (only with a planner name).

    Presets (:mod:`registry.presets`): an argument given here wins over the preset of the
    model's env (by env id and ``obs_type``), which wins over the planner-wide entry.
    :attr:`preset` is the resolved preset and says which one was used.

    Warm start: the unexecuted tail of each plan, shifted to the front and padded by repeating
    its last action, is the ``init_actions`` of the env's next plan; a planner's
    ``PlanResult.carry`` (iCEM's kept elites) comes back with the env's next plan.
    ``episode_start[i]`` (or :meth:`reset`) clears env ``i``'s queue, warm start and carry. Envs
    that need a plan at the same call are planned together in one batched ``plan`` call.
    ``deterministic`` is accepted for SB3 compatibility; the plan is whatever the planner
    returns.
    """

    def __init__(
        self,
        model: WorldModel,
        planner: str | Planner = "cem",
        horizon: int | None = None,
        replan_every: int | None = None,
        device: str | torch.device = "cpu",
        cost: CostFn | str | None = None,
        observation_space: gym.spaces.Space | None = None,
        **planner_kwargs: Any,
    ) -> None:
        for member in ("action_space", "encode", "step"):
            if not hasattr(model, member):
                raise ValueError(
                    f"model must have action_space, encode and step (the WorldModel contract); "
                    f"{type(model).__name__} has no {member!r}"
                )
        if not isinstance(model.action_space, (gym.spaces.Box, gym.spaces.Discrete)):
            raise ValueError(
                f"model.action_space must be Box or Discrete, got {model.action_space}"
            )
        env_id, env_kwargs = model_env(model)
        obs_type = env_kwargs.get("obs_type", "state") if env_id is not None else None
        if isinstance(planner, str):
            from wmplan_agents.planners import planner_class

            cls = planner_class(planner)  # unknown name -> ValueError
            _check_model_kind(planner, model)
            preset = resolve_preset(planner, env_id, obs_type)
            planner_obj = cls(**{**preset.kwargs, **planner_kwargs})
        else:
            if planner_kwargs:
                raise ValueError(
                    f"planner keyword arguments {sorted(planner_kwargs)} only apply to a planner "
                    f"name; configure the {type(planner).__name__} instance instead"
                )
            if not isinstance(planner, Planner):
                raise ValueError(f"planner must be a name or have a plan method, got {planner!r}")
            name = _planner_name(planner)
            preset = resolve_preset(name, env_id, obs_type) if name is not None else None
            planner_obj = planner
        if horizon is None:
            if preset is None:
                raise ValueError(
                    f"no preset horizon for {type(planner_obj).__name__}: pass horizon=..."
                )
            horizon = preset.horizon
        if replan_every is None:  # the preset, capped at a horizon given explicitly
            replan_every = min(preset.replan_every, horizon) if preset is not None else 1
        horizon = check_int("horizon", horizon, 1)
        try:
            replan_every = check_int("replan_every", replan_every, 1, horizon)
        except ValueError as err:
            raise ValueError(
                f"replan_every must be an integer in [1, horizon={horizon}], got {replan_every!r}"
            ) from err
        if cost is None:
            cost = preset.cost if preset is not None else "final"
        cost_arg = cost
        if isinstance(cost, str):
            if cost not in COSTS:
                raise ValueError(f"cost must be one of {sorted(COSTS)} or a callable, got {cost!r}")
            self.cost_name = cost
            cost = None if cost == "final" else COSTS[cost]  # None: the planners' fast path
        elif callable(cost):
            self.cost_name = getattr(cost, "__name__", "custom")
        else:
            raise ValueError(f"cost must be a name in {sorted(COSTS)} or a callable, got {cost!r}")
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(
                f"device must be a torch device such as 'cpu', got {device!r}"
            ) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} but CUDA is not available; use 'cpu'")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device={str(device)!r} but MPS is not available; use 'cpu'")
        # how to build this agent again around a rebuilt model (evaluate's workers do)
        self.init_args: dict[str, Any] = {
            "planner": planner,
            "horizon": horizon,
            "replan_every": replan_every,
            "device": str(device),
            "cost": cost_arg,
            "observation_space": observation_space,
            **planner_kwargs,
        }
        self.model = model
        self.planner = planner_obj
        self.preset = preset
        self.horizon = horizon
        self.replan_every = replan_every
        self.device = torch.device(device)
        self.cost = cost
        self.action_space = model.action_space
        self.obs_shape = _observation_shape(observation_space)
        if self.obs_shape is None:
            self.obs_shape = model_obs_shape(model)
        self.plan_time_s = 0.0  # total time spent encoding and planning
        self.n_plans = 0  # plan calls made
        self.last_plan: Any = None  # the last PlanResult
        self._queues: list[list[Any]] = []
        self._tails: list[Tensor | None] = []
        self._carry: list[Tensor | None] = []  # per env: the planner's PlanResult.carry row

    # -- the env --------------------------------------------------------------------------------
    def check_env(self, env: Any) -> None:
        """Raise ``ValueError`` naming both sides if ``env`` (an env, a vector env, or an id)
        does not fit the model: another env id than the one the model was trained on, another
        action space or observation shape, or another value of a keyword argument the model
        depends on (the env's ``world_model_kwargs``, e.g. Push-T's ``relative``)."""
        if isinstance(env, str):
            import wmplan_envs  # noqa: F401

            made = gym.make(env)
            try:
                return self.check_env(made)
            finally:
                made.close()
        base, spec, action_space, obs_space = _env_parts(env)
        model_name = type(self.model).__name__
        env_id, env_kwargs = model_env(self.model)
        env_name = spec.id if spec is not None else type(base if base is not None else env).__name__
        if env_id is not None and spec is not None and spec.id != env_id:
            raise ValueError(
                f"the model ({model_name}) was trained on {env_id}, the env is {env_name}"
            )
        relevant = getattr(base, "world_model_kwargs", None)
        made_with = dict(spec.kwargs or {}) if spec is not None else {}
        for key, value in env_kwargs.items():
            if relevant is not None and key not in relevant:
                continue
            have = getattr(base, key, made_with.get(key, _MISSING))
            if have is _MISSING:
                continue
            if have != value:
                raise ValueError(
                    f"the model ({model_name}) was trained on {env_id or 'an env'} with "
                    f"{key}={value!r}, the env {env_name} has {key}={have!r}; make it with "
                    f"gym.make({env_name!r}, {key}={value!r})"
                )
        if not _same_space(self.model.action_space, action_space):
            raise ValueError(
                f"the env {env_name} has action space {action_space}, the model ({model_name}) "
                f"plans in {self.model.action_space}"
                + (f" (trained with {env_kwargs})" if env_kwargs else "")
            )
        env_shape = _observation_shape(obs_space)
        if self.obs_shape is not None and env_shape is not None and env_shape != self.obs_shape:
            raise ValueError(
                f"the env {env_name} gives observations of shape {env_shape}, the model "
                f"({model_name}) encodes shape {self.obs_shape}"
            )

    # -- memory -----------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Forget every env's queued actions, warm start and carried planner state (iCEM's kept
        elites), and reset the planner where it has a ``reset``: the library's planners restart
        their random stream, from their own seed, or from it mixed with ``seed`` when given
        (:func:`~wmplan_agents.evaluate` passes each episode's seed, so an episode's plans do
        not depend on the episodes run before it). A planner whose ``reset`` takes no ``seed``
        is reset without one."""
        if seed is not None:
            seed = check_int("seed", seed)
        self._queues, self._tails, self._carry = [], [], []
        if not isinstance(self.planner, Resettable):
            return
        if seed is not None and "seed" in inspect.signature(self.planner.reset).parameters:
            self.planner.reset(seed=seed)
        else:
            self.planner.reset()

    def _resize(self, n_envs: int) -> None:
        if len(self._queues) != n_envs:  # a different set of envs: start afresh
            self._queues = [[] for _ in range(n_envs)]
            self._tails = [None] * n_envs
            self._carry = [None] * n_envs

    def _reset_env(self, i: int) -> None:
        self._queues[i] = []
        self._tails[i] = None
        self._carry[i] = None

    # -- SB3's PolicyPredictor ----------------------------------------------------------------
    def predict(
        self,
        observation: Mapping[str, Any],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[Any, Any]:
        """The next action for one env's observation, or a batch ``[n_envs, ...]`` for a
        vector env's. Returns ``(action, state)`` with ``state`` passed through (SB3's protocol).
        """
        obs, goal, batched = self._parse(observation, episode_start)
        n_envs = obs.shape[0]
        if n_envs == 0:
            raise ValueError("got an empty batch of observations (0 envs); expected at least one")
        self._resize(n_envs)
        if episode_start is not None:
            starts = _episode_starts(episode_start)
            if starts.size == 1 and n_envs > 1:
                starts = np.repeat(starts, n_envs)
            if starts.size != n_envs:
                raise ValueError(
                    f"episode_start must have one entry per env ({n_envs}), got {starts.size}"
                )
            for i in np.flatnonzero(starts):
                self._reset_env(int(i))
        need = [i for i in range(n_envs) if not self._queues[i]]
        if need:
            self._plan(need, obs[need], goal[need])
        actions = np.stack([self._queues[i].pop(0) for i in range(n_envs)])
        if is_discrete(self.model):
            actions = actions.astype(np.int64)
            return (actions if batched else int(actions[0])), state
        return (actions if batched else actions[0]), state

    def _parse(
        self, observation: Mapping[str, Any], episode_start: Any
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Validate a Dict observation; return batched ``observation``, ``desired_goal``."""
        if not isinstance(observation, Mapping) or not {"observation", "desired_goal"} <= set(
            observation
        ):
            got = sorted(observation) if isinstance(observation, Mapping) else type(observation)
            raise ValueError(
                "expected a goal Dict observation with keys 'observation' and 'desired_goal', "
                f"got {got}"
            )
        obs = np.asarray(observation["observation"])
        goal = np.asarray(observation["desired_goal"])
        if obs.shape != goal.shape:
            raise ValueError(
                f"observation and desired_goal must have the same shape, got {obs.shape} and "
                f"{goal.shape}"
            )
        if obs.dtype.kind not in "biuf":
            raise ValueError(f"expected a numeric observation, got dtype {obs.dtype}")
        if not (np.all(np.isfinite(obs)) and np.all(np.isfinite(goal))):
            raise ValueError("observation and desired_goal must be finite; got NaN or inf")
        if self.obs_shape is not None:
            shape = self.obs_shape
            if obs.shape == shape:
                batched = False
            elif obs.ndim == len(shape) + 1 and obs.shape[1:] == shape:
                batched = True
            else:
                raise ValueError(
                    f"expected an observation of shape {shape} (one env) or [n_envs, "
                    f"{', '.join(map(str, shape))}] (a vector env), got shape {obs.shape}"
                )
        else:
            starts = None if episode_start is None else np.asarray(episode_start).reshape(-1)
            batched = starts is not None and obs.ndim >= 2 and obs.shape[0] == starts.size
            if obs.ndim == 0:
                raise ValueError("expected an observation array, got a scalar")
        if not batched:
            obs, goal = obs[None], goal[None]
        return obs, goal, batched

    # -- planning -----------------------------------------------------------------------------
    def _plan(self, envs: list[int], obs: np.ndarray, goal: np.ndarray) -> None:
        """One batched plan for ``envs``; fill their queues and warm starts."""
        start = time.perf_counter()
        b = len(envs)
        with torch.no_grad():
            both = torch.as_tensor(np.concatenate([obs, goal]), device=self.device)
            z = self.model.encode(both)
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[0] != 2 * b:
            got = list(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(
                f"model.encode must map a batch of {2 * b} observations of shape "
                f"{list(obs.shape[1:])} to [{2 * b}, D], got {got}"
            )
        z0, z_goal = z[:b].detach(), z[b:].detach()
        kwargs: dict[str, Any] = {}
        carried = [self._carry[i] for i in envs]
        known = next((c for c in carried if c is not None), None)
        if known is not None:  # NaN rows: envs without a carry (the planner's convention)
            nan = torch.full_like(known, float("nan"))
            kwargs["carry"] = torch.stack([nan if c is None else c for c in carried])
        result = self.planner.plan(
            self.model,
            z0,
            z_goal,
            horizon=self.horizon,
            init_actions=self._init_actions(envs, z0.dtype),
            cost=self.cost,
            **kwargs,
        )
        plan = result.actions.detach()
        expected = (b, self.horizon, action_dim(self.model))
        if tuple(plan.shape) != expected:
            raise ValueError(
                f"{type(self.planner).__name__}.plan returned actions of shape "
                f"{list(plan.shape)}, expected [B, H, A] = {list(expected)}"
            )
        if not torch.isfinite(plan).all():
            raise ValueError(f"{type(self.planner).__name__}.plan returned non-finite actions")
        r = self.replan_every
        env_actions = to_env_actions(self.model, plan[:, :r])  # [b, r * action_repeat, ...]
        carry = result.carry
        for row, i in enumerate(envs):
            self._queues[i] = list(env_actions[row])
            self._tails[i] = plan[row, r:] if r < self.horizon else plan[row, -1:]
            self._carry[i] = None if carry is None else carry[row].detach()
        self.last_plan = result
        self.n_plans += 1
        self.plan_time_s += time.perf_counter() - start

    def _init_actions(self, envs: list[int], dtype: torch.dtype) -> Tensor | None:
        """Warm starts ``[b, H, A]`` for ``envs`` (``None`` when none of them has one).

        An env without a warm start gets the neutral plan: the centre of the action box, or
        uniform probabilities for a discrete space.
        """
        tails = [self._tails[i] for i in envs]
        if all(t is None for t in tails):
            return None
        low, high = action_bounds(self.model, device=self.device, dtype=dtype)
        neutral = (low + high) / 2
        if is_discrete(self.model):
            neutral = torch.full_like(low, 1.0 / int(self.action_space.n))
        rows = []
        for tail in tails:
            if tail is None:
                rows.append(neutral.expand(self.horizon, -1))
                continue
            tail = tail.to(device=self.device, dtype=dtype)
            pad = tail[-1:].expand(self.horizon - tail.shape[0], -1)
            rows.append(torch.cat([tail, pad])[: self.horizon])
        return torch.stack(rows)

    @property
    def action_repeat(self) -> int:
        """Env actions per model action."""
        return action_repeat(self.model)

    def __repr__(self) -> str:
        preset = "none" if self.preset is None else str(self.preset)
        return (
            f"MPCAgent(planner={type(self.planner).__name__}, horizon={self.horizon}, "
            f"replan_every={self.replan_every}, cost={self.cost_name}, "
            f"action_repeat={self.action_repeat}, device={self.device}, preset={preset})"
        )


__all__ = ["MPCAgent"]
