"""Push-T (Diffusion Policy, gym-pusht, DINO-WM, GRASP) on pymunk 7."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pymunk
from gymnasium import spaces

from wmplan_envs import core
from wmplan_envs.info_states import check_goal_images, goal_digests, states_from_info
from wmplan_envs.policies import PushTPushingPolicy
from wmplan_envs.pusht_render import (
    AGENT_RADIUS,
    BAR,
    CANVAS,
    STEM,
    WALL_RADIUS,
    WALLS,
    Rasteriser,
    coverage,
    keypoints,
    pose_from_keypoints,
)

GOAL_POSE = (256.0, 256.0, math.pi / 4)  # the classic task's block pose
GOAL_AGENT = (256.0, 400.0)  # where the fixed goal state puts the agent (the reference start)
SIM_DT, SUBSTEPS = 0.01, 10  # 100 Hz physics, 10 Hz control
K_P, K_V = 100.0, 20.0  # the references' PD gains
RELATIVE_REACH = 100.0  # px: a relative action's target is agent + RELATIVE_REACH * action
# DINO-WM's success test for reachable goals
POS_TOL, ANGLE_TOL = 20.0, math.pi / 9
FIXED_GOAL_STEPS = 300  # gym-pusht's episode budget
# The two tasks: gym-pusht's (absolute targets, the fixed T, coverage > 0.95) and the world-model
# papers' (relative actions, goals the pushing policy reaches in goal_steps; DINO-WM, GRASP)
TASKS: dict[str, dict[str, Any]] = {
    "pusht": {"relative": False, "goal": "fixed"},
    "reachable": {"relative": True, "goal": "reachable"},
}


def t_moment() -> float:
    """The references' moment of the T: both terms from the bar's vertices (a kept copy bug)."""
    return 2.0 * pymunk.moment_for_poly(1.0, BAR)


def _build(phys: np.ndarray) -> tuple[pymunk.Space, pymunk.Body, pymunk.Body]:
    """A fresh space holding the full physical state ``phys`` (see ``PushTEnv``)."""
    space = pymunk.Space()
    space.gravity = (0.0, 0.0)
    space.damping = 0.0  # no velocity survives a substep: the block moves only while pushed
    for a, b in WALLS:
        space.add(pymunk.Segment(space.static_body, a, b, WALL_RADIUS))
    agent = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
    agent.position = (phys[0], phys[1])
    agent.velocity = (phys[5], phys[6])
    space.add(agent, pymunk.Circle(agent, AGENT_RADIUS))
    block = pymunk.Body(1.0, t_moment())
    bar, stem = pymunk.Poly(block, BAR), pymunk.Poly(block, STEM)  # friction 0, as the references
    block.center_of_gravity = (
        0.5 * (bar.center_of_gravity.x + stem.center_of_gravity.x),
        0.5 * (bar.center_of_gravity.y + stem.center_of_gravity.y),
    )
    block.angle = phys[4]  # angle first: rotation is about the centre of gravity
    block.position = (phys[2], phys[3])
    block.velocity = (phys[7], phys[8])
    block.angular_velocity = phys[9]
    space.add(block, bar, stem)
    return space, agent, block


def read(agent: pymunk.Body, block: pymunk.Body) -> np.ndarray:
    """The full physical state (float64): agent xy, block xy, angle, agent v, block v, omega."""
    return np.array(
        [
            *agent.position,
            *block.position,
            block.angle,
            *agent.velocity,
            *block.velocity,
            block.angular_velocity,
        ]
    )


def push(space: pymunk.Space, agent: pymunk.Body, target: tuple[float, float]) -> None:
    """One env step: 10 PD substeps of the agent toward ``target``."""
    tx, ty = float(target[0]), float(target[1])
    for _ in range(SUBSTEPS):
        (px, py), (vx, vy) = agent.position, agent.velocity
        agent.velocity = (
            vx + (K_P * (tx - px) + K_V * (0.0 - vx)) * SIM_DT,
            vy + (K_P * (ty - py) + K_V * (0.0 - vy)) * SIM_DT,
        )
        space.step(SIM_DT)


def placed(state: np.ndarray) -> tuple[pymunk.Space, pymunk.Body, pymunk.Body]:
    """The references' reset: bodies at ``state[:5]`` at rest, then one ``space.step(dt)``."""
    space, agent, block = _build(
        np.concatenate([np.asarray(state, dtype=np.float64)[:5], np.zeros(5)])
    )
    space.step(SIM_DT)
    return space, agent, block


