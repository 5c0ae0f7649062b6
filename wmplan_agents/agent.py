"""Model-predictive control over any world model with any planner.

:class:`MPCAgent` follows Stable-Baselines3's ``PolicyPredictor`` protocol (``predict``), so the
same agent runs in a plain Gymnasium episode loop, on a vector env, and inside SB3's
``evaluate_policy``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from registry import PLANNERS
from wmplan_agents.contracts import (
    CostFn,
    Planner,
    action_bounds,
    action_dim,
    action_repeat,
    is_discrete,
    to_env_actions,
)


def _preset_for(planner: Any) -> Any:
    """The registry entry whose entry point is ``planner``'s class, or ``None``."""
    path = f"{type(planner).__module__}:{type(planner).__name__}"
    for entry in PLANNERS.values():
        if entry.entry_point == path:
            return entry
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


class MPCAgent:
    """Plan with ``planner`` over ``model``, execute the first actions, replan.

    Args:
        model: any :class:`~wmplan_agents.contracts.WorldModel` (``action_space``, ``encode``,
            ``step``; optional ``rollout``, ``action_repeat``), living on ``device``.
        planner: a registered planner name (built with ``make_planner(name, **planner_kwargs)``
            and run with the registry's preset horizon and ``replan_every``) or a planner instance.
        horizon: model actions per plan (default: the planner's preset).
        replan_every: model actions executed from each plan before replanning (default: the
            preset, capped at ``horizon``); each model action is ``action_repeat`` env actions.
        device: where observations are encoded and plans are made.
        cost: an optional differentiable ``cost(z_traj, actions, z_goal) -> [B]`` for the planner.
        observation_space: the env's observation space (Dict or its ``observation`` Box), used to
            tell a single observation from a batch; defaults to ``model.observation_space`` if the
            model has one. Without either, an observation is a batch exactly when ``episode_start``
            is an array with one entry per row (as SB3 passes it).
        planner_kwargs: keyword arguments for the planner (only with a planner name).

    Warm start: the unexecuted tail of each plan, shifted to the front and padded by repeating
    its last action, is the ``init_actions`` of the env's next plan. ``episode_start[i]`` (or
    :meth:`reset`) clears env ``i``'s queue and warm start. Envs that need a plan at the same
    call are planned together in one batched ``plan`` call. ``deterministic`` is accepted for
    SB3 compatibility; the plan is whatever the planner returns.
    """

    def __init__(
        self,
        model: Any,
        planner: str | Planner = "cem",
        horizon: int | None = None,
        replan_every: int | None = None,
        device: str | torch.device = "cpu",
        cost: CostFn | None = None,
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
        if isinstance(planner, str):
            from wmplan_agents.planners import make_planner

            preset = PLANNERS.get(planner)
            planner_obj = make_planner(planner, **planner_kwargs)  # unknown name -> ValueError
        else:
            if planner_kwargs:
                raise ValueError(
                    f"planner keyword arguments {sorted(planner_kwargs)} only apply to a planner "
                    f"name; configure the {type(planner).__name__} instance instead"
                )
            if not callable(getattr(planner, "plan", None)):
                raise ValueError(f"planner must be a name or have a plan method, got {planner!r}")
            preset, planner_obj = _preset_for(planner), planner
        if horizon is None:
            if preset is None:
                raise ValueError(
                    f"no preset horizon for {type(planner_obj).__name__}: pass horizon=..."
                )
            horizon = preset.horizon
        if replan_every is None:  # the preset, capped at a horizon given explicitly
            replan_every = min(preset.replan_every, horizon) if preset is not None else 1
        if not (isinstance(horizon, int) and horizon >= 1):
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
        if not (isinstance(replan_every, int) and 1 <= replan_every <= horizon):
            raise ValueError(
                f"replan_every must be an integer in [1, horizon={horizon}], got {replan_every!r}"
            )
        self.model = model
        self.planner = planner_obj
        self.horizon = horizon
        self.replan_every = replan_every
        self.device = torch.device(device)
        self.cost = cost
        self.action_space = model.action_space
        self.obs_shape = _observation_shape(
            observation_space
            if observation_space is not None
            else getattr(model, "observation_space", None)
        )
        self.plan_time_s = 0.0  # total time spent encoding and planning
        self.n_plans = 0  # plan calls made
        self.last_plan: Any = None  # the last PlanResult
        self._queues: list[list[Any]] = []
        self._tails: list[Tensor | None] = []

    # -- memory -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every env's queued actions and warm start."""
        self._queues, self._tails = [], []

    def _resize(self, n_envs: int) -> None:
        if len(self._queues) != n_envs:  # a different set of envs: start afresh
            self._queues = [[] for _ in range(n_envs)]
            self._tails = [None] * n_envs

    def _reset_env(self, i: int) -> None:
        self._queues[i] = []
        self._tails[i] = None

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
        self._resize(n_envs)
        if episode_start is not None:
            starts = np.asarray(episode_start, dtype=bool).reshape(-1)
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
        result = self.planner.plan(
            self.model,
            z0,
            z_goal,
            horizon=self.horizon,
            init_actions=self._init_actions(envs, z0.dtype),
            cost=self.cost,
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
        for row, i in enumerate(envs):
            self._queues[i] = list(env_actions[row])
            self._tails[i] = plan[row, r:] if r < self.horizon else plan[row, -1:]
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
        return (
            f"MPCAgent(planner={type(self.planner).__name__}, horizon={self.horizon}, "
            f"replan_every={self.replan_every}, action_repeat={self.action_repeat}, "
            f"device={self.device})"
        )


__all__ = ["MPCAgent"]
