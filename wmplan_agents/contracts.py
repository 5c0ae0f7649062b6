"""The contracts between the parts: world models, planners, plan results.

Everything else in ``wmplan_agents`` depends on this module, never on another part's internals.

Action conventions (shared by every planner and the MPC agent):

* A *model action* stands for ``action_repeat`` env actions (the papers' frameskip).
* Box env action space of shape ``(d,)``: a model action is the ``action_repeat`` env actions
  concatenated, a vector of ``A = action_repeat * d`` inside the tiled bounds.
* Discrete env action space with ``n`` actions: a model action is a one-hot vector of ``n``
  (relaxed, i.e. a probability vector, while a gradient planner optimises it), so
  ``A = action_repeat * n``; plans returned to the caller are always hard one-hots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

CostFn = Callable[[Tensor, Tensor, Tensor], Tensor]
"""``cost(z_traj [B, H, D], actions [B, H, A], z_goal [B, D]) -> [B]``, differentiable."""


class PlanningError(RuntimeError):
    """Planning could not produce a finite plan (e.g. the model returned NaN at some step)."""


@runtime_checkable
class WorldModel(Protocol):
    """Anything with these members is a world model; no subclassing needed.

    Optional members: ``rollout(z0 [B, D], actions [B, H, A]) -> [B, H, D]`` (see :func:`rollout`
    for the default) and ``action_repeat: int`` (env actions per model action, default 1).
    """

    action_space: gym.spaces.Space

    def encode(self, obs: Tensor) -> Tensor:
        """``[B, *obs_shape] -> [B, D]``."""
        ...

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        """``[B, D], [B, A] -> [B, D]``, differentiable in both."""
        ...


@runtime_checkable
class BatchedRollout(Protocol):
    """A world model with its own multi-step rollout (faster than looping ``step``)."""

    def rollout(self, z0: Tensor, actions: Tensor) -> Tensor:
        """``[B, D], [B, H, A] -> [B, H, D]``."""
        ...


@runtime_checkable
class EnvAware(Protocol):
    """A model that says which env it was made for (every shipped or trained checkpoint,
    ``ground_truth(env)``); a user's model may declare the two attributes and need not."""

    env_id: str | None
    env_kwargs: dict[str, Any]


@runtime_checkable
class TwoLevel(Protocol):
    """A world model with a coarse level (HELM): ``coarse_model()`` is a world model on the same
    latent whose step covers several of the model's steps."""

    def coarse_model(self) -> WorldModel:
        """The coarse level, a :class:`WorldModel`."""
        ...


@runtime_checkable
class KnownDynamics(Protocol):
    """An env whose dynamics are known in closed form, as Gymnasium's ``FuncEnv.transition``:
    ``transition_torch(state [B, S], action [B, a]) -> [B, S]``, batched and differentiable,
    identical to ``step``. ``ground_truth(env)`` wraps it as a world model."""

    def transition_torch(self, state: Tensor, action: Tensor) -> Tensor:
        """The next states of a batch."""
        ...


@runtime_checkable
class Trainable(Protocol):
    """A world model that :func:`~wmplan_agents.training.train` fits without being told how:
    an ``nn.Module`` whose ``default_objective()`` is its training loss. Optional members:
    ``fit_normalization(batch)`` (see :class:`Normalized`)."""

    def default_objective(self) -> Any:
        """The :class:`~wmplan_agents.objectives.Objective` it trains with."""
        ...

    def parameters(self) -> Any:
        """Its parameters (``nn.Module``)."""
        ...


@runtime_checkable
class Normalized(Protocol):
    """A model that fits input/output statistics from data before training (``train`` calls it
    on up to 20,000 windows of ``normalization_window`` steps, if it has that attribute)."""

    def fit_normalization(self, batch: dict[str, Tensor]) -> None:
        """Set the statistics from ``batch``."""
        ...


@runtime_checkable
class Checkpointable(Protocol):
    """A model :func:`~wmplan_agents.checkpoint.save` can write: an ``nn.Module`` whose
    ``get_config()`` returns its constructor's keyword arguments (JSON values and spaces)."""

    def get_config(self) -> dict[str, Any]:
        """The constructor's keyword arguments."""
        ...

    def state_dict(self) -> Any:
        """Its tensors (``nn.Module``)."""
        ...


@runtime_checkable
class StateDecoder(Protocol):
    """A latent the env's state can be read back from: ``to_state(z [B, D]) -> [B, S]`` (the
    shipped state models). Optional: ``angle_dims`` (state entries that are angles, encoded as
    cos/sin pairs) and ``raw_dim`` (the state's size)."""

    def to_state(self, z: Tensor) -> Tensor:
        """The env states of the latents ``z``."""
        ...


@runtime_checkable
class Resettable(Protocol):
    """A planner with carried randomness: ``reset(seed=None)`` restarts its random stream (from
    its own seed, or mixed with an episode's seed). The library's planners all are."""

    def reset(self, seed: int | None = None) -> None:
        """Restart the random stream."""
        ...


