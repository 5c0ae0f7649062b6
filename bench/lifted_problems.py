"""Every gradient and sampling planner by name alone on the exactly solvable problems of
``wmplan_agents.problems``: median (max) final distance as a fraction of the starting distance.

    python -m bench.lifted_problems                 # held-out seeds (1001..), 8 problems each
    python -m bench.lifted_problems --seed 0        # the seeds the defaults were chosen on
"""

from __future__ import annotations

import argparse

import torch

from registry.planners import PLANNERS
from wmplan_agents import problems
from wmplan_agents.planners import make_planner


def problem_sets(seed: int, n: int) -> list[tuple[problems.ProblemSet, float]]:
    """(problem set, target median) of the GRASP/LatCo defaults; seeds ``seed + i``."""
    return [
        (problems.double_integrator(n, 20, seed=seed), 0.02),
        (problems.linear_system(n, 60, seed=seed + 1, system_seed=seed + 1), 0.02),
        (problems.linear_system(n, 100, seed=seed + 2, system_seed=seed + 2), 0.02),
        (problems.linear_expansive(n, 50, seed=seed + 3), 0.02),
        (problems.linear_expansive(n, 80, seed=seed + 4), 0.02),
        (problems.tanh_mlp(n, 40, seed=seed + 5, system_seed=seed + 5), 0.05),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1001)
    parser.add_argument("-n", type=int, default=8)
    parser.add_argument("--planners", nargs="*", default=["grasp", "latco", "cem", "gd"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| problems | target | " + " | ".join(args.planners) + " |")
    print("|---|---|" + "---|" * len(args.planners))
    for ps, target in problem_sets(args.seed, args.n):
        row = []
        for name in args.planners:
            result = make_planner(name, **PLANNERS[name].kwargs).plan(
                ps.model, ps.z0, ps.goal, ps.horizon
            )
            assert float(result.actions.abs().max()) <= 1.0
            err = problems.relative_error(ps, result.actions)
            row.append(f"{float(err.median()):.2g} ({float(err.max()):.2g})")
        print(f"| {ps.name} | {target:g} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
