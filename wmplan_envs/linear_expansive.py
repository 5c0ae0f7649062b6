"""The linear expansive system of the Two Pillars paper (Experiment 1, the spectral cliff)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from wmplan_envs import core, draw

if TYPE_CHECKING:
    import torch


def make_system(
    dim: int, expansion: float, input_gain: float, system_seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Build ``(W, B)``: ``W = Q diag(lam) Q^T`` with ``max |lam| = expansion``, ``B = gain * R``.

    ``Q`` and ``R`` are random orthogonal matrices drawn from ``system_seed``; the leading
    eigenvalue is exactly ``expansion`` and the others are ``expansion * U(0.6, 0.95)``, so the
    spectral radius of ``W`` equals ``expansion`` and ``||W^T B||`` grows like ``expansion^T``.
    """
    rng = np.random.default_rng(system_seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    eigenvalues = np.concatenate([[expansion], expansion * rng.uniform(0.6, 0.95, dim - 1)])
    w = (q * eigenvalues) @ q.T
    r, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return w, input_gain * r


class LinearExpansiveEnv(core.GoalEnv):
    """
    ## Description

    A linear system ``s' = W s + B a`` whose transition matrix ``W`` has spectral radius
    ``expansion`` > 1: left alone, the state runs away, and the Jacobian of a rollout,
    ``d s_T / d a_0 = W^(T-1) B``, grows like ``expansion^T``. This is the "spectral cliff" of
    *The Two Pillars of Gradient Planning* (Experiment 1): gradient planning through a long rollout
    of an expansive model sees exploding gradients. ``W`` and ``B`` are fixed by ``system_seed``
    and do not change between episodes; ``W = Q diag(lam) Q^T`` is symmetric with leading
    eigenvalue exactly ``expansion``, ``B`` is ``input_gain`` times a random orthogonal matrix
    (so the system is fully actuated).

    The exact dynamics are available as a batched, differentiable torch function,
    :meth:`transition_torch`, used by ``wmplan_agents.models.ground_truth``.

    ## Action Space

    ``Box(-1, 1, (dim,), float32)``. Finite out-of-range actions are clipped to the bounds;
    non-finite, wrongly shaped or non-numeric actions raise ``ValueError``.

    ## Observation Space

    ``Dict(observation, achieved_goal, desired_goal)``, each ``Box(-inf, inf, (dim,), float32)``:
    the state, the state again, and the goal state.

    ## Rewards

    ``-||s - g||^2`` (negative squared distance to the goal), vectorised in ``compute_reward``.

    ## Starting State

    Start and goal are drawn independently and uniformly from ``[-init_range, init_range]^dim``
    with the env's ``np_random``.

    ## Episode End

    Terminated when ``||s - g|| < success_radius`` (``info["is_success"]``) if
    ``terminate_on_success``, or when ``||s|| > max_norm`` (the state has diverged).
    Truncated by the registry's ``max_episode_steps`` (50).

    ## Arguments

    ``gym.make("WMPlan/LinearExpansive-v0", dim=4, expansion=1.15, input_gain=0.5,
    system_seed=0, init_range=1.0, success_radius=0.1, max_norm=1000.0,
    terminate_on_success=True, render_mode=None)``

    ## Version History

    * v0: initial version.
      Later, without a version bump: keyword arguments are validated in ``__init__`` (wrong
      types, non-finite or out-of-range values raise ``ValueError``), and the default
      registration stays the benchmark that ``ground_truth`` plans in.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    # the keyword arguments a world model of this env depends on (dynamics and observations)
    world_model_kwargs: tuple[str, ...] = ("dim", "expansion", "input_gain", "system_seed")

    def __init__(
        self,
        dim: int = 4,
        expansion: float = 1.15,
        input_gain: float = 0.5,
        system_seed: int = 0,
        init_range: float = 1.0,
        success_radius: float = 0.1,
        max_norm: float = 1000.0,
        terminate_on_success: bool = True,
        render_mode: str | None = None,
        render_size: int = 256,
    ) -> None:
        dim = core.check_int("dim", dim, 1, 1024)
        expansion = core.check_real("expansion", expansion, 0.0, strict=True)
        input_gain = core.check_real("input_gain", input_gain)
        system_seed = core.check_int("system_seed", system_seed, 0)
        init_range = core.check_real("init_range", init_range, 0.0)
        success_radius = core.check_real("success_radius", success_radius, 0.0, strict=True)
        max_norm = core.check_real("max_norm", max_norm, 0.0, strict=True)
        terminate_on_success = core.check_bool("terminate_on_success", terminate_on_success)
        render_size = core.check_int("render_size", render_size, 8, core.MAX_IMAGE_SIZE)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.dim = dim
        self.expansion = float(expansion)
        self.init_range = float(init_range)
        self.success_radius = float(success_radius)
        self.max_norm = float(max_norm)
        self.terminate_on_success = terminate_on_success
        self.render_mode = render_mode
        self.render_size = render_size
        self.W, self.B = make_system(dim, self.expansion, float(input_gain), system_seed)

        self.action_space = spaces.Box(-1.0, 1.0, shape=(dim,), dtype=np.float32)
        state_space = spaces.Box(-np.inf, np.inf, shape=(dim,), dtype=np.float32)
        self.observation_space = core.goal_observation_space(state_space)
        self._state = np.zeros(dim)
        self._goal = np.zeros(dim)

    # -- dynamics ---------------------------------------------------------------------------
    def transition(self, state: np.ndarray, action: np.ndarray) -> np.ndarray:
        """``W s + B a`` for states ``[..., dim]`` and actions ``[..., dim]`` (NumPy)."""
        action = np.clip(action, -1.0, 1.0)
        return state @ self.W.T + action @ self.B.T

    def transition_torch(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Batched, differentiable ``W s + B a`` (actions clamped to ``[-1, 1]`` like ``step``)."""
        import torch

        w = torch.as_tensor(self.W, dtype=state.dtype, device=state.device)
        b = torch.as_tensor(self.B, dtype=state.dtype, device=state.device)
        return state @ w.T + torch.clamp(action, -1.0, 1.0) @ b.T

    # -- goal interface ---------------------------------------------------------------------
    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        diff = np.asarray(achieved_goal, dtype=np.float64) - np.asarray(desired_goal)
        return -np.sum(diff**2, axis=-1)

    def compute_success(self, achieved_goal: Any, desired_goal: Any) -> Any:
        diff = np.asarray(achieved_goal, dtype=np.float64) - np.asarray(desired_goal)
        return np.linalg.norm(diff, axis=-1) < self.success_radius

    # -- gym API ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        r = self.init_range
        self._state = self.np_random.uniform(-r, r, self.dim)
        self._goal = self.np_random.uniform(-r, r, self.dim)
        return self._obs(), self._info()

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        action = self._validate_action(action)
        self._state = self.transition(self._state, action.astype(np.float64))
        obs, info = self._obs(), self._info()
        # computed from the float32 observation, so compute_reward(obs...) reproduces it exactly
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        diverged = bool(np.linalg.norm(self._state) > self.max_norm)
        terminated = diverged or (self.terminate_on_success and info["is_success"])
        info["diverged"] = diverged
        return obs, reward, terminated, False, info

    def _obs(self) -> dict[str, np.ndarray]:
        return self._goal_obs(self._state.astype(np.float32), self._goal.astype(np.float32))

    def _info(self) -> dict[str, Any]:
        return {
            "is_success": bool(self.compute_success(self._state, self._goal)),
            "state": self._state.astype(np.float32),
            "goal_state": self._goal.astype(np.float32),
        }

    def render(self) -> np.ndarray | None:
        """``rgb_array``: ``[render_size, render_size, 3]`` uint8, the first two state
        coordinates (blue disc) and the goal's (green cross) on a ``[-3, 3]^2`` view."""
        if self.render_mode is None:
            return None
        size = self.render_size
        img = draw.canvas(size)
        centre = size // 2
        img[centre, :] = (220, 220, 220)
        img[:, centre] = (220, 220, 220)

        def xy(v: np.ndarray) -> tuple[float, float]:
            p = np.array([v[0], v[1] if self.dim > 1 else 0.0])
            px = draw.to_pixel(np.clip(p, -3, 3), -3.0, 3.0, size)
            return float(px[0]), float(size - 1 - px[1])

        draw.cross(img, *xy(self._goal), half=max(size // 40, 3), color=(0, 160, 0))
        draw.disc(img, *xy(self._state), radius=max(size / 64, 2), color=(30, 60, 220))
        return img
