"""PaD on the test suite's 2-D point (``tests/test_pad.py``) on several sets of unseen goals:
the test's model (2,500 updates), closed loop on the true dynamics, 20 start/goal pairs per seed.

    python scripts/pad_point.py --seeds 123 321 5 77 2024
    python scripts/pad_point.py --replan 1 --candidates 32
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_pad import SPEED, _drive, _train

from wmplan_agents.planners.pad import PaD


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[123, 321, 5, 77, 2024])
    parser.add_argument("--updates", type=int, default=2500)
    parser.add_argument("--replan", type=int, default=2, help="env steps between plans (test: 2)")
    parser.add_argument("--candidates", type=int, default=32, help="PaD's n_candidates (test: 32)")
    args = parser.parse_args()
    start = time.perf_counter()
    model, _ = _train(args.updates)  # the tests' model
    print(f"trained {args.updates} updates in {time.perf_counter() - start:.0f} s", flush=True)
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        starts, goals = rng.uniform(-0.8, 0.8, (20, 2)), rng.uniform(-0.8, 0.8, (20, 2))
        finals = _drive(model, PaD(n_candidates=args.candidates), starts, goals, replan=args.replan)
        ratio = np.median(finals) / np.median(np.linalg.norm(starts - goals, axis=1))
        print(f"seed {seed}: {int(np.sum(finals < SPEED))}/20 reached, median final distance "
              f"{100 * ratio:.0f}% of the median start distance", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
