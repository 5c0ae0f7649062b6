"""GRASP Table 1: open-loop long-horizon Push-T (H = 40..80 env steps), CEM / LatCo / GD / GRASP.

Plans the same problems with each planner using the shipped Push-T model, executes every plan open
loop in the real simulator, and prints success (Wilson 95%) and median time to success beside the
paper's; saves a plot and a JSON file.

Run: python examples/reproduce_grasp_table1.py [--trials 50] [--out outputs/grasp-table1]
(the same as `wmplan reproduce grasp-table1 --threads 1`).
"""

import argparse

import torch

from wmplan_agents.reproduce.grasp_table1 import GraspTable1Settings, reproduce

defaults = GraspTable1Settings()
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--env", default=defaults.env)
parser.add_argument("--horizons", type=int, nargs="+", default=list(defaults.horizons))
parser.add_argument("--trials", type=int, default=defaults.n_trials)
parser.add_argument("--seed", type=int, default=defaults.seed)
parser.add_argument("--out", default=None, help="output folder (default outputs/grasp-table1)")
args = parser.parse_args()

torch.set_num_threads(1)  # small batched models: one thread is fastest on a shared CPU
settings = GraspTable1Settings(
    env=args.env, horizons=tuple(args.horizons), n_trials=args.trials, seed=args.seed
)
result = reproduce(settings, out_dir=args.out, progress=True)
print(f"plot: {result.files['plot']}\njson: {result.files['json']}")
