"""The long-horizon, non-greedy benchmark: every planner on the detour families
(``wmplan_agents.compare``), open loop at a ladder of budgets and closed loop, with plots.

    python -m bench.long_horizon --out results/long_horizon                      # all families
    python -m bench.long_horizon --families wall-detour --horizons 50 --trials 20
    python -m bench.long_horizon --families maze-arms
    python -m bench.long_horizon --families pusht-around pusht-around-pixels
    python -m bench.long_horizon --families wall-detour-latent --closed-loop-only --planners CEM

Writes ``<family>.md`` (the tables), ``<family>.json`` (every cell) and ``<family>.png`` (success
against time and against model evaluations) per family.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from registry.catalogue import GRASP_WALL_FRAMESKIP
from wmplan_agents import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="*", default=list(compare.FAMILIES))
    parser.add_argument("--horizons", nargs="*", type=int, default=None)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--planners", nargs="*", default=None, help="labels to run (default all)")
    parser.add_argument("--no-closed-loop", action="store_true")
    parser.add_argument("--closed-loop-only", action="store_true")
    parser.add_argument("--replan-every", type=int, default=2, help="model steps, closed loop")
    parser.add_argument("--out", type=Path, default=Path("results/long_horizon"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for family in args.families:
        planners = dict(compare.DEFAULT_PLANNERS)
        if family in ("wall-detour", "wall-detour-wide"):  # the door recipe (pixel-scale noise)
            planners["GRASP (door recipe)"] = ("grasp", dict(GRASP_WALL_FRAMESKIP))
        if args.planners:
            planners = {k: v for k, v in planners.items() if k in args.planners}
        result = compare.compare(
            family,
            tuple(args.horizons or compare.DEFAULT_HORIZONS[family]),
            planners,
            n_trials=args.trials,
            closed_loop=not args.no_closed_loop,
            open_loop=not args.closed_loop_only,
            replan_every=args.replan_every,
            echo=lambda line: print(line, flush=True),
        )
        text = "\n".join(compare.report(result))
        print(text, flush=True)
        (args.out / f"{family}.md").write_text(text + "\n")
        cells = [dataclasses.asdict(c) for c in result.cells]
        closed = [dataclasses.asdict(c) for c in result.closed]
        (args.out / f"{family}.json").write_text(json.dumps({"cells": cells, "closed": closed}))
        if result.cells:  # the plot shows the open-loop ladder
            compare.plot(result, args.out / f"{family}.png")


if __name__ == "__main__":
    main()
