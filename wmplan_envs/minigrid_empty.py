"""minigrid's Empty room, fully observed, in the WMPlan goal-conditioned convention."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from wmplan_envs.core import (
    GoalEnv,
    check_bool,
    check_int,
    goal_observation_space,
)

if TYPE_CHECKING:
    import torch

# minigrid's DIR_TO_VEC: 0 east (+x), 1 south (+y, y points down), 2 west, 3 north
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))
ACTION_NAMES = ("left", "right", "forward")  # ours 0, 1, 2 = minigrid's Actions 0, 1, 2


class MiniGridEmptyEnv(GoalEnv):
    """
    ## Description

    minigrid's ``MiniGrid-Empty-8x8-v0`` (a room with walls around it, the agent starting in the
    top-left cell ``(1, 1)`` facing east, the goal in the bottom-right cell ``(6, 6)``), fully
    observed and restricted to the three actions that do anything here. The grid logic is the
    wrapped ``minigrid.envs.EmptyEnv``'s own. The exact transition over the state vector is
    :meth:`transition_torch` (Two Pillars, Experiments 3-4).

    ## Action Space

    ``Discrete(3)``: 0 turn left, 1 turn right, 2 move forward (minigrid's actions 0, 1, 2).
    Anything else raises ``ValueError``.

    ## Observation Space

    ``obs_type="state"``: ``Box(0, 1, (N + 4,), float32)`` with ``N = (size - 2)^2`` (36 for the
    8x8 room): a one-hot of the agent's cell over the *interior* cells (the walls can never hold
    the agent), index ``(y - 1) * (size - 2) + (x - 1)``, then a one-hot of the direction
    (0 east, 1 south, 2 west, 3 north). ``desired_goal`` is the agent on the goal cell with the
    direction part ``0.25`` everywhere: the goal is a position, and every arrival direction is
    equally far from it, so a distance in state (or latent) space does not prefer one.
    ``obs_type="pixels"``: ``Box(0, 255, (size * tile_size, size * tile_size, 3), uint8)``, the
    full top-down RGB view (minigrid's ``RGBImgObsWrapper`` frame, no highlighting; 64 x 64 by
    default); ``desired_goal`` is that view with the agent drawn on the goal cell facing east
    (arriving from the west, the direction it has on the shortest paths along the bottom row).

    ## Rewards

    ``1.0`` when the agent stands on the goal cell, else ``0.0``, computed from the observation
    (the agent's cell is read back from images exactly), so ``compute_reward`` reproduces it and
    HER can relabel. minigrid's own time-discounted reward ``1 - 0.9 * steps / max_steps`` is in
    ``info["minigrid_reward"]``.

    ## Starting State

    The agent at ``(1, 1)`` facing east (the reference), or with ``random_start=True`` a random
    free cell and direction from the env's ``np_random`` (minigrid's ``place_agent``).

    ## Episode End

    Success (``info["is_success"]``) depends on the position only. The episode terminates on
    success (as minigrid) unless ``terminate_on_success=False``, and is truncated at
    ``max_episode_steps`` (256, minigrid's ``max_steps`` for the 8x8 room).

    ## Arguments

    ``gym.make("WMPlan/MiniGridEmpty-v0", size=8, obs_type="state", tile_size=8,
    random_start=False, terminate_on_success=True, render_mode=None, render_tile_size=32)``

    ## Version History

    * v0: initial version. Differs from ``MiniGrid-Empty-8x8-v0`` in: 3 actions instead of 7;
      flat one-hot or full-view observations instead of the egocentric 7 x 7 encoding and
      mission; a sparse 0/1 reward (minigrid's discounted one is in ``info``).
      Later, without a version bump: keyword arguments are validated in ``__init__`` (wrong
      types, non-finite or out-of-range values raise ``ValueError``), and the default
      registration stays the benchmark that the shipped model plans in.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    # the keyword arguments a world model of this env depends on (dynamics and observations)
    world_model_kwargs: tuple[str, ...] = ("obs_type", "size", "tile_size")

    def __init__(
        self,
        size: int = 8,
        obs_type: str = "state",
        tile_size: int = 8,
        random_start: bool = False,
        terminate_on_success: bool = True,
        max_steps: int = 256,
        render_mode: str | None = None,
        render_tile_size: int = 32,
    ) -> None:
        size = check_int("size", size, 4, 64)
        max_steps = check_int("max_steps", max_steps, 1)
        random_start = check_bool("random_start", random_start)
        terminate_on_success = check_bool("terminate_on_success", terminate_on_success)
        if obs_type not in ("state", "pixels"):
            raise ValueError(f"obs_type must be 'state' or 'pixels', got {obs_type!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        tile_size = check_int("tile_size", tile_size, 3, 256)
        render_tile_size = check_int("render_tile_size", render_tile_size, 3, 256)
        from minigrid.envs import EmptyEnv

        self.size = int(size)
        self.obs_type = obs_type
        self.tile_size = int(tile_size)
        self.random_start = bool(random_start)
        self.terminate_on_success = bool(terminate_on_success)
        self.render_mode = render_mode
        self.render_tile_size = int(render_tile_size)
        self._grid = EmptyEnv(
            size=self.size,
            agent_start_pos=None if random_start else (1, 1),
            agent_start_dir=0,
            max_steps=int(max_steps),
        )
        self.n_cells = (self.size - 2) ** 2
        self.state_dim = self.n_cells + 4
        self.goal_cell = (self.size - 2, self.size - 2)  # where EmptyEnv puts the goal

        self.action_space = spaces.Discrete(3)
        if obs_type == "state":
            obs_space = spaces.Box(0.0, 1.0, shape=(self.state_dim,), dtype=np.float32)
        else:
            side = self.size * self.tile_size
            obs_space = spaces.Box(0, 255, shape=(side, side, 3), dtype=np.uint8)
        self.observation_space = goal_observation_space(obs_space)
        self._forward_moves = self._forward_matrices()
        self._goal_image: np.ndarray | None = None

    # -- state vectors ------------------------------------------------------------------------
    def state_vector(self, cell: tuple[int, int], direction: int | None) -> np.ndarray:
        """The one-hot state of the agent at interior ``cell`` (x, y) facing ``direction``
        (``None``: the goal convention, 0.25 on every direction)."""
        x, y = int(cell[0]), int(cell[1])
        inner = self.size - 2
        if not (1 <= x <= inner and 1 <= y <= inner):
            raise ValueError(f"cell {cell!r} is not an interior cell (1..{inner} on each axis)")
        vec = np.zeros(self.state_dim)
        vec[(y - 1) * inner + (x - 1)] = 1.0
        if direction is None:
            vec[self.n_cells :] = 0.25
        else:
            vec[self.n_cells + int(direction)] = 1.0
        return vec

    def decode_state(self, state: np.ndarray) -> tuple[tuple[int, int], int]:
        """``((x, y), direction)`` of a one-hot state vector (argmax of each part)."""
        state = np.asarray(state)
        index = int(np.argmax(state[: self.n_cells]))
        inner = self.size - 2
        return (index % inner + 1, index // inner + 1), int(np.argmax(state[self.n_cells :]))

    def _forward_matrices(self) -> np.ndarray:
        """``[4, N, N]``: ``moves[d, i, j] = 1`` if moving forward facing ``d`` takes cell ``i``
        to cell ``j`` (the agent stays put in front of a wall)."""
        inner = self.size - 2
        moves = np.zeros((4, self.n_cells, self.n_cells))
        for d, (dx, dy) in enumerate(DIRECTIONS):
            for i in range(self.n_cells):
                x, y = i % inner, i // inner
                nx, ny = x + dx, y + dy
                j = ny * inner + nx if 0 <= nx < inner and 0 <= ny < inner else i
                moves[d, i, j] = 1.0
        return moves

    def transition_torch(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Exact next state for one-hot states ``[B, N + 4]`` and actions ``[B, 3]``.

        Hard one-hot actions give exactly what ``step`` gives; a relaxed action (a probability
        vector) gives the probability-weighted mixture of the three next states, which is
        differentiable in both the state and the action.
        """
        import torch

        if state.shape[-1] != self.state_dim or action.shape[-1] != 3:
            raise ValueError(
                f"expected states [B, {self.state_dim}] and actions [B, 3], "
                f"got {tuple(state.shape)} and {tuple(action.shape)}"
            )
        moves = torch.as_tensor(self._forward_moves, dtype=state.dtype, device=state.device)
        cells, dirs = state[..., : self.n_cells], state[..., self.n_cells :]
        turned_left = torch.cat([cells, torch.roll(dirs, -1, dims=-1)], dim=-1)  # d -> d - 1
        turned_right = torch.cat([cells, torch.roll(dirs, 1, dims=-1)], dim=-1)  # d -> d + 1
        moved = torch.einsum("...d,...i,dij->...j", dirs, cells, moves)
        forward = torch.cat([moved, dirs], dim=-1)
        a = action.to(state.dtype)
        return a[..., 0:1] * turned_left + a[..., 1:2] * turned_right + a[..., 2:3] * forward

    # -- goal interface -----------------------------------------------------------------------
    def agent_cells(self, images: np.ndarray) -> np.ndarray:
        """Cell index ``(y - 1) * (size - 2) + (x - 1)`` of the agent in full-view images
        ``[..., H, W, 3]`` (the tile with the most red agent pixels; -1 if none)."""
        img = np.asarray(images)
        t, n = self.tile_size, self.size
        red = (img[..., 0] >= 128) & (img[..., 1] < 128) & (img[..., 2] < 128)
        counts = red.reshape(*img.shape[:-3], n, t, n, t).sum(axis=(-3, -1))  # [..., y, x]
        interior = counts[..., 1:-1, 1:-1].reshape(*img.shape[:-3], self.n_cells)
        return np.where(interior.max(axis=-1) > 0, interior.argmax(axis=-1), -1)

    def _cells_of(self, obs: Any) -> np.ndarray:
        if self.obs_type == "pixels":
            return self.agent_cells(obs)
        return np.argmax(np.asarray(obs)[..., : self.n_cells], axis=-1)

    def compute_success(self, achieved_goal: Any, desired_goal: Any) -> Any:
        """Same cell (the direction is ignored), vectorised over leading dimensions."""
        achieved = self._cells_of(achieved_goal)
        return (achieved == self._cells_of(desired_goal)) & (achieved >= 0)

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        return self.compute_success(achieved_goal, desired_goal).astype(np.float64)

    # -- gym API ------------------------------------------------------------------------------
    @property
    def wrapped(self) -> Any:
        """The wrapped ``minigrid.envs.EmptyEnv``."""
        return self._grid

    @property
    def state(self) -> np.ndarray:
        """The current one-hot state vector (float64)."""
        return self.state_vector(tuple(self._grid.agent_pos), self._grid.agent_dir)

    @property
    def goal_state(self) -> np.ndarray:
        """The goal state vector: goal cell, direction part 0.25 everywhere (float64)."""
        return self.state_vector(self.goal_cell, None)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self._grid.reset(seed=int(self.np_random.integers(2**31 - 1)))
        return self._obs(), self._info(minigrid_reward=0.0)

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        action = self._validate_action(action)
        _, minigrid_reward, _, _, _ = self._grid.step(action)  # ours 0, 1, 2 = minigrid's
        obs, info = self._obs(), self._info(minigrid_reward=float(minigrid_reward))
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        terminated = self.terminate_on_success and info["is_success"]
        return obs, reward, terminated, False, info

    def _obs(self) -> dict[str, np.ndarray]:
        if self.obs_type == "state":
            return self._goal_obs(self.state.astype(np.float32), self.goal_state.astype(np.float32))
        if self._goal_image is None:
            self._goal_image = self._frame(self.tile_size, self.goal_cell, 0)
        return self._goal_obs(self._frame(self.tile_size), self._goal_image)

    def _info(self, minigrid_reward: float) -> dict[str, Any]:
        return {
            "is_success": tuple(self._grid.agent_pos) == self.goal_cell,
            "state": self.state.astype(np.float32),
            "goal_state": self.goal_state.astype(np.float32),
            "agent_pos": tuple(int(v) for v in self._grid.agent_pos),
            "agent_dir": int(self._grid.agent_dir),
            "minigrid_reward": minigrid_reward,
        }

    def _frame(
        self, tile_size: int, cell: tuple[int, int] | None = None, direction: int = 0
    ) -> np.ndarray:
        """The full view; with ``cell`` given, the agent drawn there facing ``direction``
        (the simulation state is restored afterwards)."""
        grid = self._grid
        if cell is None:
            return grid.get_frame(highlight=False, tile_size=tile_size)
        saved = grid.agent_pos, grid.agent_dir
        grid.agent_pos, grid.agent_dir = cell, direction
        try:
            return grid.get_frame(highlight=False, tile_size=tile_size)
        finally:
            grid.agent_pos, grid.agent_dir = saved

    @property
    def render_shape(self) -> tuple[int, int, int]:
        side = self.size * self.render_tile_size
        return (side, side, 3)

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the full view at ``render_tile_size`` pixels per cell."""
        if self.render_mode is None:
            return None
        return self._frame(self.render_tile_size)
