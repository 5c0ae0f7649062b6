"""OGBench's cube manipulation tasks (Planning as Descent's benchmark) in the WMPlan convention."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
from gymnasium import spaces

from wmplan_envs.core import GoalEnv, check_bool, check_int, goal_observation_space

# Headless by default: MuJoCo picks its OpenGL backend when it is first imported.
os.environ.setdefault("MUJOCO_GL", "egl")

SUCCESS_DISTANCE = 0.04  # OGBench: every cube within 0.04 m of its target
XYZ_CENTER = np.array([0.425, 0.0, 0.0])  # OGBench's observation scaling of positions
XYZ_SCALE = 10.0
CUBE_NAMES = {1: "single", 2: "double"}
# where cubes and targets are placed for random goals: OGBench's object sampling bounds (x, y)
_XY_LOW, _XY_HIGH = np.array([0.3, -0.3]), np.array([0.55, 0.3])
_MIN_GAP = 0.08  # m between cube centres in a random scene (a cube is 0.04 m wide)
_RADIUS = SUCCESS_DISTANCE * XYZ_SCALE  # the success distance in the observations' units


def _import_ogbench() -> Any:
    try:
        import ogbench
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "WMPlan/CubeSingle-v0 and WMPlan/CubeDouble-v0 need OGBench: pip install "
            "'wmplan[ogbench]' (or pip install ogbench)"
        ) from err
    return ogbench


def cube_positions(obs: np.ndarray, n_cubes: int) -> np.ndarray:
    """The cubes' positions ``[..., 3 * n_cubes]`` in OGBench's scaled units
    (``(xyz - (0.425, 0, 0)) * 10``) from state observations ``[..., 19 + 9 * n_cubes]``."""
    obs = np.asarray(obs)
    return np.concatenate([obs[..., 19 + 9 * i : 22 + 9 * i] for i in range(n_cubes)], axis=-1)


def _plain(value: Any) -> bool:
    """Whether ``value`` is plain data: numbers, strings, arrays, NumPy generators, and lists,
    tuples and dicts of them."""
    if value is None or isinstance(value, (bool, int, float, str, np.generic, np.ndarray)):
        return True
    if isinstance(value, np.random.Generator):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in value.items())
    return False


def _with_seeded_action_space(env: Any) -> Any:
    """OGBench's env builds a new, unseeded ``action_space`` at every access (with a float64
    warning), and samples from it while it sets up a task's goal scene, so the goal depends on
    OS entropy. Give this instance one fixed space (the same bounds) that :meth:`CubeEnv.reset`
    seeds."""
    space = spaces.Box(-1.0, 1.0, (5,), dtype=np.float32)
    base = type(env)
    seeded = type(f"Seeded{base.__name__}", (base,), {"action_space": property(lambda self: space)})
    env.__class__ = seeded
    return env


class CubeEnv(GoalEnv):
    """
    ## Description

    OGBench's cube tasks (``cube-single`` and ``cube-double``, the benchmark of *Planning as
    Descent*): a 6-DoF UR5e arm with a Robotiq gripper on a table moves one or two cubes to
    target positions. The physics, observations, actions, tasks and success test are OGBench's
    own (``ogbench.make_env_and_datasets(..., env_only=True)``), wrapped in the WMPlan
    goal-conditioned convention.

    ## Action Space

    ``Box(-1, 1, (5,), float32)``: end-effector displacement (x, y, z), yaw and gripper, as in
    OGBench. Finite out-of-range actions are clipped; non-finite, wrongly shaped or non-numeric
    ones raise ``ValueError``.

    ## Observation Space

    ``Dict(observation, achieved_goal, desired_goal)``, each ``Box(-inf, inf, (19 + 9 * n,),
    float32)`` (28 for one cube, 37 for two). ``observation``: OGBench's state vector (joint
    positions and velocities, effector position, yaw as cos/sin, gripper opening and contact,
    then per cube its position, quaternion and yaw as cos/sin; positions scaled as ``(xyz -
    (0.425, 0, 0)) * 10``); ``achieved_goal``: the same; ``desired_goal``: OGBench's goal
    observation (the scene settled with the cubes at their targets and the arm at a random
    pose), its cube positions set exactly to the targets. Only the cube positions matter for
    success (:func:`cube_positions` reads them).

    ## Rewards

    ``-(number of cubes farther than 0.04 m from their target)``, computed from the cube
    positions inside ``achieved_goal`` and ``desired_goal``, vectorised in ``compute_reward``
    (so SB3's HER can relabel goals).

    ## Starting State

    ``reset(options={"task_id": k})``, ``k`` in 1..5: OGBench's evaluation task ``k`` (fixed
    initial and target cube positions, the cubes jittered by up to 1 cm, a random arm pose).
    Without options: a random task of the same kind, drawn from the reset seed: cubes and targets
    uniform on the table (``x`` in [0.3, 0.55] m, ``y`` in [-0.3, 0.3] m), cubes at least 8 cm
    apart. Unlike OGBench's own ``reset()`` (which draws the task from NumPy's global generator),
    everything is drawn from the env's ``np_random``, so a seed fixes the episode.

    ## Episode End

    Success (``info["is_success"]``): every cube within 0.04 m of its target, OGBench's test.
    Terminated on success if ``terminate_on_success`` (never with ``mode="data_collection"``,
    where reaching a target only makes the oracle pick the next); truncated after
    ``max_steps`` (OGBench: 200 for one cube, 500 for two).

    ## Arguments

    ``gym.make("WMPlan/CubeSingle-v0", terminate_on_success=True, max_steps=200,
    render_mode=None)``; ``WMPlan/CubeDouble-v0`` has ``n_cubes=2`` and ``max_steps=500``.
    ``info`` also holds ``state`` (MuJoCo ``qpos`` and ``qvel`` concatenated), ``goal_state``
    (the targets' positions, ``(3 * n,)`` scaled), ``qpos`` and ``qvel``, and ``task_id`` (0 for
    a random task). With ``mode="data_collection"`` (for OGBench's data oracles) the targets
    are OGBench's data-collection targets and ``desired_goal`` is the current observation with
    the cube positions replaced by them. Needs ``pip install 'wmplan[ogbench]'``.

    ## Version History

    * v0: initial version (OGBench 1.2 cube-single / cube-double, state observations).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}
    world_model_kwargs: tuple[str, ...] = ("n_cubes",)

    def __init__(
        self,
        n_cubes: int = 1,
        *,
        terminate_on_success: bool = True,
        max_steps: int | None = None,
        render_mode: str | None = None,
        mode: str = "task",
    ) -> None:
        n_cubes = check_int("n_cubes", n_cubes, 1, 2)
        terminate_on_success = check_bool("terminate_on_success", terminate_on_success)
        default_steps = 200 if n_cubes == 1 else 500
        max_steps = default_steps if max_steps is None else check_int("max_steps", max_steps, 1)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if mode not in ("task", "data_collection"):
            raise ValueError(f"mode must be 'task' or 'data_collection', got {mode!r}")
        name = f"cube-{CUBE_NAMES[n_cubes]}-play-v0"
        kwargs: dict[str, Any] = {"terminate_at_goal": False}
        if mode == "data_collection":
            kwargs["mode"] = "data_collection"
        with warnings.catch_warnings():  # OGBench's float64 Box bounds; glfw without a display
            warnings.simplefilter("ignore", UserWarning)
            ogbench = _import_ogbench()
            self._ogb = _with_seeded_action_space(
                ogbench.make_env_and_datasets(name, env_only=True, **kwargs).unwrapped
            )
        self.n_cubes = n_cubes
        self.terminate_on_success = terminate_on_success
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.mode = mode
        obs_dim = 19 + 9 * n_cubes
        obs_space = spaces.Box(-np.inf, np.inf, (obs_dim,), dtype=np.float32)
        self.observation_space = goal_observation_space(obs_space)
        self.render_size = int(self._ogb._render_width)
        self.action_space = spaces.Box(-1.0, 1.0, (5,), dtype=np.float32)
        self._steps = 0
        self._goal = np.zeros(3 * n_cubes)
        self._goal_ob = np.zeros(obs_dim)
        self._task_id = 0
        self._obs = np.zeros(obs_dim)
        self._info: dict[str, Any] = {}

    # -- goals ------------------------------------------------------------------------------
    def _cube_distances(self, achieved_goal: Any, desired_goal: Any) -> np.ndarray:
        """Per-cube distances ``[..., n]`` (scaled units) between two observations."""
        a = cube_positions(np.asarray(achieved_goal, dtype=np.float64), self.n_cubes)
        d = a - cube_positions(np.asarray(desired_goal, dtype=np.float64), self.n_cubes)
        return np.linalg.norm(d.reshape(*d.shape[:-1], self.n_cubes, 3), axis=-1)

    def compute_success(self, achieved_goal: Any, desired_goal: Any) -> Any:
        """Every cube within 0.04 m of its target, for observations ``[..., 19 + 9 * n]``."""
        return np.all(self._cube_distances(achieved_goal, desired_goal) <= _RADIUS, axis=-1)

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        far = self._cube_distances(achieved_goal, desired_goal) > _RADIUS
        return -np.sum(far, axis=-1).astype(np.float64)

    # -- gym API ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        inner_seed = int(self.np_random.integers(2**31 - 1))
        task = self._task_options(options)
        # OGBench settles the goal scene with random actions from its action space: seed it
        # too, so the goal observation is a function of the seed
        self._ogb.action_space.seed(inner_seed)
        ob, info = self._ogb.reset(seed=inner_seed, options=task)
        self._steps = 0
        self._task_id = int(task.get("task_id", 0)) if task else 0
        self._obs = np.asarray(ob, dtype=np.float64)
        self._goal = self._target_positions()
        # OGBench's goal scene (task mode) or the current one, the cubes exactly on the targets
        base_goal = info["goal"] if self.mode == "task" else self._obs
        self._goal_ob = self._with_targets(base_goal)
        self._info = info
        return self._observation(), self._step_info(info)

    def _task_options(self, options: dict[str, Any] | None) -> dict[str, Any] | None:
        if self.mode == "data_collection":
            if options:
                raise ValueError("reset options are for mode='task'; data collection draws goals")
            return None
        if not options:
            return {"task_info": self._random_task()}
        unknown = set(options) - {"task_id"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; expected task_id")
        task_id = check_int("task_id", options["task_id"], 1, int(self._ogb.num_tasks))
        return {"task_id": task_id}

    def _random_task(self) -> dict[str, np.ndarray]:
        rng = self.np_random

        def scene() -> np.ndarray:
            while True:
                xy = rng.uniform(_XY_LOW, _XY_HIGH, size=(self.n_cubes, 2))
                gaps = [np.linalg.norm(xy[i] - xy[j]) for i in range(len(xy)) for j in range(i)]
                if not gaps or min(gaps) >= _MIN_GAP:
                    return np.concatenate([xy, np.full((self.n_cubes, 1), 0.02)], axis=1)

        return {"init_xyzs": scene(), "goal_xyzs": scene()}

    def _with_targets(self, observation: Any) -> np.ndarray:
        """``observation`` with its cube positions replaced by the targets' (so the goal's
        cubes are exactly where OGBench's success test measures from)."""
        goal = np.array(observation, dtype=np.float64)
        for i in range(self.n_cubes):
            goal[19 + 9 * i : 22 + 9 * i] = self._goal[3 * i : 3 * i + 3]
        return goal

    def _target_positions(self) -> np.ndarray:
        ids = self._ogb._cube_target_mocap_ids
        xyz = np.stack([np.asarray(self._ogb._data.mocap_pos[i]) for i in ids])
        return ((xyz - XYZ_CENTER) * XYZ_SCALE).reshape(-1)

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        action = self._validate_action(action)
        ob, _, _, _, info = self._ogb.step(np.asarray(action, dtype=np.float64))
        self._steps += 1
        self._obs = np.asarray(ob, dtype=np.float64)
        if self.mode == "data_collection":
            self._goal = self._target_positions()
            self._goal_ob = self._with_targets(self._obs)
        self._info = info
        obs = self._observation()
        out = self._step_info(info)
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], out))
        # data collection: the oracle moves the target once a cube is placed; the episode runs
        # its max_steps, as OGBench's datasets (1,000-step episodes of several placements)
        collecting = self.mode == "data_collection"
        terminated = bool(self.terminate_on_success and out["is_success"] and not collecting)
        truncated = self._steps >= self.max_steps
        return obs, reward, terminated, truncated, out

    def _observation(self) -> dict[str, np.ndarray]:
        return GoalEnv._goal_obs(self._obs.astype(np.float32), self._goal_ob.astype(np.float32))

    def _step_info(self, info: dict[str, Any]) -> dict[str, Any]:
        qpos = np.asarray(info["qpos"], dtype=np.float64)
        qvel = np.asarray(info["qvel"], dtype=np.float64)
        return {
            "is_success": bool(self.compute_success(self._obs, self._goal_ob)),
            "state": np.concatenate([qpos, qvel]).astype(np.float32),
            "goal_state": self._goal.astype(np.float32),
            "qpos": qpos.astype(np.float32),
            "qvel": qvel.astype(np.float32),
            "task_id": self._task_id,
        }

    # -- what the data oracles need ---------------------------------------------------------
    @property
    def ogbench_env(self) -> Any:
        """The wrapped OGBench env (its oracles read it)."""
        return self._ogb

    @property
    def ogbench_obs(self) -> np.ndarray:
        """OGBench's own observation of the last reset or step (its oracles read it)."""
        return self._obs

    @property
    def ogbench_info(self) -> dict[str, Any]:
        """OGBench's own info dict of the last reset or step (its oracles read it)."""
        return self._info

    def set_new_target(self, p_stack: float = 0.0) -> None:
        """``mode="data_collection"``: draw a new target for the next cube to move (stacked on
        another cube with probability ``p_stack``)."""
        if self.mode != "data_collection":
            raise ValueError("set_new_target is for mode='data_collection'")
        ob, info = self._ogb.set_new_target(p_stack=p_stack)
        self._obs = np.asarray(ob, dtype=np.float64)
        self._info = info
        self._goal = self._target_positions()

    # -- pickling: OGBench's env holds MuJoCo/dm_control objects; rebuild and restore ----------
    _REBUILT = ("_model", "_data", "_mjcf_model", "_ik", "_renderer", "_passive_viewer_handle")

    def __getstate__(self) -> dict[str, Any]:
        # plain values only (numbers, arrays, generators and containers of them): the rest are
        # MuJoCo/dm_control objects that the rebuild recreates from the same model
        inner = {
            k: v for k, v in self._ogb.__dict__.items() if k not in self._REBUILT and _plain(v)
        }
        state = {k: v for k, v in self.__dict__.items() if k != "_ogb"}
        state["_inner"] = inner
        state["_inner_data"] = self._ogb._data
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import mujoco

        inner, data = state.pop("_inner"), state.pop("_inner_data")
        fresh = CubeEnv(
            state["n_cubes"], terminate_on_success=state["terminate_on_success"],
            max_steps=state["max_steps"], render_mode=state["render_mode"], mode=state["mode"],
        )  # fmt: skip
        self.__dict__.update(state)
        self._ogb = fresh._ogb
        self._ogb.__dict__.update(inner)
        mujoco.mj_copyData(self._ogb._data, self._ogb._model, data)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return np.asarray(self._ogb.render())

    def close(self) -> None:
        self._ogb.close()
