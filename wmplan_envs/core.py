"""Shared mechanics of the WMPlan environments.

Every WMPlan env is goal-conditioned with a Gymnasium-Robotics style Dict observation
``{"observation", "achieved_goal", "desired_goal"}``, reports ``is_success``, ``state`` and
``goal_state`` in ``info``, and validates actions the same way. :class:`GoalEnv` holds that shared
part; an env family subclasses it and writes only what differs.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

MAX_IMAGE_SIZE = 1024  # pixels per side of an observation or a rendered frame


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """A keyword argument as an int (Python or NumPy; not bool, not 2.5) in [low, high] (either
    bound may be None). Shared by the envs and the planners."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}")
    return int(value)


def check_real(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    strict: bool = False,
) -> float:
    """A keyword argument as a finite float in [low, high] (``strict``: above ``low``; either
    bound may be None). Shared by the envs and the planners."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (v <= low if strict else v < low):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value!r}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return v


def check_bool(name: str, value: Any) -> bool:
    """An env keyword argument that must be a bool (``"no"`` is not False)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def goal_observation_space(obs_space: spaces.Space) -> spaces.Dict:
    """The Dict space of a goal-conditioned env whose goal lives in the observation space."""
    return spaces.Dict(
        {"observation": obs_space, "achieved_goal": obs_space, "desired_goal": obs_space}
    )


def check_action(action: Any, space: spaces.Space) -> np.ndarray | int:
    """Validate an action for ``space`` and return it in canonical form.

    Box: the action must be a real numeric (integer or floating) array of the space's shape with
    only finite entries; it is cast to the space's dtype and finite out-of-range values are
    clipped to the bounds. Discrete: an integer (Python, NumPy scalar or 0-d array) inside the
    space. Anything else raises :class:`ValueError` naming what was given and what was expected.
    """
    if isinstance(space, spaces.Discrete):
        arr = np.asarray(action)
        if arr.shape not in ((), (1,)) or arr.dtype.kind not in "iu":
            raise ValueError(
                f"expected one integer action in [0, {space.n}), got {action!r} "
                f"(dtype {arr.dtype}, shape {arr.shape})"
            )
        value = int(arr.reshape(()))
        if not space.start <= value < space.start + space.n:
            raise ValueError(
                f"action {value} is outside Discrete({space.n}): expected an integer in "
                f"[{space.start}, {space.start + space.n})"
            )
        return value
    if not isinstance(space, spaces.Box):  # pragma: no cover - envs only use Box and Discrete
        raise TypeError(f"unsupported action space {space}")
    try:
        arr = np.asarray(action)
    except Exception as err:  # e.g. ragged nested lists
        raise ValueError(
            f"expected an action array of shape {space.shape}, got {action!r}"
        ) from err
    if arr.dtype.kind not in "iuf":
        raise ValueError(
            f"expected a real numeric action (float or int) of shape {space.shape}, "
            f"got dtype {arr.dtype}"
        )
    if arr.shape != space.shape:
        raise ValueError(f"expected an action of shape {space.shape}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"action contains non-finite values (NaN or inf): {arr.tolist()}")
    # clip before the cast: a finite 1e300 clips to the bound instead of overflowing float32
    return np.clip(arr, space.low, space.high).astype(space.dtype)


class GoalEnv(gym.Env):
    """Base of the WMPlan envs: goal-conditioned Dict observations and action validation.

    Subclasses set ``observation_space`` (with :func:`goal_observation_space`) and
    ``action_space``, and implement ``reset``, ``step`` and :meth:`compute_reward`. They call
    :meth:`_validate_action` first thing in ``step``.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}
    # The constructor keyword arguments that change the dynamics or the observations, so that a
    # world model trained with one value does not fit another (an MPC agent checks them).
    world_model_kwargs: tuple[str, ...] = ("obs_type",)

    @property
    def render_shape(self) -> tuple[int, int, int]:
        """Shape of the ``rgb_array`` frames ``render()`` returns (square ``render_size``)."""
        size = int(getattr(self, "render_size", 0))
        return (size, size, 3)

    def _validate_action(self, action: Any) -> Any:
        return check_action(action, self.action_space)

    def compute_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> np.ndarray | float:
        """Vectorised reward for goals of shape ``[..., *goal_shape]`` (SB3's HER calls this)."""
        raise NotImplementedError

    def compute_success(self, achieved_goal: np.ndarray, desired_goal: np.ndarray) -> np.ndarray:
        """Vectorised success test, like :meth:`compute_reward`."""
        raise NotImplementedError

    @staticmethod
    def _goal_obs(observation: np.ndarray, desired_goal: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "observation": observation.copy(),
            "achieved_goal": observation.copy(),
            "desired_goal": desired_goal.copy(),
        }
