"""gymnasium-robotics' PointMaze (MuJoCo) in the WMPlan goal-conditioned convention."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from wmplan_envs.core import (
    MAX_IMAGE_SIZE,
    GoalEnv,
    check_bool,
    check_int,
    goal_observation_space,
)
from wmplan_envs.info_states import check_goal_images, goal_digests, states_from_info

# Headless by default: MuJoCo picks its OpenGL backend when it is first imported.
os.environ.setdefault("MUJOCO_GL", "egl")

SUCCESS_DISTANCE = 0.45  # gymnasium-robotics' MazeEnv: ||xy - goal|| <= 0.45
RENDER_HELP = (
    "Install Debian's headless OpenGL (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri) "
    "and set MUJOCO_GL=egl, or install libosmesa6 and set MUJOCO_GL=osmesa, before Python "
    "imports mujoco."
)
_TARGET_GROUP = 5  # site group of the red goal marker; hidden in observation images


def _reinitialise_egl() -> bool:
    """If MuJoCo renders with EGL and its display has been terminated behind its back (SDL's
    ``SDL_Quit`` calls ``eglTerminate`` on the same default display), initialise it again.
    Returns whether it did; False for other backends or a display that is still initialised."""
    if os.environ.get("MUJOCO_GL") != "egl":
        return False
    try:
        import mujoco.egl as mj_egl
        from OpenGL import EGL
    except ImportError:
        return False
    display = getattr(mj_egl, "EGL_DISPLAY", None)
    if display is None:
        return False
    major, minor = EGL.EGLint(), EGL.EGLint()
    try:  # a query fails on a terminated display
        EGL.eglQueryString(display, EGL.EGL_VENDOR)
        return False
    except Exception:
        pass
    try:
        return bool(EGL.eglInitialize(display, major, minor))
    except Exception:
        return False


def _forget(renderer: Any) -> None:
    """Drop a renderer whose GL context died with its EGL display, without freeing it again
    (its ``close``, also called when it is garbage-collected, would raise)."""
    renderer._mjr_context = None
    renderer._gl_context = None


def _render_error(err: Exception) -> RuntimeError:
    return RuntimeError(
        f"MuJoCo could not create an offscreen renderer: {err}. MuJoCo picks its OpenGL backend "
        f"from MUJOCO_GL when first imported (MUJOCO_GL is now {os.environ.get('MUJOCO_GL')!r}). "
        + RENDER_HELP
    )


def _generator(state: dict[str, Any]) -> np.random.Generator:
    """A NumPy generator restored from ``bit_generator.state``."""
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _import_robotics() -> None:
    """Import gymnasium-robotics once, without its import-time notice about the Adroit envs'
    rewards (printed to stderr; it concerns envs wmplan does not use). Anything else it prints
    is passed on."""
    import contextlib
    import io
    import sys

    if "gymnasium_robotics" in sys.modules:
        return
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        import gymnasium_robotics  # noqa: F401
    other = [line for line in buffer.getvalue().splitlines() if "AdroitHand" not in line]
    if other:
        print("\n".join(other), file=sys.stderr)


MAZE_CELLS = (0, 1, "g", "r", "c")  # free, wall, goal, reset, goal-or-reset (gymnasium-robotics)


def _check_maze(maze_map: Any) -> list[list[int | str]]:
    """A copy of ``maze_map`` if it is a rectangular grid of ``MAZE_CELLS`` with at least two
    cells that are not walls (gymnasium-robotics draws a start and a different goal among them,
    and loops forever when it cannot); ``ValueError`` otherwise."""
    if isinstance(maze_map, (str, bytes)) or not isinstance(maze_map, (list, tuple)):
        raise ValueError(f"maze_map must be a list of rows (lists), got {maze_map!r}")
    rows = []
    for i, row in enumerate(maze_map):
        if isinstance(row, (str, bytes)) or not isinstance(row, (list, tuple)):
            raise ValueError(f"maze_map row {i} must be a list of cells, got {row!r}")
        for cell in row:
            if isinstance(cell, bool) or cell not in MAZE_CELLS:
                raise ValueError(
                    f"maze_map row {i} holds {cell!r}; cells are 0 (free), 1 (wall), 'g', 'r' "
                    "or 'c'"
                )
        rows.append(list(row))
    if not rows or not rows[0] or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError(f"maze_map must be a non-empty rectangle of cells, got {maze_map!r}")
    open_cells = sum(cell != 1 for row in rows for cell in row)
    if open_cells < 2:
        raise ValueError(
            f"maze_map needs at least two cells that are not walls (a start and a goal), got "
            f"{open_cells}"
        )
    return rows


def _u_maze() -> list[list[int]]:
    _import_robotics()
    from gymnasium_robotics.envs.maze.maps import U_MAZE

    return [list(row) for row in U_MAZE]


class PointMazeEnv(GoalEnv):
    """
    ## Description

    gymnasium-robotics' ``PointMaze`` (``PointMaze_UMaze-v3`` by default): a force-actuated point
    mass in a MuJoCo maze, timestep 0.01 s, velocity clipped to [-5, 5], coordinates centred on
    the maze (one cell = 1 unit). The physics, reset and goal sampling are the wrapped
    ``gymnasium_robotics.envs.maze.point_maze.PointMazeEnv``'s own; this class only changes the
    interface so the goal lives in the observation space (the DINO-WM/GRASP PointMaze setting).

    ## Action Space

    ``Box(-1, 1, (2,), float32)``: the force on x and y (gear 100). Finite out-of-range actions
    are clipped; non-finite, wrongly shaped or non-numeric ones raise ``ValueError``.

    ## Observation Space

    ``obs_type="state"``: each of ``observation``, ``achieved_goal``, ``desired_goal`` is
    ``Box(-inf, inf, (4,), float32)`` laid out ``[x, y, vx, vy]`` (qpos then qvel).
    ``observation`` and ``achieved_goal`` are the current state; ``desired_goal`` is the goal
    state ``[goal_x, goal_y, 0, 0]`` (at rest on the goal).
    ``obs_type="pixels"``: each is ``Box(0, 255, (image_size, image_size, 3), uint8)``, a
    MuJoCo image of the whole maze from a camera straight above it (the goal marker hidden);
    ``desired_goal`` is the image of the point placed on the goal. Pixels need headless
    OpenGL (EGL or OSMesa); without it the error says what to install.

    ## Rewards

    gymnasium-robotics' rewards on the position part: ``reward_type="sparse"`` gives 1.0 when
    ``||xy - goal_xy|| <= 0.45`` else 0.0; ``"dense"`` gives ``exp(-||xy - goal_xy||)``.
    Computed from the float32 observation (for pixels, from the float32 ``info["state"]`` and
    ``info["goal_state"]``, since an image carries no exact position).

    ## Starting State

    As gymnasium-robotics: the goal is a random goal cell and the start a random reset cell at
    least 0.5 away, each plus uniform noise in [-0.25, 0.25] per axis, at rest. The wrapped env is
    reseeded from this env's ``np_random`` on every reset. ``reset(options={"goal_cell": (i, j),
    "reset_cell": (i, j)})`` fixes the cells.

    ## Episode End

    Success (``info["is_success"]``) is the gymnasium-robotics test ``||xy - goal_xy|| <= 0.45``.
    With ``continuing_task=False`` (default) the episode terminates on success; with ``True`` it
    never terminates (gymnasium-robotics' default). Truncated at ``max_episode_steps`` (300, as
    ``PointMaze_UMaze-v3``).

    ## Arguments

    ``gym.make("WMPlan/PointMaze-v0", maze_map=None, continuing_task=False,
    reward_type="sparse", obs_type="state", image_size=64, render_mode=None, render_size=256)``.
    ``maze_map`` is a gymnasium-robotics map (list of rows of 1 = wall, 0 = free, "g"/"r"/"c"
    cells), U-maze when None.

    ## Version History

    * v0: initial version. Differs from ``PointMaze_UMaze-v3`` in: 4-d goals (position plus zero
      velocity) instead of 2-d; float32 observations; terminates on success by default
      (``continuing_task=False``); the goal is never resampled mid-episode (``reset_target`` is
      not exposed).
      Later, without a version bump: keyword arguments are validated in ``__init__`` (wrong
      types, non-finite or out-of-range values raise ``ValueError``), and the default
      registration stays the benchmark that the shipped model plans in.
      ``maze_map`` must be a rectangle of 0/1/'g'/'r'/'c' with two open cells.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}
    # the keyword arguments a world model of this env depends on (dynamics and observations)
    world_model_kwargs: tuple[str, ...] = ("obs_type", "image_size", "maze_map")

    def __init__(
        self,
        maze_map: Sequence[Sequence[int | str]] | None = None,
        continuing_task: bool = False,
        reward_type: str = "sparse",
        obs_type: str = "state",
        image_size: int = 64,
        render_mode: str | None = None,
        render_size: int = 256,
    ) -> None:
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type must be 'sparse' or 'dense', got {reward_type!r}")
        if obs_type not in ("state", "pixels"):
            raise ValueError(f"obs_type must be 'state' or 'pixels', got {obs_type!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        image_size = check_int("image_size", image_size, 8, MAX_IMAGE_SIZE)
        render_size = check_int("render_size", render_size, 8, MAX_IMAGE_SIZE)
        continuing_task = check_bool("continuing_task", continuing_task)
        _import_robotics()
        from gymnasium_robotics.envs.maze.point_maze import PointMazeEnv as RoboticsPointMaze

        self.maze_map = _check_maze(maze_map) if maze_map is not None else _u_maze()
        self.continuing_task = bool(continuing_task)
        self.reward_type = reward_type
        self.obs_type = obs_type
        self.image_size = int(image_size)
        self.render_mode = render_mode
        self.render_size = int(render_size)
        self._maze = RoboticsPointMaze(
            maze_map=self.maze_map,
            render_mode=None,
            reward_type=reward_type,
            continuing_task=self.continuing_task,
            reset_target=False,
        )
        # the reference writes its maze XML to a temporary file per env; the model is loaded now
        with contextlib.suppress(OSError):
            os.remove(self._maze.tmp_xml_file_path)
        self._target_site = self._maze.target_site_id
        self._maze.model.site_group[self._target_site] = _TARGET_GROUP

        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        if obs_type == "state":
            obs_space = spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float32)
        else:
            shape = (self.image_size, self.image_size, 3)
            obs_space = spaces.Box(0, 255, shape=shape, dtype=np.uint8)
        self.observation_space = goal_observation_space(obs_space)
        self._state = np.zeros(4)
        self._renderers: dict[int, Any] = {}
        self._render_data: Any = None
        self._goal_image: tuple[tuple[float, float], np.ndarray] | None = None

    # -- the wrapped env --------------------------------------------------------------------
    @property
    def goal_state(self) -> np.ndarray:
        """The goal state ``[goal_x, goal_y, 0, 0]`` (float64)."""
        return np.concatenate([np.asarray(self._maze.goal, dtype=np.float64), np.zeros(2)])

    @property
    def wrapped(self) -> Any:
        """The wrapped ``gymnasium_robotics`` PointMazeEnv (its physics and goal sampling)."""
        return self._maze

    # -- goal interface ---------------------------------------------------------------------
    def _positions(self, achieved_goal: Any, desired_goal: Any, info: Any) -> tuple:
        if self.obs_type == "state":
            a = np.asarray(achieved_goal)[..., :2]
            d = np.asarray(desired_goal)[..., :2]
            return a, d
        # pixels: an image holds no exact position; use the true states that info carries
        check_goal_images(info, achieved_goal, desired_goal)
        state, goal = states_from_info(info, np.asarray(achieved_goal).shape[:-3], 4)
        return state[..., :2], goal[..., :2]

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        a, d = self._positions(achieved_goal, desired_goal, info)
        distance = np.linalg.norm(a.astype(np.float64) - d, axis=-1)
        if self.reward_type == "dense":
            return np.exp(-distance)
        return (distance <= SUCCESS_DISTANCE).astype(np.float64)

    def compute_success(self, achieved_goal: Any, desired_goal: Any) -> Any:
        """gymnasium-robotics' test on states ``[..., 4]`` (or positions ``[..., 2]``)."""
        a = np.asarray(achieved_goal, dtype=np.float64)[..., :2]
        d = np.asarray(desired_goal, dtype=np.float64)[..., :2]
        return np.linalg.norm(a - d, axis=-1) <= SUCCESS_DISTANCE

    # -- gym API ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        inner_options = self._check_options(options)
        inner_seed = int(self.np_random.integers(2**31 - 1))
        obs, _ = self._maze.reset(seed=inner_seed, options=inner_options)
        self._state = np.asarray(obs["observation"], dtype=np.float64).copy()
        return self._obs_info()

    def _check_options(self, options: dict[str, Any] | None) -> dict[str, Any] | None:
        if not options:
            return None
        unknown = set(options) - {"goal_cell", "reset_cell"}
        if unknown:
            raise ValueError(
                f"unknown reset options {sorted(unknown)}; expected goal_cell/reset_cell"
            )
        rows, cols = len(self.maze_map), len(self.maze_map[0])
        out = {}
        for key, cell in options.items():
            if cell is None:
                continue
            i, j = (int(v) for v in np.asarray(cell).reshape(2))
            if not (0 <= i < rows and 0 <= j < cols) or self.maze_map[i][j] == 1:
                raise ValueError(f"{key} {cell!r} is not a free cell of the {rows}x{cols} maze")
            out[key] = np.array([i, j])
        return out

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        action = self._validate_action(action)
        obs, _, terminated, _, inner_info = self._maze.step(action.astype(np.float64))
        self._state = np.asarray(obs["observation"], dtype=np.float64).copy()
        obs, info = self._obs_info()
        # from the float32 observation, so compute_reward(obs...) reproduces it exactly
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        return obs, reward, bool(terminated), False, info

    def _obs(self) -> dict[str, np.ndarray]:
        if self.obs_type == "state":
            return self._goal_obs(
                self._state.astype(np.float32), self.goal_state.astype(np.float32)
            )
        return self._goal_obs(self._image_of(self._state[:2]), self._goal_obs_image())

    def _obs_info(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        obs, info = self._obs(), self._info()
        if self.obs_type == "pixels":
            info.update(goal_digests(obs["achieved_goal"], obs["desired_goal"]))
        return obs, info

    def _info(self) -> dict[str, Any]:
        return {
            "is_success": bool(self.compute_success(self._state, self.goal_state)),
            "state": self._state.astype(np.float32),
            "goal_state": self.goal_state.astype(np.float32),
        }

    # -- rendering --------------------------------------------------------------------------
    def _renderer(self, size: int) -> Any:
        if size not in self._renderers:
            import mujoco

            model = self._maze.model
            model.vis.global_.offwidth = max(model.vis.global_.offwidth, size)
            model.vis.global_.offheight = max(model.vis.global_.offheight, size)
            try:
                self._renderers[size] = mujoco.Renderer(model, size, size)
            except Exception as first:
                # Another library may have terminated the process's EGL display that MuJoCo
                # initialised once (SDL does so when pygame closes a window that it drew with
                # EGL): initialise it again and retry once.
                if not _reinitialise_egl():
                    raise _render_error(first) from first
                try:
                    self._renderers[size] = mujoco.Renderer(model, size, size)
                except Exception as err:
                    raise _render_error(err) from err
            if self._render_data is None:
                self._render_data = mujoco.MjData(model)
        return self._renderers[size]

    def _draw(self, xy: np.ndarray, size: int, show_goal: bool) -> np.ndarray:
        """A top-down frame with the point at ``xy``; the simulation state is not touched."""
        import mujoco

        renderer = self._renderer(size)
        model, data = self._maze.model, self._render_data
        data.qpos[:2] = xy
        mujoco.mj_kinematics(model, data)
        camera = mujoco.MjvCamera()
        camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        camera.lookat[:] = (0.0, 0.0, 0.0)
        # the whole maze fills the frame: half its extent / tan(fovy / 2), plus the wall height
        half = 0.5 * max(len(self.maze_map), len(self.maze_map[0]))
        fovy = np.deg2rad(model.vis.global_.fovy)
        camera.distance = half / np.tan(0.5 * fovy) + self._maze.maze.maze_height
        camera.azimuth = 90.0
        camera.elevation = -90.0
        option = mujoco.MjvOption()
        option.sitegroup[_TARGET_GROUP] = int(show_goal)
        renderer.update_scene(data, camera=camera, scene_option=option)
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_SKYBOX):
            renderer.scene.flags[flag] = False
        try:
            return renderer.render().copy()
        except Exception:  # its context died with a terminated EGL display: make a new one
            if not _reinitialise_egl():
                raise
            _forget(self._renderers.pop(size))
            renderer = self._renderer(size)
            renderer.update_scene(data, camera=camera, scene_option=option)
            for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_SKYBOX):
                renderer.scene.flags[flag] = False
            return renderer.render().copy()

    def _image_of(self, xy: np.ndarray) -> np.ndarray:
        return self._draw(xy, self.image_size, show_goal=False)

    def _goal_obs_image(self) -> np.ndarray:
        key = tuple(float(v) for v in self._maze.goal)
        if self._goal_image is None or self._goal_image[0] != key:
            self._goal_image = (key, self._image_of(np.asarray(key)))
        return self._goal_image[1].copy()

    def render(self) -> np.ndarray | None:
        """``rgb_array``: ``[render_size, render_size, 3]`` uint8, top-down, goal marker in red."""
        if self.render_mode is None:
            return None
        return self._draw(self._state[:2], self.render_size, show_goal=True)

    def close(self) -> None:
        for renderer in self._renderers.values():
            try:
                renderer.close()
            except Exception:  # its EGL display was terminated elsewhere: nothing left to free
                _forget(renderer)
        self._renderers.clear()
        self._maze.close()

    # -- pickling: MuJoCo objects do not pickle, so rebuild and restore the exact state -----
    def __getstate__(self) -> dict[str, Any]:
        import mujoco

        model, data = self._maze.model, self._maze.data
        full = mujoco.mjtState.mjSTATE_INTEGRATION
        sim_state = np.empty(mujoco.mj_stateSize(model, full))
        mujoco.mj_getState(model, data, sim_state, full)
        rng = self._np_random
        inner_rng = self._maze._np_random
        return {
            "kwargs": {
                "maze_map": self.maze_map,
                "continuing_task": self.continuing_task,
                "reward_type": self.reward_type,
                "obs_type": self.obs_type,
                "image_size": self.image_size,
                "render_mode": self.render_mode,
                "render_size": self.render_size,
            },
            "sim_state": sim_state,
            "state": self._state.copy(),
            "goal": None if not hasattr(self._maze, "goal") else self._maze.goal.copy(),
            "reset_pos": getattr(self._maze, "reset_pos", None),
            "rng": None if rng is None else rng.bit_generator.state,
            "rng_seed": self._np_random_seed,
            "inner_rng": None if inner_rng is None else inner_rng.bit_generator.state,
        }

    def __setstate__(self, saved: dict[str, Any]) -> None:
        import mujoco

        self.__init__(**saved["kwargs"])
        if saved["rng"] is not None:
            self._np_random = _generator(saved["rng"])
        self._np_random_seed = saved["rng_seed"]
        if saved["inner_rng"] is not None:
            self._maze._np_random = _generator(saved["inner_rng"])
        if saved["goal"] is not None:
            self._maze.goal = saved["goal"].copy()
            self._maze.update_target_site_pos()
        if saved["reset_pos"] is not None:
            self._maze.reset_pos = saved["reset_pos"].copy()
        model, data = self._maze.model, self._maze.data
        mujoco.mj_setState(model, data, saved["sim_state"], mujoco.mjtState.mjSTATE_INTEGRATION)
        self._state = saved["state"].copy()
