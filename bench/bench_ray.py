"""Speedup of Ray workers on one GRASP table cell: ``workers=2`` against ``workers=1``.

The cell is one planner at one horizon of a GRASP table (default: GRASP at its table budget,
Push-T, H = 20 env steps, 100 trials planned in blocks of 50, rungs at 1/4, 1/2 and all of
the iterations), run with :func:`wmplan_agents.reproduce.open_loop.run_cells`. Serial and Ray
runs alternate ``--repeats`` times in one process; a local Ray is started (and warmed up by
one untimed run) before any timing, so the ratio is of the work, and Ray's start-up is printed
on its own. The serial run uses one torch thread, as each worker does. Both runs must give the
same outcomes; the script checks it.

    python bench/bench_ray.py                       # GRASP, Push-T H=20, 100 trials
    python bench/bench_ray.py --planner cem --trials 200 --batch 50
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from wmplan_agents.reproduce.grasp_common import PlannerBudgets, load_model, preset_kwargs
from wmplan_agents.reproduce.open_loop import CellJob, make_problems, run_cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="pusht")
    parser.add_argument("--planner", default="grasp")
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import ray

    torch.set_num_threads(1)
    labels = PlannerBudgets(planners=(args.planner,)).planner_kwargs()
    (name, budget), = labels.values()  # fmt: skip
    kwargs = preset_kwargs(name, args.env, budget)
    model = load_model(args.env)
    problems = make_problems(args.env, args.horizon, [5000 + i for i in range(args.trials)])
    job = CellJob(model, problems, name, kwargs, (0.25, 0.5, 1.0), 0, name, args.batch)
    start = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter() - start
    run_cells([job], workers=args.workers)  # warm-up: worker processes, imports
    serial_s, ray_s = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        (one,) = run_cells([job])
        serial_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        (many,) = run_cells([job], workers=args.workers)
        ray_s.append(time.perf_counter() - t)
        if one.success != many.success or one.planned_cost != many.planned_cost:
            raise SystemExit("the Ray run's outcomes differ from the serial run's")
    print(
        f"{args.planner} on {args.env} H={args.horizon}: {args.trials} trials in blocks of "
        f"{args.batch}, {one.successes}/{one.n} successes, iterations {one.iterations}"
    )
    print(f"Ray start-up (local, {args.workers} CPUs): {started:.1f} s, not in the times below")
    print(f"{'':10s} {'best s':>8s} {'median s':>9s}")
    print(f"{'serial':10s} {min(serial_s):8.2f} {statistics.median(serial_s):9.2f}")
    print(f"{'workers=' + str(args.workers):10s} {min(ray_s):8.2f} {statistics.median(ray_s):9.2f}")
    print(
        f"speedup: {min(serial_s) / min(ray_s):.2f}x (best), "
        f"{statistics.median(serial_s) / statistics.median(ray_s):.2f}x (medians)"
    )
    ray.shutdown()


if __name__ == "__main__":
    main()
