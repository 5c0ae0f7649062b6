"""GRASP Tables 3-4: short-horizon open-loop planning (H = 10, 20, 30 env steps) on Push-T,
PointMaze and WallSingle with CEM / LatCo / GD / GRASP.

Prints success (Table 3, Wilson 95%) and median time to success (Table 4) beside the paper's;
saves one plot per env and a JSON file.

Run: python examples/reproduce_grasp_tables34.py [--envs pusht pointmaze wallsingle] [--trials 50]
(the same as `wmplan reproduce grasp-tables34 --threads 1`).
"""

import argparse

import torch

from wmplan_agents.reproduce.grasp_tables34 import GraspTables34Settings, reproduce

defaults = GraspTables34Settings()
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--envs", nargs="+", default=list(defaults.envs))
parser.add_argument("--horizons", type=int, nargs="+", default=list(defaults.horizons))
parser.add_argument("--trials", type=int, default=defaults.n_trials)
parser.add_argument("--seed", type=int, default=defaults.seed)
parser.add_argument("--out", default=None, help="output folder (default outputs/grasp-tables34)")
args = parser.parse_args()

torch.set_num_threads(1)  # small batched models: one thread is fastest on a shared CPU
settings = GraspTables34Settings(
    envs=tuple(args.envs), horizons=tuple(args.horizons), n_trials=args.trials, seed=args.seed
)
result = reproduce(settings, out_dir=args.out, progress=True)
for kind, path in result.files.items():
    print(f"{kind}: {path}")