def wrap_angle(a: np.ndarray) -> np.ndarray:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


class PushTEnv(core.GoalEnv):
    """
    ## Description

    Push a T-shaped block onto a goal pose with a round agent (Diffusion Policy's Push-T, as in
    gym-pusht, DINO-WM and GRASP), simulated with pymunk 7. Physics as the references: a
    512 x 512 canvas (y down) with four static wall segments (5..506, radius 2); a kinematic
    agent disc of radius 15; a T of mass 1 (bar 120 x 30, stem 30 x 90, body origin at the
    middle of the bar's outer edge, centre of gravity (0, 45)); zero gravity and
    ``space.damping = 0``; every env step runs 10 substeps of 0.01 s with the PD law
    ``vel += (100 (target - pos) + 20 (0 - vel)) dt``. Two reference bugs that results depend on
    are kept: the moment of the T is ``2 * moment_for_poly(1, bar)`` = 3000 (the stem's term
    uses the bar's vertices), and the contacts are frictionless (the references set friction on
    the bodies, which pymunk ignores).

    pymunk carries a contact cache (warm-started impulses) from one step into the next, as in
    the references. It cannot be saved, so pickling (and ``copy.deepcopy``) rebuilds the space
    from the full physical state (float64 agent position and velocity, block pose, velocity and
    angular velocity; :attr:`physics_state`) in the copy and in the original alike: both then
    continue bit for bit identically (the original's warm start for its next step is dropped).

    ## Tasks

    ``gym.make("WMPlan/PushT-v0")`` is the world-model papers' benchmark (``task="reachable"``,
    what the shipped Push-T model plans in): relative actions, goals the pushing policy reaches
    in ``goal_steps`` env steps, ``2 * goal_steps`` env steps per episode. gym-pusht's task is
    one keyword away, ``gym.make("WMPlan/PushT-v0", task="pusht")``: absolute targets, the fixed
    T, coverage > 0.95, 300 env steps. ``relative``, ``goal`` and ``max_steps`` given
    explicitly override the task's. The class itself (``PushTEnv()``) defaults to
    ``task="pusht"``, the reference.

    ## Action Space

    ``relative=False``: an absolute target ``Box(0, 512, (2,), float32)`` for the agent (the
    references). ``relative=True``: ``Box(-1, 1, (2,), float32)`` with
    ``target = agent + 100 a`` clipped to the canvas (the world-model papers' setting). Finite
    out-of-range actions are clipped; non-finite, wrongly shaped or non-numeric ones raise
    ``ValueError``.

    ## Observation Space

    ``obs_type="state"``: ``Box((7,), float32)``: agent x, y, block x, y, block angle mod 2pi,
    agent velocity x, y (DINO-WM's 7-d state). ``"keypoints"``: ``Box((20,), float32)``: the T's
    8 corners in world coordinates (bar, then stem), agent x, y, agent velocity x, y.
    ``"pixels"``: ``Box(0, 255, (image_size, image_size, 3), uint8)`` (default 96 as gym-pusht;
    224 as DINO-WM): walls, block and agent, without the goal. ``desired_goal`` is the goal
    state in the same form (for pixels, the goal state's picture).

    ## Rewards

    ``goal="fixed"``: ``clip(coverage / 0.95, 0, 1)`` with coverage = area(goal T ∩ block T) /
    area(goal T). ``goal="reachable"``: ``-max(||d_pos|| / 20, |d_angle| / (pi/9))``, where
    ``d_pos`` is the 4-d error of agent and block positions and ``d_angle`` the wrapped block
    angle error: the negative distance normalised by DINO-WM's tolerances (> -1 exactly on
    success). ``compute_reward`` works from ``achieved_goal``/``desired_goal`` for state and
    keypoint observations (keypoints: the block pose is recovered from the corners) and from
    ``info["state"]``/``info["goal_state"]`` for pixels (pass the step's ``info``).

    ## Starting State

    The references' reset: agent uniform integers in [50, 450) per axis, block in [100, 400),
    angle uniform in [-pi, pi); the angle is set before the position, then one physics substep
    runs. ``goal="fixed"``: the goal state is the block at (256, 256, pi/4) with the agent at
    (256, 400) at rest. ``goal="reachable"``: the goal state is where :class:`PushTPushingPolicy`
    takes the start in ``goal_steps`` env steps (default 25, as DINO-WM); its actions are kept in
    ``goal_actions``, and replaying them from the start reaches the goal exactly.

    ``reset(options=...)``: ``"start"``, 5 numbers (agent x, y, block x, y, angle; positions in
    [0, 512]), replaces the random start; ``"goal_actions"``, env actions ``[T, 2]`` (needs
    ``goal="reachable"``), replaces the pushing policy: the goal is where they take the start.

    ## Episode End

    Success: coverage > ``success_threshold`` (0.95) for ``goal="fixed"``; for ``"reachable"``
    DINO-WM's test, ``||d_pos|| < 20`` and ``|d_angle| < pi/9``. Terminated on success if
    ``terminate_on_success``; truncated after ``max_steps`` env steps (default: 300 for fixed
    goals as gym-pusht, ``2 * goal_steps`` for reachable ones).

    ## Arguments

    ``gym.make("WMPlan/PushT-v0", obs_type="state", image_size=96, relative=None, goal=None,
    goal_steps=25, success_threshold=0.95, terminate_on_success=True, render_mode=None,
    render_size=256, task="reachable", max_steps=None)`` (the registration sets
    ``task="reachable"``; ``PushTEnv`` itself defaults to ``task="pusht"``)

    ## Version History

    * v0: initial version (pymunk 7). The registered defaults became the world-model
      benchmark (``task="reachable"``: relative actions, reachable goals, 50 env steps) so that
      the shipped model plans in ``gym.make("WMPlan/PushT-v0")`` as it is; gym-pusht's task
      (previously the default) is ``task="pusht"``, its physics unchanged. The episode budget
      moved from the registration into the env (``max_steps``). Keyword arguments are validated
      in ``__init__`` (``relative="no"`` or ``goal_steps=2.5`` raise ``ValueError``).
      ``reset`` takes the options ``"start"`` and ``"goal_actions"`` (unknown options raise
      ``ValueError``; before, options were ignored).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    # the keyword arguments a world model of this env depends on (dynamics and observations)
    world_model_kwargs: tuple[str, ...] = ("obs_type", "image_size", "relative")

    def __init__(
        self,
        obs_type: str = "state",
        image_size: int = 96,
        relative: bool | None = None,
        goal: str | None = None,
        goal_steps: int = 25,
        success_threshold: float = 0.95,
        terminate_on_success: bool = True,
        render_mode: str | None = None,
        render_size: int = 256,
        task: str = "pusht",
        max_steps: int | None = None,
    ) -> None:
        image_size = core.check_int("image_size", image_size, 8, core.MAX_IMAGE_SIZE)
        render_size = core.check_int("render_size", render_size, 8, core.MAX_IMAGE_SIZE)
        goal_steps = core.check_int("goal_steps", goal_steps, 1)
        success_threshold = core.check_real("success_threshold", success_threshold, 0.0, 1.0)
        terminate_on_success = core.check_bool("terminate_on_success", terminate_on_success)
        if relative is not None:
            relative = core.check_bool("relative", relative)
        if max_steps is not None:
            max_steps = core.check_int("max_steps", max_steps, 1)
        if task not in TASKS:
            raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
        relative = TASKS[task]["relative"] if relative is None else relative
        goal = TASKS[task]["goal"] if goal is None else goal
        if obs_type not in ("state", "keypoints", "pixels"):
            raise ValueError(f"obs_type must be 'state', 'keypoints' or 'pixels', got {obs_type!r}")
        if goal not in ("fixed", "reachable"):
            raise ValueError(f"goal must be 'fixed' or 'reachable', got {goal!r}")
        if goal_steps < 1 or image_size < 8 or render_size < 8:
            raise ValueError(
                f"need goal_steps >= 1 and image/render sizes >= 8, got {goal_steps}, "
                f"{image_size}, {render_size}"
            )
        if max_steps is None:
            max_steps = 2 * int(goal_steps) if goal == "reachable" else FIXED_GOAL_STEPS
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 (or None for the task's), got {max_steps}")
        self.task, self.max_steps, self._elapsed = task, int(max_steps), 0
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.obs_type, self.goal, self.relative = obs_type, goal, bool(relative)
        self.image_size, self.goal_steps = int(image_size), int(goal_steps)
        self.success_threshold = float(success_threshold)
        self.terminate_on_success = terminate_on_success
        self.render_mode, self.render_size = render_mode, int(render_size)
        if self.relative:
            self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        else:
            self.action_space = spaces.Box(0.0, CANVAS, shape=(2,), dtype=np.float32)
        inf = np.inf
        if obs_type == "state":
            low = np.array([-inf, -inf, -inf, -inf, 0.0, -inf, -inf], dtype=np.float32)
            high = np.array([inf, inf, inf, inf, 2 * np.pi, inf, inf], dtype=np.float32)
            obs_space = spaces.Box(low, high, dtype=np.float32)
        elif obs_type == "keypoints":
            obs_space = spaces.Box(-inf, inf, shape=(20,), dtype=np.float32)
        else:
            obs_space = spaces.Box(0, 255, shape=(image_size, image_size, 3), dtype=np.uint8)
        self.observation_space = core.goal_observation_space(obs_space)
        self.policy = PushTPushingPolicy(relative=self.relative)
        self._sim: tuple[pymunk.Space, pymunk.Body, pymunk.Body] | None = None
        self._phys = np.zeros(10)
        self._goal_phys = np.zeros(10)
        self.goal_actions = np.zeros((0, 2), dtype=np.float32)
        self._raster: dict[int, Rasteriser] = {}
        self._goal_obs_cache: np.ndarray | None = None

    # -- physics --------------------------------------------------------------------------------
    def _target(self, action: np.ndarray, phys: np.ndarray) -> tuple[float, float]:
        a = action.astype(np.float64)
        if not self.relative:
            return float(a[0]), float(a[1])
        return (
            min(max(phys[0] + RELATIVE_REACH * a[0], 0.0), CANVAS),
            min(max(phys[1] + RELATIVE_REACH * a[1], 0.0), CANVAS),
        )

    def set_state(self, state: np.ndarray) -> None:
        """Place agent and block at ``state[:5]`` (agent xy, block xy, angle), velocities 0, and
        run the references' settling substep (as reset does)."""
        s = np.asarray(state, dtype=np.float64).reshape(-1)
        if s.shape[0] < 5 or not np.all(np.isfinite(s[:5])):
            raise ValueError(f"expected a finite state with at least 5 entries, got {state!r}")
        self._sim = placed(s)
        self._phys = read(*self._sim[1:])
        self._goal_obs_cache = None

    @property
    def physics_state(self) -> np.ndarray:
        """Full float64 state: agent xy, block xy, angle, agent v, block v, block omega."""
        return self._phys.copy()

    # -- observations ---------------------------------------------------------------------------
    @staticmethod
    def state_of(phys: np.ndarray) -> np.ndarray:
        """The 7-d state of a full physical state."""
        return np.array([*phys[:4], phys[4] % (2 * np.pi), *phys[5:7]])

    def _rasteriser(self, size: int) -> Rasteriser:
        if size not in self._raster:
            self._raster[size] = Rasteriser(size)
        return self._raster[size]

    def _observe(self, phys: np.ndarray) -> np.ndarray:
        if self.obs_type == "state":
            return self.state_of(phys).astype(np.float32)
        if self.obs_type == "keypoints":
            return np.concatenate([keypoints(*phys[2:5]), phys[0:2], phys[5:7]]).astype(np.float32)
        return self._rasteriser(self.image_size).scene(phys[0:2], phys[2:5])

    def _poses(self, x: Any, info: Any, key: int) -> np.ndarray:
        """``[..., 5]`` (agent xy, block xy, angle) of achieved (key 0) or desired (key 1)."""
        if self.obs_type == "state":
            return np.asarray(x, dtype=np.float64)[..., :5]
        if self.obs_type == "keypoints":
            x = np.asarray(x, dtype=np.float64)
            return np.concatenate([x[..., 16:18], pose_from_keypoints(x[..., :16])], axis=-1)
        check_goal_images(info, **{("achieved", "desired")[key]: x})
        return states_from_info(info, np.shape(x)[:-3], 7)[key][..., :5]

    def _score(self, achieved: np.ndarray, desired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(reward, success)`` for pose arrays ``[..., 5]``, element by element."""
        lead = achieved.shape[:-1]
        a, d = achieved.reshape(-1, 5), desired.reshape(-1, 5)
        if self.goal == "fixed":
            cov = np.array([coverage(p[2:5], q[2:5]) for p, q in zip(a, d)])
            reward = np.clip(cov / self.success_threshold, 0.0, 1.0)
            success = cov > self.success_threshold
        else:
            dpos = np.array([math.sqrt(sum((p[:4] - q[:4]) ** 2)) for p, q in zip(a, d)])
            dang = np.abs(wrap_angle(a[:, 4] - d[:, 4]))
            reward = -np.maximum(dpos / POS_TOL, dang / ANGLE_TOL)
            success = (dpos < POS_TOL) & (dang < ANGLE_TOL)
        return reward.reshape(lead), success.reshape(lead)

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        """Vectorised reward (see Rewards); pixel observations read the states from ``info``."""
        a = self._poses(achieved_goal, info, 0)
        return self._score(a, self._poses(desired_goal, info, 1))[0]

    def compute_success(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> Any:
        """Vectorised success test, like :meth:`compute_reward`."""
        a = self._poses(achieved_goal, info, 0)
        return self._score(a, self._poses(desired_goal, info, 1))[1]

    # -- gym API --------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        start, given_actions = self._reset_options(options)
        rng = self.np_random
        if start is None:
            agent = rng.integers(50, 450, size=2)
            block = rng.integers(100, 400, size=2)
            angle = rng.uniform(-np.pi, np.pi)
            start = np.array([*agent, *block, angle], dtype=np.float64)
        if self.goal == "fixed":
            self._goal_phys = np.array([*GOAL_AGENT, *GOAL_POSE, 0, 0, 0, 0, 0])
            self.goal_actions = np.zeros((0, 2), dtype=np.float32)
        else:
            # a scratch copy of the start runs the given actions or the pushing policy; the
            # env's own copy is built the same way, so replaying goal_actions from the start
            # reaches the goal exactly
            space, agent_body, block_body = placed(start)
            phys, actions = read(agent_body, block_body), []
            self.policy.reset()
            steps = self.goal_steps if given_actions is None else len(given_actions)
            for t in range(steps):
                if given_actions is None:
                    action = self._validate_action(self.policy(self.state_of(phys), rng))
                else:
                    action = given_actions[t]
                actions.append(action)
                push(space, agent_body, self._target(action, phys))
                phys = read(agent_body, block_body)
            self._goal_phys = phys
            self.goal_actions = np.array(actions, dtype=np.float32)
        self._sim = placed(start)
        self._phys = read(*self._sim[1:])
        self._goal_obs_cache = None
        self._elapsed = 0
        obs, info = self._obs_info()
        info.pop("_reward")
        return obs, info

    def _reset_options(self, options: dict[str, Any] | None) -> tuple[Any, Any]:
        """``(start [5] or None, goal actions [T, 2] or None)`` from reset's ``options``."""
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise ValueError(f"options must be a dict or None, got {type(options).__name__}")
        unknown = sorted(set(options) - {"start", "goal_actions"})
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; expected 'start', 'goal_actions'")
        start = options.get("start")
        if start is not None:
            try:
                start = np.asarray(start, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as err:
                raise ValueError(f"options['start'] must be 5 numbers, got {start!r}") from err
            if start.shape != (5,) or not np.all(np.isfinite(start)):
                raise ValueError(
                    "options['start'] must be 5 finite numbers (agent x, y, block x, y, angle), "
                    f"got {options['start']!r}"
                )
            if np.any(start[:4] < 0) or np.any(start[:4] > CANVAS):
                raise ValueError(
                    f"options['start'] positions must lie in [0, {CANVAS:g}], got {start[:4]}"
                )
        actions = options.get("goal_actions")
        if actions is not None:
            if self.goal != "reachable":
                raise ValueError("options['goal_actions'] needs goal='reachable'")
            try:
                actions = np.asarray(actions, dtype=np.float32)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"options['goal_actions'] must be an array [T, 2], got {actions!r}"
                ) from err
            if actions.ndim != 2 or actions.shape[1] != 2 or len(actions) < 1:
                raise ValueError(
                    f"options['goal_actions'] must have shape [T >= 1, 2], got {actions.shape}"
                )
            actions = np.stack([self._validate_action(a) for a in actions])
        return start, actions

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        action = self._validate_action(action)
        if self._sim is None:
            raise RuntimeError("call reset() before step()")
        space, agent, block = self._sim
        push(space, agent, self._target(action, self._phys))
        self._phys = read(agent, block)
        obs, info = self._obs_info()
        reward = float(info.pop("_reward"))
        terminated = bool(self.terminate_on_success and info["is_success"])
        self._elapsed += 1
        return obs, reward, terminated, self._elapsed >= self.max_steps, info

    def _obs_info(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self._goal_obs_cache is None:
            self._goal_obs_cache = self._observe(self._goal_phys)
        obs = self._goal_obs(self._observe(self._phys), self._goal_obs_cache)
        state = self.state_of(self._phys).astype(np.float32)
        goal = self.state_of(self._goal_phys).astype(np.float32)
        info: dict[str, Any] = {"state": state, "goal_state": goal}
        if self.obs_type == "pixels":
            info.update(goal_digests(obs["achieved_goal"], obs["desired_goal"]))
        # scored from the float32 observation, so compute_reward(obs..., info) reproduces it
        a = self._poses(obs["achieved_goal"], info, 0)
        reward, success = self._score(a, self._poses(obs["desired_goal"], info, 1))
        info["is_success"] = bool(success)
        if self.goal == "fixed":
            info["coverage"] = float(coverage(self._phys[2:5], GOAL_POSE))
        info["_reward"] = float(reward)
        return obs, info

    def render(self) -> np.ndarray | None:
        """``rgb_array``: ``[render_size, render_size, 3]`` uint8 with the goal T in force
        (light green; the reachable goal state's block pose when ``goal="reachable"``)."""
        if self.render_mode is None:
            return None
        raster = self._rasteriser(self.render_size)
        return raster.scene(self._phys[0:2], self._phys[2:5], self._goal_phys[2:5])

    # -- pickling: pymunk's contact cache cannot be saved, so both sides drop it ----------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_sim"] = None
        state["_raster"] = {}
        state["_has_sim"] = self._sim is not None
        if self._sim is not None:
            # rebuild our own space from the full physical state, as the copy will, so that the
            # original and the copy continue bit for bit alike
            self._sim = _build(self._phys)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        has_sim = state.pop("_has_sim", False)
        self.__dict__.update(state)
        self._sim = _build(self._phys) if has_sim else None
