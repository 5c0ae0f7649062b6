"""Two Pillars, Experiment 2: funnel creation on a rugged energy landscape.

Gradient descent from many uniform starts on WMPlan/RuggedLandscape-v0's true energy, on a flat
learned energy (regression) and on a HELM one (regression + high-frequency invariance), both the
same MLP with a random Fourier-feature input layer so that regression can fit the ripples. We
print the share of starts that reach the global basin (Wilson 95%) beside the paper's and save a
contour plot of the three landscapes and a JSON file.

Run: python examples/reproduce_funnel.py [--FIELD VALUE ...]: one option per field of the
settings dataclass (--help lists them); the same as `wmplan reproduce funnel --threads 2`.
"""

from wmplan_agents.reproduce import script_main

if __name__ == "__main__":
    script_main("funnel", threads=2)
