"""PointMaze's point mass written out in torch: a hand-made model that is accurate far ahead.

gymnasium-robotics' PointMaze is a MuJoCo ball, so the env has no closed-form transition for
:func:`~wmplan_agents.models.ground_truth`. :class:`PointMassModel` writes the same physics
out, batched and differentiable:

* **Free motion**, from the env's XML (``point.xml``): before each step the velocity is
  clipped to ``[-5, 5]`` per axis (as gymnasium-robotics does), then one Euler step of
  ``dt = 0.01`` with the actuator force ``100 * a`` on a ball of radius 0.1 and density 1000
  (mass 4.19) and joint damping 1, which MuJoCo's Euler integrator applies implicitly:
  ``v' = (v + dt * 100 a / m) / (1 + dt / m)``, ``x' = x + dt * v'``.
* **Walls**: one box per wall cell, as the env's maze builds them (cell ``(i, j)`` centred at
  ``x = j + 0.5 - cols / 2``, ``y = rows / 2 - i - 0.5``, half-size 0.5). MuJoCo's soft contact
  is replaced by the response it was measured to give: along the normal ``n`` from the box's
  closest point to the ball's centre, with ``p`` the depth of penetration (negative for a gap),
  a contact within reach (``p > -CONTACT_REACH``) raises the normal velocity to at least
  ``CONTACT_GAIN * (p + CONTACT_REACH)``, and leaves the tangential velocity alone (the
  geoms' ``condim=1``: no friction). The two nearest boxes are resolved in turn, in the
  maze's row order.

The two contact constants were fitted by least squares to the 1,693 single-box contacts that
slowed the ball in 60 episodes of random pushes (``python scripts/fit_point_mass.py``;
residual median 0.003, 99th percentile 0.014, in velocity units). The model is not MuJoCo: a
ball that meets the seam between two wall boxes at speed is kicked differently. Measured on
the ``maze-arms`` problems of :mod:`wmplan_agents.compare` (150 env steps arm to arm, 100
problems at each of the problem seeds 10,000 and 20,000), the scripted routes, which reach
every goal in the simulator, reach 97 and 95 of them under this model
(``tests/test_point_mass.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from wmplan_agents.models.ground_truth import GroundTruthModel
from wmplan_agents.models.mlp import check_action_repeat

DT = 0.01  # s, point.xml's timestep
RADIUS = 0.1  # the ball's radius
MASS = 1000.0 * 4.0 / 3.0 * math.pi * RADIUS**3  # density 1000
GEAR = 100.0  # actuator gear: force = GEAR * action
DAMPING = 1.0  # joint damping
VELOCITY_LIMIT = 5.0  # gymnasium-robotics clips qvel to this before each step
CONTACT_GAIN = 24.88  # 1/s: the normal velocity after a contact is GAIN * (depth + REACH)
CONTACT_REACH = 0.00361  # a contact acts from this gap on (MuJoCo's margin and softness)


def wall_boxes(maze_map: Sequence[Sequence[Any]]) -> np.ndarray:
    """``[K, 4]`` boxes ``(x_low, x_high, y_low, y_high)`` of the wall cells (``1``) of a
    gymnasium-robotics maze map at scale 1, in row order."""
    rows, cols = len(maze_map), len(maze_map[0])
    boxes = [
        (j - cols / 2, j + 1 - cols / 2, rows / 2 - i - 1, rows / 2 - i)
        for i, row in enumerate(maze_map)
        for j, cell in enumerate(row)
        if cell == 1
    ]
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def random_pushes(
    episodes: int, steps: int, seed: int, **env_kwargs: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States, actions and next states (float64 ``[N, 4]``, ``[N, 2]``, ``[N, 4]``) of random
    pushes in ``WMPlan/PointMaze-v0`` (made with ``env_kwargs``): episode ``e`` starts from
    ``reset(seed=seed + e)``; each uniform random action is held until a 10% draw replaces it.
    The data the contact constants were fitted on (``scripts/fit_point_mass.py``) and tested
    with."""
    import wmplan_envs  # noqa: F401  (registers the WMPlan/ ids)

    env = gym.make("WMPlan/PointMaze-v0", **env_kwargs)
    rng = np.random.default_rng(seed)
    out = []
    try:
        for episode in range(episodes):
            _, info = env.reset(seed=seed + episode)
            state, action = np.asarray(info["state"], np.float64), rng.uniform(-1, 1, 2)
            for _ in range(steps):
                if rng.random() < 0.1:
                    action = rng.uniform(-1, 1, 2)
                act = action.astype(np.float32)
                _, _, terminated, _, info = env.step(act)
                out.append((state, act.astype(np.float64), np.asarray(info["state"], np.float64)))
                state = out[-1][2]
                if terminated:
                    break
    finally:
        env.close()
    s, a, s2 = (np.array(x, dtype=np.float64) for x in zip(*out))
    return s, a, s2