@dataclass
class PlanResult:
    """What a planner returns.

    ``actions``: ``[B, H, A]`` model actions inside the bounds (hard one-hots for discrete
    spaces); ``cost``: ``[B]``, the objective of those actions under the model; ``info``:
    per-iteration cost history (``"cost_history"``, ``[iterations, B]``), timings
    (``"time_s"``), ``"iterations"`` used, and whatever else the planner documents.
    ``carry``: ``[B, ...]`` state the planner wants back at its next call for the same problems
    (iCEM's kept elites), or ``None``; :class:`~wmplan_agents.MPCAgent` keeps it per env, passes
    it back as ``plan(..., carry=...)`` and drops an env's row when that env's episode starts.
    """

    actions: Tensor
    cost: Tensor
    info: dict[str, Any] = field(default_factory=dict)
    carry: Tensor | None = None


@runtime_checkable
class Planner(Protocol):
    """A planner: a small class whose constructor takes typed keyword arguments and a ``seed``.

    ``carry`` is the ``PlanResult.carry`` of the previous call for the same problems (a row of
    NaN where a problem has none); a planner that never returns a carry is never passed one.
    """

    def plan(
        self,
        model: WorldModel,
        z0: Tensor,
        z_goal: Tensor,
        horizon: int,
        init_actions: Tensor | None = None,
        cost: CostFn | None = None,
        carry: Tensor | None = None,
    ) -> PlanResult:
        """Plan ``horizon`` model actions for each of the ``B`` problems ``(z0[b], z_goal[b])``."""
        ...


# -- helpers every planner uses ----------------------------------------------------------------


def action_repeat(model: WorldModel) -> int:
    """How many env actions one model action stands for (``model.action_repeat``, default 1)."""
    k = int(getattr(model, "action_repeat", 1))
    if k < 1:
        raise ValueError(f"model.action_repeat must be a positive integer, got {k}")
    return k


def is_discrete(model: WorldModel) -> bool:
    """Whether the model's env action space is ``Discrete``."""
    return isinstance(model.action_space, gym.spaces.Discrete)


def action_dim(model: WorldModel) -> int:
    """``A``, the size of one model action (see the module docstring)."""
    space = model.action_space
    if isinstance(space, gym.spaces.Discrete):
        return action_repeat(model) * int(space.n)
    if isinstance(space, gym.spaces.Box):
        return action_repeat(model) * int(np.prod(space.shape))
    raise TypeError(f"unsupported action space {space}: expected Box or Discrete")


def action_bounds(
    model: WorldModel, device: Any = None, dtype: Any = None
) -> tuple[Tensor, Tensor]:
    """Lower and upper bounds ``[A]`` of a model action (``[0, 1]`` for relaxed one-hots)."""
    space = model.action_space
    dtype = dtype or torch.float32
    if isinstance(space, gym.spaces.Discrete):
        n = action_dim(model)
        return torch.zeros(n, device=device, dtype=dtype), torch.ones(n, device=device, dtype=dtype)
    low = np.tile(np.asarray(space.low, dtype=np.float64).ravel(), action_repeat(model))
    high = np.tile(np.asarray(space.high, dtype=np.float64).ravel(), action_repeat(model))
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError(f"planners need a bounded action space, got {space}")
    return (
        torch.as_tensor(low, device=device, dtype=dtype),
        torch.as_tensor(high, device=device, dtype=dtype),
    )


def rollout(model: WorldModel, z0: Tensor, actions: Tensor) -> Tensor:
    """``[B, D], [B, H, A] -> [B, H, D]``: ``model.rollout`` if present, else loop ``step``."""
    if isinstance(model, BatchedRollout):
        return model.rollout(z0, actions)
    return step_rollout(model, z0, actions)


def final_latent(model: WorldModel, z0: Tensor, actions: Tensor) -> Tensor:
    """``[B, D], [B, H, A] -> [B, D]``: the last latent of :func:`step_rollout`, without
    keeping the others."""
    z = z0
    for a_t in actions.unbind(1):
        z = model.step(z, a_t)
    return z


def step_rollout(model: WorldModel, z0: Tensor, actions: Tensor) -> Tensor:
    """``[B, D], [B, H, A] -> [B, H, D]`` by calling ``model.step`` once per time step."""
    z, out = z0, []
    for a_t in actions.unbind(1):  # one op for all H views, instead of H slices
        z = model.step(z, a_t)
        out.append(z)
    return torch.stack(out, dim=1)


def squared_distance(z: Tensor, z_goal: Tensor) -> Tensor:
    """``|z - z_goal|^2`` per row, ``[N, D], [N, D] -> [N]``."""
    return ((z - z_goal) ** 2).sum(-1)


def goal_cost(z_traj: Tensor, actions: Tensor, z_goal: Tensor) -> Tensor:
    """The default objective: squared distance of the final predicted latent to the goal."""
    return squared_distance(z_traj[:, -1], z_goal)


def dense_goal_cost(z_traj: Tensor, actions: Tensor, z_goal: Tensor) -> Tensor:
    """The dense variant: squared distance to the goal summed over every predicted step."""
    return ((z_traj - z_goal[:, None]) ** 2).sum(-1).sum(-1)


