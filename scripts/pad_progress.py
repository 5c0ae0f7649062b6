"""Progress short of success of PaD models on CubeSingle's tasks, beside random actions.

Usage::

    python scripts/pad_progress.py wmplan_agents/pretrained/cubesingle_pad /tmp/pad/cubesingle_pad

For every evaluation task and ``--episodes`` seeds from ``--seed``: how close the gripper comes
to the cube (the fraction of episodes within 5 cm, the median closest approach) and the
fraction of episodes in which the cube moves more than 2 cm. Positions are read from the state
observation (OGBench scales them by 10: the effector at 12:15, the cube at 19:22).
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch

import wmplan_envs  # noqa: F401  (registers the WMPlan/ ids)
from wmplan_agents import MPCAgent, checkpoint


def progress(agent: MPCAgent | None, episodes: int, seed: int) -> dict[str, float]:
    env = gym.make("WMPlan/CubeSingle-v0")
    rng = np.random.default_rng(seed)
    closest, moved = [], []
    for task in range(1, 6):
        for j in range(episodes):
            obs, _ = env.reset(seed=seed + j, options={"task_id": task})
            if agent is not None:
                agent.reset(seed=seed + j)
            cube0, best, done = obs["observation"][19:22] / 10, np.inf, False
            while not done:
                o = obs["observation"] / 10
                best = min(best, float(np.linalg.norm(o[12:15] - o[19:22])))
                if agent is None:
                    action = rng.uniform(-1, 1, 5).astype(np.float32)
                else:
                    action, _ = agent.predict(obs)
                obs, _, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
            closest.append(best)
            moved.append(float(np.linalg.norm(obs["observation"][19:22] / 10 - cube0)))
    env.close()
    c, m = np.asarray(closest), np.asarray(moved)
    return {"within 5 cm": float(np.mean(c < 0.05)), "median closest (m)": float(np.median(c)),
            "cube moved > 2 cm": float(np.mean(m > 0.02))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help="PaD checkpoints (path without suffix)")
    parser.add_argument("--episodes", type=int, default=10, help="per task")
    parser.add_argument("--seed", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("random actions:", progress(None, args.episodes, args.seed), flush=True)
    for path in args.models:
        agent = MPCAgent(checkpoint.load(path), "pad")
        print(f"{path}:", progress(agent, args.episodes, args.seed), flush=True)


if __name__ == "__main__":
    main()
