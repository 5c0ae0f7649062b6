"""Fit the contact constants of :class:`~wmplan_agents.models.point_mass.PointMassModel`.

Usage::

    python scripts/fit_point_mass.py            # 60 episodes of 200 random pushes, seed 0

Pushes the point of ``WMPlan/PointMaze-v0`` around with random actions (each held for 10 steps
on average), and for every step that starts with the ball near a wall box and moving into it
compares the velocity the free motion predicts with the one MuJoCo gives. A least-squares line
``v_normal_after = gain * (depth + reach)`` over the contacts that slowed the ball gives the two
constants; the script prints them beside the module's and the residuals.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import wmplan_envs  # noqa: F401  (registers the WMPlan/ ids)
from wmplan_agents.models import point_mass as pm


def contacts(episodes: int, steps: int, seed: int) -> np.ndarray:
    """Rows ``(depth, normal velocity predicted without walls, normal velocity measured)``."""
    states, actions, after = pm.random_pushes(episodes, steps, seed)
    walls = pm.wall_boxes(gym.make("WMPlan/PointMaze-v0").unwrapped.maze_map)
    rows = []
    for state, action, nxt in zip(states, actions, after):
        v = np.clip(state[2:], -pm.VELOCITY_LIMIT, pm.VELOCITY_LIMIT)
        free = (v + pm.DT * pm.GEAR / pm.MASS * action) / (1 + pm.DT * pm.DAMPING / pm.MASS)
        pos = state[:2]
        gap = pos - np.clip(pos, walls[:, [0, 2]], walls[:, [1, 3]])
        dist = np.linalg.norm(gap, axis=1)
        k = int(np.argmin(dist))
        if pm.RADIUS - dist[k] > -0.01 and (dist < pm.RADIUS + 0.01).sum() == 1:
            normal = gap[k] / dist[k]
            rows.append((pm.RADIUS - dist[k], free @ normal, nxt[2:] @ normal))
    return np.asarray(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = contacts(args.episodes, args.steps, args.seed)
    slowed = (rows[:, 1] < 0) & (rows[:, 2] > rows[:, 1] + 1e-4)
    depth, after = rows[slowed, 0], rows[slowed, 2]
    (gain, offset), *_ = np.linalg.lstsq(np.c_[depth, np.ones_like(depth)], after, rcond=None)
    residual = np.abs(gain * depth + offset - after)
    print(f"{slowed.sum()} contacts that slowed the ball (of {len(rows)} near a wall)")
    print(f"gain  {gain:.2f} 1/s   (model: {pm.CONTACT_GAIN})")
    print(f"reach {offset / gain:.5f}     (model: {pm.CONTACT_REACH})")
    print("residual median / 90th / 99th:", np.percentile(residual, [50, 90, 99]).round(4))


if __name__ == "__main__":
    main()
