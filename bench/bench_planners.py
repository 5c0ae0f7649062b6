"""Planner overhead and a side-by-side with pytorch-mppi (not a test; writes nothing).

Overhead of a planner = wall time of one ``plan`` / wall time of the same model evaluations done
as bare batched ``step`` calls (same rows, same number of calls, random actions, no planner).
The GD row's bare baseline is the same rollouts with a backward pass. The two are timed in
alternation, ``--repeats`` times each; the overhead column is the ratio of the fastest runs
(the least disturbed by other work on the machine, as ``timeit`` advises), the last column the
ratio of the medians.

    python bench/bench_planners.py            # 300 samples x horizon 30 x 30 iterations

The pytorch-mppi comparison needs ``pip install pytorch-mppi`` (benchmark only); it is skipped if
the package is missing. Both MPPIs run 30 iterations of 300 samples over horizon 30 on the same
MLP (pytorch-mppi: 30 ``command`` calls without shifting, i.e. 30 refinements of one plan).
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from wmplan_agents.contracts import goal_cost
from wmplan_agents.planners import make_planner


class MLPModel(nn.Module):
    """A small residual MLP world model: ``z' = z + f([z, a])``."""

    def __init__(self, d: int = 16, a: int = 2, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d + a, hidden), nn.Tanh(), nn.Linear(hidden, d))
        self.action_space = gym.spaces.Box(-1.0, 1.0, (a,), dtype=np.float32)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + self.net(torch.cat([z, a], dim=-1))


def bare_rollouts(model: MLPModel, rows: list[int], h: int, d: int, grad: bool = False) -> float:
    """Wall time of ``len(rows)`` rollouts of ``h`` batched steps over ``rows[i]`` rows."""
    a_dim = model.action_space.shape[0]
    start = time.perf_counter()
    for n in rows:
        z = torch.zeros(n, d, requires_grad=grad)
        acts = torch.rand(n, h, a_dim, requires_grad=grad)
        with torch.set_grad_enabled(grad):
            zt = z
            for t in range(h):
                zt = model.step(zt, acts[:, t])
            if grad:
                zt.square().sum().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument(
        "--full-trajectory",
        action="store_true",
        help="pass the goal cost as a user cost, so planners keep and stack every latent "
        "(the default cost with a model without rollout keeps only the final one)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    n, h, iters, d = args.samples, args.horizon, args.iterations, args.dim
    model = MLPModel(d)
    for p in model.parameters():
        p.requires_grad_(False)
    z0, goal = torch.zeros(1, d), torch.ones(1, d)
    planners = {
        "cem": {"n_samples": n, "n_elites": 30, "iterations": iters},
        "icem": {"n_samples": n, "n_elites": 30, "iterations": iters},
        "mppi": {"n_samples": n, "iterations": iters},
        "random": {"n_samples": n, "iterations": iters},
        "gd": {"n_restarts": n, "iterations": iters},
    }
    cost = (lambda zt, a, g: goal_cost(zt, a, g)) if args.full_trajectory else None
    print(f"{n} samples x horizon {h} x {iters} iterations, MLP {d}+2 -> 64 -> {d}, 1 thread")
    print(f"{'planner':8s} {'plan s':>8s} {'bare s':>8s} {'overhead':>9s} {'(medians)':>9s}")
    for name, kw in planners.items():
        planner = make_planner(name, seed=0, **kw)
        res = planner.plan(model, z0, goal, horizon=h, cost=cost)  # warm-up; gives populations
        rows = res.info.get("population", [n] * iters)
        plan_s, bare_s = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            start = time.perf_counter()
            planner.plan(model, z0, goal, horizon=h, cost=cost)
            plan_s.append(time.perf_counter() - start)
            bare_s.append(bare_rollouts(model, rows, h, d, grad=name == "gd"))
        p_min, b_min = min(plan_s), min(bare_s)
        p_med, b_med = statistics.median(plan_s), statistics.median(bare_s)
        print(f"{name:8s} {p_min:8.4f} {b_min:8.4f} {p_min / b_min:9.3f} {p_med / b_med:9.3f}")

    try:
        from pytorch_mppi import MPPI as TorchMPPI
    except ImportError:
        print("pytorch-mppi not installed: skipping the side-by-side (pip install pytorch-mppi)")
        return
    goal_vec = goal[0]

    def running_cost(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return torch.zeros(state.shape[0])

    def terminal_cost(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return ((states[..., -1, :] - goal_vec) ** 2).sum(-1).reshape(-1)

    theirs = TorchMPPI(
        model.step,
        running_cost,
        d,
        noise_sigma=torch.eye(2) * 0.2**2,
        num_samples=n,
        horizon=h,
        lambda_=1.0,
        u_min=-torch.ones(2),
        u_max=torch.ones(2),
        terminal_state_cost=terminal_cost,
    )
    ours = make_planner("mppi", seed=0, n_samples=n, iterations=iters)

    def run_theirs() -> float:
        theirs.reset()
        start = time.perf_counter()
        for _ in range(iters):
            theirs.command(z0[0], shift_nominal_trajectory=False)
        return time.perf_counter() - start

    def run_ours() -> float:
        start = time.perf_counter()
        ours.plan(model, z0, goal, horizon=h)
        return time.perf_counter() - start

    run_theirs(), run_ours()
    t_ours, t_theirs = [], []
    for _ in range(args.repeats):
        t_ours.append(run_ours())
        t_theirs.append(run_theirs())
    o, t = min(t_ours), min(t_theirs)
    ratio_med = statistics.median(t_ours) / statistics.median(t_theirs)
    print(
        f"MPPI side by side: ours {o:.4f} s, pytorch-mppi {t:.4f} s (fastest runs), "
        f"ours / theirs = {o / t:.3f} (medians: {ratio_med:.3f})"
    )


if __name__ == "__main__":
    main()
