"""The rugged energy landscape of the Two Pillars paper (Experiment 2, funnel creation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from wmplan_envs import core, draw

if TYPE_CHECKING:
    import torch


def energy(x: np.ndarray, goal: np.ndarray, amplitude: float, omega: float) -> np.ndarray:
    """``E(x) = |x - x*|^2 + amplitude * sum_i 2 sin^2(omega (x_i - x*_i) / 2)`` over ``[..., 2]``.

    The ripple term is non-negative and zero at ``x*``, so ``x*`` is the unique global minimum
    with ``E = 0``; for ``amplitude * omega > 2 |x - x*|`` the ripples add local minima.
    """
    d = np.asarray(x, dtype=np.float64) - np.asarray(goal, dtype=np.float64)
    ripples = 2.0 * np.sin(0.5 * omega * d) ** 2
    return np.sum(d**2, axis=-1) + amplitude * np.sum(ripples, axis=-1)


class RuggedLandscapeEnv(core.GoalEnv):
    """
    ## Description

    A point in the square ``[-bound, bound]^2`` moved by bounded displacements over the energy
    ``E(x) = |x - x*|^2 + amplitude * sum_i 2 sin^2(omega (x_i - x*_i) / 2)``: a quadratic basin
    around the goal ``x*`` covered in high-frequency sinusoidal ripples (Two Pillars,
    Experiment 2). The goal is the global minimum (``E(x*) = 0``); with the default
    ``amplitude=0.5, omega=15`` the ripples create local minima over the whole square, so plain
    gradient descent on ``E`` reaches the global basin only from starts already close to it.
    The energy is available as a differentiable torch function (:meth:`energy_torch`), and the
    transition as :meth:`transition_torch`.

    ## Action Space

    ``Box(-1, 1, (2,), float32)``: the displacement is ``max_step * a``. Finite out-of-range
    actions are clipped; non-finite, wrongly shaped or non-numeric ones raise ``ValueError``.

    ## Observation Space

    ``Dict(observation, achieved_goal, desired_goal)``, each ``Box(-bound, bound, (2,), float32)``:
    the position, the position again, and the goal ``x*``.

    ## Rewards

    ``-E(x)``, the negative energy at the new position (vectorised in ``compute_reward``).

    ## Starting State

    ``x*`` uniform in ``[-goal_range, goal_range]^2``; the start uniform in ``[-bound, bound]^2``.

    ## Episode End

    Terminated when ``||x - x*|| < success_radius`` if ``terminate_on_success``; truncated by the
    registry's ``max_episode_steps`` (50).

    ## Arguments

    ``gym.make("WMPlan/RuggedLandscape-v0", amplitude=0.5, omega=15.0, bound=1.0,
    goal_range=0.5, max_step=0.1, success_radius=0.05, terminate_on_success=True,
    render_mode=None)``

    ## Version History

    * v0: initial version.
      Later, without a version bump: keyword arguments are validated in ``__init__`` (wrong
      types, non-finite or out-of-range values raise ``ValueError``), and the default
      registration stays the benchmark that ``ground_truth`` plans in.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    # the keyword arguments a world model of this env depends on (dynamics and observations)
    world_model_kwargs: tuple[str, ...] = ("bound", "max_step")

    def __init__(
        self,
        amplitude: float = 0.5,
        omega: float = 15.0,
        bound: float = 1.0,
        goal_range: float = 0.5,
        max_step: float = 0.1,
        success_radius: float = 0.05,
        terminate_on_success: bool = True,
        render_mode: str | None = None,
        render_size: int = 128,
    ) -> None:
        amplitude = core.check_real("amplitude", amplitude, 0.0)
        omega = core.check_real("omega", omega, 0.0, strict=True)
        bound = core.check_real("bound", bound, 0.0, strict=True)
        goal_range = core.check_real("goal_range", goal_range, 0.0)
        max_step = core.check_real("max_step", max_step, 0.0, strict=True)
        success_radius = core.check_real("success_radius", success_radius, 0.0, strict=True)
        terminate_on_success = core.check_bool("terminate_on_success", terminate_on_success)
        render_size = core.check_int("render_size", render_size, 8, core.MAX_IMAGE_SIZE)
        if amplitude < 0 or omega <= 0:
            raise ValueError(f"need amplitude >= 0 and omega > 0, got {amplitude}, {omega}")
        if not 0 <= goal_range <= bound:
            raise ValueError(f"goal_range must lie in [0, bound={bound}], got {goal_range}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.amplitude = float(amplitude)
        self.omega = float(omega)
        self.bound = float(bound)
        self.goal_range = float(goal_range)
        self.max_step = float(max_step)
        self.success_radius = float(success_radius)
        self.terminate_on_success = terminate_on_success
        self.render_mode = render_mode
        self.render_size = render_size

        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        pos_space = spaces.Box(-self.bound, self.bound, shape=(2,), dtype=np.float32)
        self.observation_space = core.goal_observation_space(pos_space)
        self._pos = np.zeros(2)
        self._goal = np.zeros(2)
        self._background: tuple[tuple[float, float], np.ndarray] | None = None

    # -- landscape and dynamics ---------------------------------------------------------------
    def energy(self, x: np.ndarray, goal: np.ndarray | None = None) -> np.ndarray:
        """The energy at positions ``[..., 2]`` (goal defaults to the current episode's)."""
        return energy(x, self._goal if goal is None else goal, self.amplitude, self.omega)

    def energy_torch(self, x: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """Differentiable energy for positions ``[..., 2]`` and goals broadcastable to them."""
        import torch

        d = x - goal
        ripples = 2.0 * torch.sin(0.5 * self.omega * d) ** 2
        return (d**2).sum(-1) + self.amplitude * ripples.sum(-1)

    def smoothed_energy(self, x: Any, goal: Any, sigma: float) -> Any:
        """The energy convolved with a Gaussian, ``E_sigma(x) = E_delta[E(x + delta)]``,
        ``delta ~ N(0, sigma^2 I)``, in closed form (NumPy arrays or torch tensors ``[..., 2]``):
        ``|d|^2 + 2 sigma^2 + amplitude * sum_i (1 - exp(-omega^2 sigma^2 / 2) cos(omega d_i))``.
        The ripples shrink by ``exp(-omega^2 sigma^2 / 2)`` (0.011 at ``omega = 15``,
        ``sigma = 0.2``); the basin keeps its slope."""
        sigma = core.check_real("sigma", sigma, 0.0)
        damp = float(np.exp(-0.5 * (self.omega * sigma) ** 2))
        d = x - goal
        if isinstance(d, np.ndarray):
            cos = np.cos
        else:
            import torch

            cos = torch.cos
        ripples = 1.0 - damp * cos(self.omega * d)
        return (d**2).sum(-1) + d.shape[-1] * sigma**2 + self.amplitude * ripples.sum(-1)

    def transition_torch(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Batched, differentiable transition, identical to ``step``."""
        import torch

        moved = state + self.max_step * torch.clamp(action, -1.0, 1.0)
        return torch.clamp(moved, -self.bound, self.bound)

    # -- goal interface ---------------------------------------------------------------------
    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        return -energy(achieved_goal, desired_goal, self.amplitude, self.omega)

    def compute_success(self, achieved_goal: Any, desired_goal: Any) -> Any:
        diff = np.asarray(achieved_goal, dtype=np.float64) - np.asarray(desired_goal)
        return np.linalg.norm(diff, axis=-1) < self.success_radius

    # -- gym API ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self._goal = self.np_random.uniform(-self.goal_range, self.goal_range, 2)
        self._pos = self.np_random.uniform(-self.bound, self.bound, 2)
        return self._obs(), self._info()

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        action = self._validate_action(action)
        moved = self._pos + self.max_step * action.astype(np.float64)
        self._pos = np.clip(moved, -self.bound, self.bound)
        obs, info = self._obs(), self._info()
        # computed from the float32 observation, so compute_reward(obs...) reproduces it exactly
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        terminated = bool(self.terminate_on_success and info["is_success"])
        return obs, reward, terminated, False, info

    def _obs(self) -> dict[str, np.ndarray]:
        return self._goal_obs(self._pos.astype(np.float32), self._goal.astype(np.float32))

    def _info(self) -> dict[str, Any]:
        return {
            "is_success": bool(self.compute_success(self._pos, self._goal)),
            "state": self._pos.astype(np.float32),
            "goal_state": self._goal.astype(np.float32),
            "energy": float(self.energy(self._pos)),
        }

    def render(self) -> np.ndarray | None:
        """``rgb_array``: ``[render_size, render_size, 3]`` uint8, the energy as a heat map
        (dark = low), the goal (green cross) and the point (blue disc)."""
        if self.render_mode is None:
            return None
        size = self.render_size
        key = (float(self._goal[0]), float(self._goal[1]))
        if self._background is None or self._background[0] != key:
            axis = np.linspace(-self.bound, self.bound, size)
            xx, yy = np.meshgrid(axis, axis[::-1])
            e = self.energy(np.stack([xx, yy], axis=-1))
            shade = (255 * (e - e.min()) / max(np.ptp(e), 1e-12)).astype(np.uint8)
            self._background = (key, np.stack([shade, shade, 255 - shade // 2], axis=-1))
        img = self._background[1].copy()

        def xy(v: np.ndarray) -> tuple[float, float]:
            px = draw.to_pixel(v, -self.bound, self.bound, size)
            return float(px[0]), float(size - 1 - px[1])

        draw.cross(img, *xy(self._goal), half=max(size // 30, 3), color=(0, 200, 0))
        draw.disc(img, *xy(self._pos), radius=max(size / 50, 2), color=(220, 40, 40))
        return img