class PointMassModel:
    """PointMaze's point mass and walls as a world model (module docstring: the physics, the
    fitted contact and how accurate it is).

    The latent is the 4-d state ``[x, y, vx, vy]`` (``encode`` is the identity on state
    observations); ``step`` applies ``action_repeat`` env steps per model action (actions
    ``[B, 2 * action_repeat]``, clipped to ``[-1, 1]`` as the env clips them). Differentiable
    almost everywhere; a ball pressed into a wall has zero gradient along the wall's normal.

    Args:
        maze_map: the env's maze (gymnasium-robotics cells; default the U-maze of
            ``WMPlan/PointMaze-v0``).
        action_repeat: env steps per model step.
    """

    def __init__(
        self, maze_map: Sequence[Sequence[Any]] | None = None, action_repeat: int = 1
    ) -> None:
        from wmplan_envs.pointmaze import _check_maze, _u_maze

        maze = _check_maze(maze_map) if maze_map is not None else _u_maze()
        self.maze_map = maze
        self.walls = torch.as_tensor(wall_boxes(maze))
        self.action_repeat = check_action_repeat(action_repeat)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float32)
        self.env_id: str | None = "WMPlan/PointMaze-v0"
        self.env_kwargs: dict[str, Any] = {"obs_type": "state"}
        if maze_map is not None:
            self.env_kwargs["maze_map"] = maze
        # encode and the action-repeat loop are GroundTruthModel's, on this transition (not a
        # GroundTruthModel itself: workers could not rebuild it from an env's dynamics)
        self._repeat = GroundTruthModel(
            self.transition, self.action_space, self.observation_space, self.action_repeat
        )

    def encode(self, obs: Tensor) -> Tensor:
        """``[B, 4] -> [B, 4]``: the state itself (cast to float32 unless floating point)."""
        return self._repeat.encode(obs)

    def transition(self, s: Tensor, a: Tensor) -> Tensor:
        """One env step: ``[B, 4], [B, 2] -> [B, 4]``."""
        pos = s[:, :2]
        v = s[:, 2:].clamp(-VELOCITY_LIMIT, VELOCITY_LIMIT)
        a = a.to(s.dtype).clamp(-1.0, 1.0)
        v = (v + DT * GEAR / MASS * a) / (1.0 + DT * DAMPING / MASS)
        walls = self.walls.to(dtype=s.dtype, device=s.device)
        if len(walls):
            low, high = walls[:, [0, 2]], walls[:, [1, 3]]
            gap = pos.unsqueeze(1) - torch.maximum(torch.minimum(pos.unsqueeze(1), high), low)
            dist = torch.sqrt((gap * gap).sum(-1) + 1e-12)  # [B, K]
            nearest = min(2, len(walls))
            _, idx = torch.topk(dist, nearest, dim=1, largest=False)
            idx, _ = idx.sort(dim=1)  # row order
            for j in range(nearest):
                k = idx[:, j : j + 1]
                d = dist.gather(1, k)
                normal = gap.gather(1, k.unsqueeze(-1).expand(-1, 1, 2)).squeeze(1) / d
                target = CONTACT_GAIN * (RADIUS - d + CONTACT_REACH)
                vn = (v * normal).sum(-1, keepdim=True)
                push = (RADIUS - d > -CONTACT_REACH) & (vn < target)
                v = v + torch.where(push, target - vn, torch.zeros_like(vn)) * normal
        return torch.cat([pos + DT * v, v], dim=-1)

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        """``[B, 4], [B, 2 * action_repeat] -> [B, 4]``: ``action_repeat`` env steps."""
        return self._repeat.step(z, a)

    def to_state(self, z: Tensor) -> Tensor:
        """The env state of a latent: the latent itself."""
        return z

    def __repr__(self) -> str:
        return f"PointMassModel(walls={len(self.walls)}, action_repeat={self.action_repeat})"


__all__ = ["PointMassModel", "random_pushes", "wall_boxes"]
