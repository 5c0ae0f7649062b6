"""Two Pillars, Experiment 1: the spectral cliff.

A flat MLP world model (one-step MSE) and a HELM one (the same plus the spectral Jacobian
penalty) learn the expansive linear system of WMPlan/LinearExpansive-v0. We print their rollout
Jacobian norms ||d z_T / d a_0||_2 at T = 50 beside the paper's and the true system's, and both
models' prediction errors, and save a plot and a JSON file.

Run: python examples/reproduce_spectral_cliff.py [--FIELD VALUE ...]: one option per field of the
settings dataclass (--help lists them); the same as `wmplan reproduce spectral-cliff --threads 2`.
"""

from wmplan_agents.reproduce import script_main

if __name__ == "__main__":
    script_main("spectral-cliff", threads=2)
