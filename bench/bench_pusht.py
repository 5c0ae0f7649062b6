"""Env steps per second of WMPlan/PushT-v0 against gym-pusht, state and pixel observations.

gym-pusht pins pymunk 6 (it calls the removed ``Space.add_collision_handler``) while wmplan uses
pymunk 7, and two pymunk versions cannot live in one process. So wmplan runs here and gym-pusht
runs in a second interpreter (``--gym-pusht-python``, e.g. a venv with ``pip install "pymunk<7"
pygame opencv-python-headless`` and ``pip install --no-deps gym-pusht``); the two alternate
round by round on the same machine, same seeds and action sequence, and the ratio is the median
over rounds of (wmplan rate / gym-pusht rate).

    python bench/bench_pusht.py --gym-pusht-python /tmp/gpenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

WORKER = r"""
import json, os, sys, time
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
import numpy as np, gymnasium as gym, gym_pusht  # noqa: F401
obs_type, size, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kw = {"obs_type": obs_type}
if obs_type == "pixels":
    kw.update(observation_width=size, observation_height=size)
env = gym.make("gym_pusht/PushT-v0", **kw).unwrapped
actions = np.random.default_rng(0).uniform(0, 512, (n, 2))
env.reset(seed=0)
for a in actions[:10]:
    env.step(a)
env.reset(seed=0)
t = time.perf_counter()
for a in actions:
    if env.step(a)[2]:
        env.reset()
print(json.dumps(n / (time.perf_counter() - t)))
"""


def wmplan_rate(obs_type: str, size: int, n: int) -> float:
    import gymnasium as gym

    import wmplan_envs  # noqa: F401

    kw = {"obs_type": obs_type, "image_size": size} if obs_type == "pixels" else {}
    env = gym.make("WMPlan/PushT-v0", **kw).unwrapped
    actions = np.random.default_rng(0).uniform(0, 512, (n, 2)).astype(np.float32)
    env.reset(seed=0)
    for a in actions[:10]:
        env.step(a)
    env.reset(seed=0)
    t = time.perf_counter()
    for a in actions:
        if env.step(a)[2]:
            env.reset()
    return n / (time.perf_counter() - t)


def gym_pusht_rate(python: str, obs_type: str, size: int, n: int) -> float:
    out = subprocess.run(
        [python, "-c", WORKER, obs_type, str(size), str(n)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gym-pusht-python", required=True, help="interpreter with gym-pusht")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    cases = [("state", 96), ("pixels", 96), ("pixels", 224)]
    print(
        f"python {sys.version.split()[0]}, {args.rounds} alternating rounds of {args.steps} steps"
    )
    print("| obs | wmplan steps/s | gym-pusht steps/s | ratio (median) |")
    print("|---|---|---|---|")
    for obs_type, size in cases:
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(wmplan_rate(obs_type, size, args.steps))
            theirs.append(gym_pusht_rate(args.gym_pusht_python, obs_type, size, args.steps))
        ratio = float(np.median(np.array(ours) / np.array(theirs)))
        label = obs_type if obs_type == "state" else f"pixels {size}"
        print(f"| {label} | {np.median(ours):.0f} | {np.median(theirs):.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
