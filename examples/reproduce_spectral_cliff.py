"""Two Pillars, Experiment 1: the spectral cliff.

A flat MLP world model (one-step MSE) and a HELM one (the same plus the spectral Jacobian
penalty) learn the expansive linear system of WMPlan/LinearExpansive-v0. We print their rollout
Jacobian norms ||d z_T / d a_0||_2 at T = 50 beside the paper's and the true system's, and both
models' prediction errors, and save a plot and a JSON file.

Run: python examples/reproduce_spectral_cliff.py [--epochs 40] [--out outputs/spectral-cliff]
(the same as `wmplan reproduce spectral-cliff`).
"""

import argparse

import torch

from wmplan_agents.reproduce.spectral_cliff import SpectralCliffSettings, reproduce

defaults = SpectralCliffSettings()
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-steps", type=int, default=defaults.data_steps)
parser.add_argument("--epochs", type=int, default=defaults.epochs)
parser.add_argument("--spectral-weight", type=float, default=defaults.spectral_weight)
parser.add_argument("--max-horizon", type=int, default=defaults.max_horizon)
parser.add_argument("--seed", type=int, default=defaults.seed)
parser.add_argument("--out", default=None, help="output folder (default outputs/spectral-cliff)")
args = parser.parse_args()

torch.set_num_threads(2)
settings = SpectralCliffSettings(
    data_steps=args.data_steps,
    epochs=args.epochs,
    spectral_weight=args.spectral_weight,
    max_horizon=args.max_horizon,
    seed=args.seed,
)
result = reproduce(settings, out_dir=args.out, progress=True)
print(f"plot: {result.files['plot']}\njson: {result.files['json']}")
