"""GRASP Table 2: ablations of GRASP on Push-T at H = 40 (sync steps, state noise, stop-gradient).

Each row changes one switch of the full planner; all rows plan the same problems, open loop, scored
in the real simulator. Prints success (Wilson 95%) and median time to success beside the paper's;
saves a plot and a JSON file.

Run: python examples/reproduce_grasp_table2.py [--trials 50] [--out outputs/grasp-table2]
(the same as `wmplan reproduce grasp-table2 --threads 1`).
"""

import argparse

import torch

from wmplan_agents.reproduce.grasp_table2 import GraspTable2Settings, reproduce

defaults = GraspTable2Settings()
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--env", default=defaults.env)
parser.add_argument("--horizon", type=int, default=defaults.horizon)
parser.add_argument("--trials", type=int, default=defaults.n_trials)
parser.add_argument("--seed", type=int, default=defaults.seed)
parser.add_argument("--out", default=None, help="output folder (default outputs/grasp-table2)")
args = parser.parse_args()

torch.set_num_threads(1)  # small batched models: one thread is fastest on a shared CPU
settings = GraspTable2Settings(
    env=args.env, horizon=args.horizon, n_trials=args.trials, seed=args.seed
)
result = reproduce(settings, out_dir=args.out, progress=True)
print(f"plot: {result.files['plot']}\njson: {result.files['json']}")
