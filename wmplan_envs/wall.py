"""DINO-WM's "wall_single": a point that must pass a door in a wall (GRASP, DINO-WM)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from wmplan_envs import core, draw
from wmplan_envs.info_states import check_goal_images, goal_digests, states_from_info

if TYPE_CHECKING:
    import torch

FIELD = 65  # the reference's image / field size
BORDER_LOW, BORDER_HIGH = 4.0, 60.0  # border wall lines (border_wall_loc - 1, size - loc)
WALL_X, WALL_HALF = 32.0, 3.0  # middle wall x in [29, 35]
DOOR_HALF = 4.0  # the door is open where |y - door_y| <= 4
PUSH_BACK = 0.5  # a blocked move ends 0.5 px back from the crossing
NUDGE = 0.3  # ... and at least 0.3 px inside the walls of its side
DOT_STD = 1.7
PADDING = 2 * DOT_STD  # start/goal margin to the walls (the reference's 2 * dot std)


def _wall_step(xp: Any, pos: Any, action: Any, door_y: Any) -> Any:
    """One move ``pos + 2 a`` with the reference's collision rule, batched over rows.

    ``xp`` is ``numpy`` or ``torch``; only elementwise operations are used, in the same order for
    both, so the NumPy env step and :meth:`WallSingleEnv.transition_torch` agree bit for bit.
    """

    def where(c: Any, a: Any, b: Any) -> Any:
        if xp is not np:  # torch: scalars would become the default dtype, not the state's
            a = xp.as_tensor(a, dtype=pos.dtype, device=pos.device)
            b = xp.as_tensor(b, dtype=pos.dtype, device=pos.device)
        return xp.where(c, a, b)

    def clamp(v: Any, lo: Any, hi: Any) -> Any:
        return where(v < lo, lo, where(v > hi, hi, v))

    x1, y1 = pos[..., 0], pos[..., 1]
    x2, y2 = x1 + 2.0 * action[..., 0], y1 + 2.0 * action[..., 1]
    dx, dy = x2 - x1, y2 - y1
    safe_dx = where(dx == 0, 1.0, dx)
    safe_dy = where(dy == 0, 1.0, dy)

    def x_at(line_y: Any) -> Any:  # where the segment meets a horizontal line
        return where(dy == 0, x1, x1 + (line_y - y1) * dx / safe_dy)

    def y_at(line_x: Any) -> Any:  # where the segment meets a vertical line
        return where(dx == 0, y1, y1 + (line_x - x1) * dy / safe_dx)

    def crosses(a: Any, b: Any, line: Any) -> Any:
        return xp.sign(a - line) * xp.sign(b - line) <= 0.1

    door_bot, door_top = door_y - DOOR_HALF, door_y + DOOR_HALF
    wall_l, wall_r = WALL_X - WALL_HALF, WALL_X + WALL_HALF
    # 1. the door's horizontal edges (inside the wall's width): stop and step back into the door
    x_top, x_bot = x_at(door_top), x_at(door_bot)
    hit_top = (dy > 0) & (y2 > door_top) & (y1 < door_top) & (x_top >= wall_l) & (x_top <= wall_r)
    hit_bot = (dy < 0) & (y2 < door_bot) & (y1 > door_bot) & (x_bot >= wall_l) & (x_bot <= wall_r)
    # 2. the vertical walls of the point's side (the middle one has the door) and the borders
    left_of_wall = x1 < WALL_X
    left = where(left_of_wall, BORDER_LOW, wall_r)
    right = where(left_of_wall, wall_l, BORDER_HIGH)
    y_left, y_right = y_at(left), y_at(right)
    in_door_l, in_door_r = (
        (y_left >= door_bot) & (y_left <= door_top),
        ((y_right >= door_bot) & (y_right <= door_top)),
    )
    block_l = crosses(x1, x2, left) & ~(~left_of_wall & in_door_l)
    block_r = crosses(x1, x2, right) & ~(left_of_wall & in_door_r)
    v_hit = block_l | block_r
    v_x = where(block_l, left, right)
    v_y = where(block_l, y_left, y_right)
    x_top_border, x_bot_border = x_at(BORDER_LOW), x_at(BORDER_HIGH)
    h_top = crosses(y1, y2, BORDER_LOW)
    h_hit = h_top | crosses(y1, y2, BORDER_HIGH)
    h_x = where(h_top, x_top_border, x_bot_border)
    h_y = where(h_top, BORDER_LOW, BORDER_HIGH)
    # the reference pushes back 0.5 across the wall and +0.5 along the other axis
    v_dist = (x1 - v_x) * (x1 - v_x) + (y1 - v_y) * (y1 - v_y)
    h_dist = (x1 - h_x) * (x1 - h_x) + (y1 - h_y) * (y1 - h_y)
    use_v = v_hit & (~h_hit | (v_dist < h_dist))
    bx = where(use_v, v_x + PUSH_BACK * xp.sign(x1 - v_x), h_x + PUSH_BACK)
    by = where(use_v, v_y + PUSH_BACK, h_y + PUSH_BACK * xp.sign(y1 - h_y))
    bx = clamp(bx, left, right)
    by = clamp(by, BORDER_LOW, BORDER_HIGH)
    bx = where(bx <= left, left + NUDGE, where(bx >= right, right - NUDGE, bx))
    by = where(
        by <= BORDER_LOW, BORDER_LOW + NUDGE, where(by >= BORDER_HIGH, BORDER_HIGH - NUDGE, by)
    )
    blocked = v_hit | h_hit
    nx = where(
        hit_top, x_top + PUSH_BACK, where(hit_bot, x_bot + PUSH_BACK, where(blocked, bx, x2))
    )
    ny = where(
        hit_top,
        door_top - PUSH_BACK,
        where(hit_bot, door_bot + PUSH_BACK, where(blocked, by, y2)),
    )
    return nx, ny


class WallSingleEnv(core.GoalEnv):
    """
    ## Description

    DINO-WM's ``wall_single`` task (also in GRASP): a point on a 65 x 65 field (border walls at
    4 and 60) must reach a goal on the other side of a vertical wall (x in [29, 35]) through a
    door that is open where ``|y - door_y| <= 4``. The door height ``door_y`` is drawn per
    episode, uniform in ``[door_low, door_high]`` (default ``[11.4, 52.6]``: the door stays
    inside the start/goal band ``[7.4, 56.6]``).

    Dynamics (the reference's): ``next = pos + 2 a``. A move that crosses the middle wall
    outside the door, or a border, stops at the crossing, pushed back 0.5 across the wall (and,
    as in the reference, +0.5 along the other axis), then clamped to the walls of the point's
    side (at least 0.3 inside). A move that leaves the door through its upper or lower edge
    inside the wall's width stops there, 0.5 back into the door. The reference draws the push
    back's size from a noise term in some versions; here it is the fixed 0.5, so the env is
    deterministic given the action. The exact dynamics are :meth:`transition_torch`.

    ## Action Space

    ``Box(-1, 1, (2,), float32)``; the move is ``2 a``. Finite out-of-range actions are
    clipped; non-finite, wrongly shaped or non-numeric ones raise ``ValueError``.

    ## Observation Space

    ``obs_type="state"``: ``Box(0, 65, (3,), float32)``: ``(x, y, door_y)``, so a state-based
    model knows where the door is; ``desired_goal`` is ``(goal_x, goal_y, door_y)`` (the same
    door). ``obs_type="pixels"``: ``Box(0, 255, (image_size, image_size, 3), uint8)``: a red
    Gaussian dot (std 1.7 field units, peak 1) on white, walls black (default ``image_size``
    64; DINO-WM resizes to 224); ``desired_goal`` is the same picture with the dot at the goal.

    ## Rewards

    ``-||pos - goal||`` (field units), from ``achieved_goal``/``desired_goal`` for state
    observations and from ``info["state"]``/``info["goal_state"]`` for pixels (pass the step's
    ``info`` to ``compute_reward``).

    ## Starting State

    The reference's sampling: start ``x ~ U[7.4, 25.6]``, goal ``x ~ U[38.4, 56.6]``, both
    ``y ~ U[7.4, 56.6]``; with probability 0.5 the sides swap. ``reset(options={"start": (x,
    y), "goal": (x, y), "door_y": y})`` fixes any of the three instead (each drawn as above when
    absent; the random draws are made either way, so the others do not change): positions
    inside the field and off the middle wall, a door inside ``[door_low, door_high]``; anything
    else raises ``ValueError``.

    ## Episode End

    Success is ``||pos - goal|| < 4.5`` (position only; ``info["is_success"]``). Terminated on
    success if ``terminate_on_success``; truncated by the registry's ``max_episode_steps``
    (100).

    ## Arguments

    ``gym.make("WMPlan/WallSingle-v0", obs_type="state", image_size=64, door_low=11.4,
    door_high=52.6, success_radius=4.5, terminate_on_success=True, render_mode=None,
    render_size=256)``

    ## Version History

    * v0: initial version (DINO-WM wall_single with a per-episode door height, deterministic
      push back).
      Later, without a version bump: keyword arguments are validated in ``__init__`` (wrong
      types, non-finite or out-of-range values raise ``ValueError``), and the default
      registration stays the benchmark that the shipped models plan in.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    # the keyword arguments a world model of this env depends on (dynamics and observations)
    world_model_kwargs: tuple[str, ...] = ("obs_type", "image_size")

    def __init__(
        self,
        obs_type: str = "state",
        image_size: int = 64,
        door_low: float = BORDER_LOW + PADDING + DOOR_HALF,
        door_high: float = FIELD - 1 - (BORDER_LOW + PADDING) - DOOR_HALF,
        success_radius: float = 4.5,
        terminate_on_success: bool = True,
        render_mode: str | None = None,
        render_size: int = 256,
    ) -> None:
        if obs_type not in ("state", "pixels"):
            raise ValueError(f"obs_type must be 'state' or 'pixels', got {obs_type!r}")
        image_size = core.check_int("image_size", image_size, 8, core.MAX_IMAGE_SIZE)
        render_size = core.check_int("render_size", render_size, 8, core.MAX_IMAGE_SIZE)
        door_low = core.check_real("door_low", door_low)
        door_high = core.check_real("door_high", door_high)
        success_radius = core.check_real("success_radius", success_radius, 0.0, strict=True)
        terminate_on_success = core.check_bool("terminate_on_success", terminate_on_success)
        if not BORDER_LOW + DOOR_HALF <= door_low <= door_high <= BORDER_HIGH - DOOR_HALF:
            raise ValueError(
                f"need {BORDER_LOW + DOOR_HALF} <= door_low <= door_high <= "
                f"{BORDER_HIGH - DOOR_HALF} (door inside the field), got {door_low}, {door_high}"
            )
        if image_size < 8 or render_size < 8:
            raise ValueError(f"image_size and render_size must be >= 8, got {image_size}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.obs_type = obs_type
        self.image_size = int(image_size)
        self.door_low, self.door_high = float(door_low), float(door_high)
        self.success_radius = float(success_radius)
        self.terminate_on_success = terminate_on_success
        self.render_mode = render_mode
        self.render_size = int(render_size)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        if obs_type == "state":
            obs_space = spaces.Box(0.0, float(FIELD), shape=(3,), dtype=np.float32)
        else:
            obs_space = spaces.Box(0, 255, shape=(image_size, image_size, 3), dtype=np.uint8)
        self.observation_space = core.goal_observation_space(obs_space)
        self._pos = np.array([16.0, 32.0])
        self._goal = np.array([48.0, 32.0])
        self._door_y = 32.0
        self._walls: dict[int, np.ndarray] = {}
        self._goal_image: np.ndarray | None = None

    # -- dynamics -------------------------------------------------------------------------------
    def transition_torch(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Batched true dynamics on ``state = [B, 3] (x, y, door_y)``, identical to ``step``.

        Differentiable almost everywhere (the collision branches are piecewise linear).
        """
        import torch

        action = torch.clamp(action.to(state.dtype), -1.0, 1.0)
        nx, ny = _wall_step(torch, state[..., :2], action, state[..., 2])
        return torch.stack([nx, ny, state[..., 2]], dim=-1)

    # -- goal interface -------------------------------------------------------------------------
    def _positions(self, achieved: Any, desired: Any, info: Any) -> tuple[np.ndarray, np.ndarray]:
        if self.obs_type == "state":
            a = np.asarray(achieved, dtype=np.float64)
            d = np.asarray(desired, dtype=np.float64)
            return a[..., :2], d[..., :2]
        lead = np.shape(achieved)[:-3]
        check_goal_images(info, achieved, desired)
        state, goal = states_from_info(info, lead, 3)
        return state[..., :2], goal[..., :2]

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        """``-||pos - goal||``, vectorised; pixel observations read positions from ``info``."""
        a, d = self._positions(achieved_goal, desired_goal, info)
        return -np.sqrt(np.sum((a - d) ** 2, axis=-1))

    def compute_success(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> Any:
        """``||pos - goal|| < success_radius``, vectorised like :meth:`compute_reward`."""
        return -self.compute_reward(achieved_goal, desired_goal, info) < self.success_radius

    # -- gym API --------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        rng = self.np_random
        self._door_y = float(rng.uniform(self.door_low, self.door_high))
        lo = BORDER_LOW + PADDING
        start_x = rng.uniform(lo, WALL_X - WALL_HALF - PADDING)
        goal_x = rng.uniform(WALL_X + WALL_HALF + PADDING, FIELD - 1 - lo)
        start_y, goal_y = rng.uniform(lo, FIELD - 1 - lo, size=2)
        if rng.random() < 0.5:
            start_x, goal_x = goal_x, start_x
        self._pos = np.array([start_x, start_y])
        self._goal = np.array([goal_x, goal_y])
        if options:
            self._apply_options(options)
        self._goal_image = None
        obs, info = self._obs_info()
        return obs, info

    def _apply_options(self, options: dict[str, Any]) -> None:
        unknown = set(options) - {"start", "goal", "door_y"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; expected start/goal/door_y")
        if "door_y" in options:
            door = core.check_real("door_y", options["door_y"], self.door_low, self.door_high)
            self._door_y = float(door)
        for key in ("start", "goal"):
            if key not in options:
                continue
            try:
                xy = np.asarray(options[key], dtype=np.float64)
            except (TypeError, ValueError):
                xy = np.zeros(0)
            lo, hi = BORDER_LOW, BORDER_HIGH
            if (
                xy.shape != (2,)
                or not np.isfinite(xy).all()
                or not (lo < xy[0] < hi and lo < xy[1] < hi)
                or abs(xy[0] - WALL_X) <= WALL_HALF
            ):
                raise ValueError(
                    f"reset option {key!r} must be a finite (x, y) inside the field ({lo}, {hi})"
                    f" and off the middle wall (|x - {WALL_X}| > {WALL_HALF}), got "
                    f"{options[key]!r}"
                )
            if key == "start":
                self._pos = xy.copy()
            else:
                self._goal = xy.copy()

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        action = self._validate_action(action).astype(np.float64)
        nx, ny = _wall_step(np, self._pos, action, np.float64(self._door_y))
        self._pos = np.array([float(nx), float(ny)])
        obs, info = self._obs_info()
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        terminated = bool(self.terminate_on_success and info["is_success"])
        return obs, reward, terminated, False, info

    def _state(self) -> np.ndarray:
        return np.array([*self._pos, self._door_y], dtype=np.float32)

    def _goal_state(self) -> np.ndarray:
        return np.array([*self._goal, self._door_y], dtype=np.float32)

    def _obs_info(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        state, goal = self._state(), self._goal_state()
        info = {"state": state, "goal_state": goal}
        if self.obs_type == "state":
            obs = self._goal_obs(state, goal)
        else:
            if self._goal_image is None:
                self._goal_image = self.draw(self._goal, self.image_size)
            obs = self._goal_obs(self.draw(self._pos, self.image_size), self._goal_image)
            info.update(goal_digests(obs["achieved_goal"], obs["desired_goal"]))
        dist = np.sqrt(np.sum((state[:2].astype(np.float64) - goal[:2]) ** 2))
        info["is_success"] = bool(dist < self.success_radius)  # as compute_success
        return obs, info

    # -- pictures -------------------------------------------------------------------------------
    def _wall_alpha(self, size: int) -> np.ndarray:
        """Share of each pixel covered by a wall, ``[size, size]`` (exact box filter)."""
        edges = np.arange(size + 1) * FIELD / size - 0.5  # pixel k covers [k - .5, k + .5] at 65

        def cover(lo: float, hi: float) -> np.ndarray:
            return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None) / (
                FIELD / size
            )

        border = np.maximum(
            cover(BORDER_LOW - 0.5, BORDER_LOW + 0.5), cover(BORDER_HIGH - 0.5, BORDER_HIGH + 0.5)
        )
        wall_cols = cover(WALL_X - WALL_HALF - 0.5, WALL_X + WALL_HALF + 0.5)
        door_rows = cover(self._door_y - DOOR_HALF - 0.5, self._door_y + DOOR_HALF + 0.5)
        middle = np.outer(1.0 - door_rows, wall_cols)
        return np.maximum(np.maximum(border[None, :], border[:, None]), middle)

    def draw(self, pos: np.ndarray, size: int) -> np.ndarray:
        """The observation picture: a red Gaussian dot at ``pos`` on white, walls black."""
        key = (size, self._door_y)
        if key not in self._walls:
            if len(self._walls) >= 4:  # a cache for the current door (obs and render sizes)
                self._walls.clear()
            self._walls[key] = self._wall_alpha(size)
        wall = self._walls[key]
        centres = (np.arange(size) + 0.5) * FIELD / size - 0.5
        gx = np.exp(-((centres - pos[0]) ** 2) / (2 * DOT_STD**2))
        gy = np.exp(-((centres - pos[1]) ** 2) / (2 * DOT_STD**2))
        dot = np.outer(gy, gx)
        keep = 1.0 - wall
        img = np.empty((size, size, 3), dtype=np.float64)
        img[..., 0] = 255.0 * keep * (1.0 - dot) + 230.0 * keep * dot
        img[..., 1] = 255.0 * keep * (1.0 - dot) + 30.0 * keep * dot
        img[..., 2] = img[..., 1]
        return np.round(img).astype(np.uint8)

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the scene at ``render_size`` with the goal marked by a green cross."""
        if self.render_mode is None:
            return None
        size = self.render_size
        img = self.draw(self._pos, size)
        scale = size / FIELD
        gx, gy = (self._goal + 0.5) * scale - 0.5
        draw.cross(img, gx, gy, half=max(size // 40, 2), color=(0, 170, 0))
        return img

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_walls"] = {}  # a cache; rebuilt on demand
        return state
