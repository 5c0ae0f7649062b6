"""Two Pillars, Experiments 3-4: stability alone fails, metric alignment fixes it.

On WMPlan/MiniGridEmpty-v0 a gradient planner over relaxed one-hot actions (`gd`) runs in an MPC
loop with an MSE-trained latent model and with a contrastive (InfoNCE) one. We print success
rates (Wilson 95%) and final grid distances to the goal beside the paper's and save a plot and a
JSON file.

Run: python examples/reproduce_minigrid.py [--FIELD VALUE ...]: one option per field of the
settings dataclass (--help lists them); the same as `wmplan reproduce minigrid --threads 2`.
"""

from wmplan_agents.reproduce import script_main

if __name__ == "__main__":
    script_main("minigrid", threads=2)
