"""Two Pillars, Experiment 2: funnel creation on a rugged energy landscape.

Gradient descent from many uniform starts on WMPlan/RuggedLandscape-v0's true energy, on a flat
learned energy (regression) and on a HELM one (regression + high-frequency invariance), both the
same MLP with a random Fourier-feature input layer so that regression can fit the ripples. We
print the share of starts that reach the global basin (Wilson 95%) beside the paper's and save a
contour plot of the three landscapes and a JSON file.

Run: python examples/reproduce_funnel.py [--n-starts 500] [--out outputs/funnel]
(the same as `wmplan reproduce funnel`).
"""

import argparse

import torch

from wmplan_agents.reproduce.funnel import FunnelSettings, reproduce

defaults = FunnelSettings()
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-samples", type=int, default=defaults.data_samples)
parser.add_argument("--fourier-features", type=int, default=defaults.fourier_features)
parser.add_argument("--fourier-scale", type=float, default=defaults.fourier_scale)
parser.add_argument("--epochs", type=int, default=defaults.epochs)
parser.add_argument("--hf-weight", type=float, default=defaults.hf_weight)
parser.add_argument("--hf-sigma", type=float, default=defaults.hf_sigma)
parser.add_argument("--n-starts", type=int, default=defaults.n_starts)
parser.add_argument("--gd-steps", type=int, default=defaults.gd_steps)
parser.add_argument("--seed", type=int, default=defaults.seed)
parser.add_argument("--out", default=None, help="output folder (default outputs/funnel)")
args = parser.parse_args()

torch.set_num_threads(2)
settings = FunnelSettings(
    data_samples=args.data_samples,
    fourier_features=args.fourier_features,
    fourier_scale=args.fourier_scale,
    epochs=args.epochs,
    hf_weight=args.hf_weight,
    hf_sigma=args.hf_sigma,
    n_starts=args.n_starts,
    gd_steps=args.gd_steps,
    seed=args.seed,
)
result = reproduce(settings, out_dir=args.out, progress=True)
print(f"plot: {result.files['plot']}\njson: {result.files['json']}")
