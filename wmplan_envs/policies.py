"""Data-like policies: what world-model datasets are collected with, and what makes Push-T goals.

Each policy is a small class: ``reset()`` starts a new episode, ``policy(state, rng)`` returns an
action in the env's action space, drawing only from the NumPy ``Generator`` it is given. ``state``
is the env's true state (``info["state"]``) or a state observation dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The T's outline in its body frame (y down), counter-clockwise on screen; outward normals below.
_T_OUTLINE = np.array(
    [(-60, 0), (60, 0), (60, 30), (15, 30), (15, 120), (-15, 120), (-15, 30), (-60, 30)],
    dtype=np.float64,
)


def _state_vector(state: Any) -> np.ndarray:
    if isinstance(state, dict):
        state = state["state"] if "state" in state else state["observation"]
    return np.asarray(state, dtype=np.float64).reshape(-1)


def _truncated_normal(rng: np.random.Generator, mean: float, std: float, low: float, high: float):
    while True:  # rejection: the window holds ~98% of the mass for the defaults
        value = rng.normal(mean, std)
        if low <= value <= high:
            return value


@dataclass
class WallRandomWalkPolicy:
    """DINO-WM's wall data policy: step length ~ truncated normal, direction a von Mises walk.

    The move length (in units of the env's ``2 a`` move) is drawn from a normal with mean
    ``step_mean`` and std ``step_std`` truncated to ``[step_low, step_high]``; the heading turns
    each step by a von Mises angle with concentration ``kappa`` (the first heading is uniform).
    The action is ``length / 2 * (cos, sin)``, so its norm is about 0.5 with the defaults;
    each component is clipped to the action box ``[-1, 1]`` (which the defaults never reach: a
    wider length window, as the shipped state model's data uses, does).
    """

    step_mean: float = 1.0
    step_std: float = 0.4
    step_low: float = 0.2
    step_high: float = 1.8
    kappa: float = 4.0
    _heading: float | None = field(default=None, init=False, repr=False)

    def reset(self) -> None:
        self._heading = None

    def __call__(self, state: Any, rng: np.random.Generator) -> np.ndarray:
        if self._heading is None:
            self._heading = float(rng.uniform(-math.pi, math.pi))
        else:
            self._heading = float(self._heading + rng.vonmises(0.0, self.kappa))
        length = _truncated_normal(
            rng, self.step_mean, self.step_std, self.step_low, self.step_high
        )
        move = 0.5 * length * np.array([math.cos(self._heading), math.sin(self._heading)])
        return np.clip(move, -1.0, 1.0).astype(np.float32)


@dataclass
class PushTPushingPolicy:
    """A scripted Push-T pusher: approach the T from a random side, push into it, repeat.

    Each push picks a point on the T's outline (uniform by length) with its outward normal
    ``n``; the agent first heads for ``contact + (15 + standoff) n`` (at most ``approach_steps``
    env steps, or until within ``reach`` px), then targets ``contact - depth n`` for a number of
    steps drawn from ``push_steps``. Targets get Gaussian noise (``noise_std`` px), are clipped
    to the canvas, and lie at most ``max_move`` px from the agent (a hand moving at a human pace,
    like the teleoperated demonstrations behind the DINO-WM dataset; ``None`` lets the agent jump
    up to 100 px per step). With ``relative=True`` it returns ``clip((target - agent) / 100, -1,
    1)``, the env's relative action; otherwise the absolute target.
    """

    relative: bool = False
    standoff: float = 25.0
    depth: float = 40.0
    push_steps: tuple[int, int] = (3, 10)
    approach_steps: int = 8
    reach: float = 12.0
    noise_std: float = 6.0
    max_move: float | None = 20.0
    _push: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)
    _phase: str = field(default="approach", init=False, repr=False)
    _left: int = field(default=0, init=False, repr=False)

    def reset(self) -> None:
        self._push = None

    def _new_push(self, rng: np.random.Generator) -> None:
        starts, ends = _T_OUTLINE, np.roll(_T_OUTLINE, -1, axis=0)
        lengths = np.linalg.norm(ends - starts, axis=1)
        edge = int(rng.choice(len(lengths), p=lengths / lengths.sum()))
        u = float(rng.uniform(0.1, 0.9))
        point = starts[edge] + u * (ends[edge] - starts[edge])
        d = (ends[edge] - starts[edge]) / lengths[edge]
        normal = np.array([d[1], -d[0]])  # outward for this winding (y down)
        self._push = (point, normal)
        self._phase = "approach"
        self._left = self.approach_steps

    def __call__(self, state: Any, rng: np.random.Generator) -> np.ndarray:
        s = _state_vector(state)
        agent, block, angle = s[0:2], s[2:4], s[4]
        if self._push is None or (self._left <= 0 and self._phase == "push"):
            self._new_push(rng)
        point, normal = self._push
        c, si = math.cos(angle), math.sin(angle)
        rot = np.array([[c, -si], [si, c]])
        contact, n = block + rot @ point, rot @ normal
        if self._phase == "approach":
            target = contact + (15.0 + self.standoff) * n
            self._left -= 1
            if np.linalg.norm(agent - target) < self.reach or self._left <= 0:
                self._phase = "push"
                self._left = int(rng.integers(self.push_steps[0], self.push_steps[1] + 1))
        else:
            target = contact - self.depth * n
            self._left -= 1
        target = np.clip(target + rng.normal(0.0, self.noise_std, 2), 0.0, 512.0)
        move = target - agent
        dist = float(np.linalg.norm(move))
        if self.max_move is not None and dist > self.max_move:
            target = agent + move * (self.max_move / dist)
        if self.relative:
            return np.clip((target - agent) / 100.0, -1.0, 1.0).astype(np.float32)
        return target.astype(np.float32)


class CubeOraclePolicy:
    """OGBench's scripted cube oracles, the policies behind its datasets, for a
    ``WMPlan/Cube*-v0`` env made with ``mode="data_collection"``.

    ``kind="play"``: the non-Markovian plan oracle (``CubePlanOracle``: pick, clearance, place,
    along an interpolated plan with temporally correlated noise ``noise=0.1``, smoothing 0.5).
    ``kind="noisy"``: the closed-loop Markov oracle (``CubeMarkovOracle``, ``min_norm=0.4``) with
    Gaussian action noise of std ``xi * (1, 1, 1, 3, 10)`` per action dimension, ``xi ~ U(0,
    noise)`` drawn per episode. When the oracle has finished a cube, the env draws the next
    target (stacking probability 0 for one cube, ``U(0, 0.25)`` per episode for two). These
    settings are those of OGBench's data-generation script (its defaults).

    The oracles draw from NumPy's global generator; this policy runs them on a generator state
    of its own (seeded from the ``rng`` that ``collect`` passes, at every episode start) and puts
    the global state back after every call, so the data is a function of the seed and the rest of
    the process is undisturbed.
    """

    def __init__(self, env: Any, kind: str = "play", noise: float = 0.1) -> None:
        if kind not in ("play", "noisy"):
            raise ValueError(f"kind must be 'play' or 'noisy', got {kind!r}")
        self.env = getattr(env, "unwrapped", env)
        if getattr(self.env, "mode", None) != "data_collection":
            raise ValueError(
                "the cube oracles need the env made with mode='data_collection', e.g. "
                "gym.make('WMPlan/CubeSingle-v0', mode='data_collection')"
            )
        self.kind, self.noise = kind, float(noise)
        self._oracle: Any = None
        self._state: Any = None  # the oracle's NumPy global-generator state
        self._xi = 0.0
        self._p_stack = 0.0

    def reset(self) -> None:
        self._oracle = None

    def _swap(self) -> Any:
        saved = np.random.get_state()  # noqa: NPY002
        np.random.set_state(self._state)  # noqa: NPY002
        return saved

    def __call__(self, obs: Any, rng: np.random.Generator) -> np.ndarray:
        from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle
        from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle

        ogb = self.env.ogbench_env
        if self._oracle is None:  # a new episode: its own generator state, noise and stacking
            np_state = np.random.RandomState(int(rng.integers(2**31 - 1)))
            self._state = np_state.get_state()
            self._xi = float(rng.uniform(0.0, self.noise))
            self._p_stack = 0.0 if self.env.n_cubes == 1 else float(rng.uniform(0.0, 0.25))
            saved = self._swap()
            try:
                if self.kind == "play":
                    self._oracle = CubePlanOracle(env=ogb, noise=self.noise, noise_smoothing=0.5)
                else:
                    self._oracle = CubeMarkovOracle(env=ogb, min_norm=0.4)
                self._oracle.reset(self.env.ogbench_obs, self.env.ogbench_info)
            finally:
                self._state = np.random.get_state()  # noqa: NPY002
                np.random.set_state(saved)  # noqa: NPY002
        saved = self._swap()
        try:
            if self._oracle.done:
                self.env.set_new_target(p_stack=self._p_stack)
                self._oracle.reset(self.env.ogbench_obs, self.env.ogbench_info)
            action = np.asarray(
                self._oracle.select_action(self.env.ogbench_obs, self.env.ogbench_info),
                dtype=np.float64,
            )
        finally:
            self._state = np.random.get_state()  # noqa: NPY002
            np.random.set_state(saved)  # noqa: NPY002
        if self.kind == "noisy":
            action = action + rng.normal(0.0, self._xi * np.array([1, 1, 1, 3, 10]))
        return np.clip(action, -1.0, 1.0).astype(np.float32)