def arrive_goal_cost(z_traj: Tensor, actions: Tensor, z_goal: Tensor) -> Tensor:
    """The final squared distance plus a tenth of its mean over the plan: be at the goal by
    the end of the plan (the final term picks the route, so a detour that arrives beats waiting
    at an obstacle), and sooner rather than later (the mean term, so the arrival does not recede
    as the MPC agent replans)."""
    d = ((z_traj - z_goal[:, None]) ** 2).sum(-1)
    return d[:, -1] + 0.1 * d.mean(-1)


COSTS: dict[str, CostFn] = {
    "final": goal_cost,
    "dense": dense_goal_cost,
    "arrive": arrive_goal_cost,
}
"""Default goal costs by name (the names :mod:`registry.presets` uses)."""


# -- the env a model was made for ------------------------------------------------------------


def single_env(env: Any, env_kwargs: dict[str, Any] | None = None) -> gym.Env:
    """One ``gym.Env`` from an env, an env id, or a vector env (its first sub-env)."""
    if isinstance(env, str):
        return gym.make(env, **(env_kwargs or {}))
    if env_kwargs:
        raise ValueError(f"env_kwargs are only used with an env id, got an env and {env_kwargs}")
    if isinstance(env, gym.Env):
        return env
    sub_envs = getattr(env, "envs", None)  # gymnasium SyncVectorEnv, SB3 DummyVecEnv
    if sub_envs:
        return sub_envs[0]
    raise ValueError(
        f"expected a gymnasium env, an env id or a vector env with an `envs` list "
        f"(SyncVectorEnv, SB3 DummyVecEnv), got {type(env).__name__}; for an AsyncVectorEnv "
        "pass gym.make(env_id) instead"
    )


def model_env(model: WorldModel) -> tuple[str | None, dict[str, Any]]:
    """``(env_id, env_kwargs)`` a model declares it was trained on (``model.env_id`` and
    ``model.env_kwargs``), or ``(None, {})`` for a model that does not say."""
    if not isinstance(model, EnvAware):
        return None, {}
    env_id, kwargs = model.env_id, model.env_kwargs or {}
    if env_id is not None and not isinstance(env_id, str):
        raise ValueError(f"model.env_id must be a string or None, got {env_id!r}")
    if not isinstance(kwargs, dict):
        raise ValueError(f"model.env_kwargs must be a dict, got {type(kwargs).__name__}")
    return env_id, dict(kwargs)


def set_model_env(model: WorldModel, env_id: str | None, env_kwargs: dict[str, Any] | None) -> Any:
    """Record on ``model`` the env it was made for (see :func:`model_env`); returns ``model``."""
    model.env_id = env_id
    model.env_kwargs = dict(env_kwargs or {})
    return model


def model_obs_shape(model: WorldModel) -> tuple[int, ...] | None:
    """The per-env observation shape a model encodes: ``model.observation_space`` (or its
    ``observation`` entry), else its config's ``obs_shape`` / ``obs_dim``; ``None`` if unknown."""
    space = getattr(model, "observation_space", None)
    if isinstance(space, gym.spaces.Dict):
        space = space["observation"]
    if isinstance(space, gym.spaces.Box):
        return tuple(space.shape)
    config = model.get_config() if isinstance(model, Checkpointable) else {}
    if config.get("obs_shape") is not None:
        return tuple(int(v) for v in config["obs_shape"])
    if config.get("obs_dim") is not None:
        return (int(config["obs_dim"]),)
    return None


def to_env_actions(model: WorldModel, actions: Tensor) -> np.ndarray:
    """Model actions ``[B, H, A]`` to env actions ``[B, H * action_repeat, ...]`` (NumPy).

    Box: the concatenated env actions are split apart and reshaped to the space's shape.
    Discrete: each one-hot (or relaxed) block becomes its arg-max index.
    """
    space = model.action_space
    k = action_repeat(model)
    b, h, _ = actions.shape
    acts = actions.detach().cpu()
    if isinstance(space, gym.spaces.Discrete):
        idx = acts.reshape(b, h * k, int(space.n)).argmax(-1) + int(space.start)
        return idx.numpy().astype(np.int64)
    flat = acts.reshape(b, h * k, *space.shape).numpy().astype(space.dtype)
    return np.clip(flat, space.low, space.high)


def from_env_actions(model: WorldModel, env_actions: np.ndarray | Tensor) -> Tensor:
    """The inverse of :func:`to_env_actions`: ``[B, H * k, ...]`` env actions to ``[B, H, A]``."""
    space = model.action_space
    k = action_repeat(model)
    acts = torch.as_tensor(np.asarray(env_actions))
    b = acts.shape[0]
    if isinstance(space, gym.spaces.Discrete):
        one_hot = torch.nn.functional.one_hot(acts.long() - int(space.start), int(space.n))
        return one_hot.reshape(b, -1, k * int(space.n)).float()
    return acts.reshape(b, -1, action_dim(model)).float()
