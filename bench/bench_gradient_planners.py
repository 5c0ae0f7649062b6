"""Overhead of the gradient planners (GRASP, LatCo, GD) over the model calls they make.

Overhead = wall time of one ``plan`` / wall time of the same model work done bare: the same
batched ``step`` calls on the same numbers of rows, each followed by the backward pass the
planner takes through it, with no planner logic around them. The bare baselines mirror each
planner's calls at its settings:

* GRASP: per iteration one ``step`` over ``B*T`` rows and its backward; every 10 iterations the
  exact ``diag(J_a^T J_a)`` (a backward pass that keeps its graph and one double-backward per
  action dimension); per sync ``sync_steps + 1`` rollouts with a backward pass, and one
  rollout to score the synced plan; two rollouts for the final plan.
* LatCo: per iteration one ``step`` over ``B*T`` rows and its backward (to actions and
  states); every 10 iterations ``diag(J^T J)`` for actions and states; every ``eval_every``
  iterations one rollout; ``refine_steps + 1`` rollouts with a backward pass; one final rollout.
* GD: per iteration one rollout over ``B * n_restarts`` rows with a backward pass; the final
  scoring rollouts.

Both are timed in alternation ``--repeats`` times; the ratio of the fastest runs and of the
medians are printed (as in ``bench_planners.py``).

    python bench/bench_gradient_planners.py                 # B = 1, H = 30, the registry presets
    python bench/bench_gradient_planners.py --batch 16 --dim 64
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.bench_planners import MLPModel
from registry.planners import PLANNERS
from wmplan_agents.planners import _lifted, make_planner


def _rollout(model, z0, a, grad):
    with torch.set_grad_enabled(grad):
        z = z0
        for t in range(a.shape[1]):
            z = model.step(z, a[:, t])
        if grad:
            torch.autograd.grad(z.square().sum(), [a])


def bare_grasp(model, b, h, d, a_dim, kw):
    iters = kw["iterations"]
    sync_every, sync_steps = kw.get("sync_every", 100), kw.get("sync_steps", 25)
    z0 = torch.zeros(b, d)
    start = time.perf_counter()
    for k in range(iters):
        prev = torch.rand(b * h, d)
        a = torch.rand(b * h, a_dim, requires_grad=True)
        s = torch.rand(b, h - 1, d, requires_grad=True)
        pred = model.step(prev, a).reshape(b, h, d)
        nxt = torch.cat([s, torch.zeros(b, 1, d)], 1)
        torch.autograd.grad(((pred - nxt) ** 2).sum(), [a, s])
        if k % 10 == 0:
            _lifted.jacobian_diag(model, prev.reshape(b, h, d), a.detach().reshape(b, h, a_dim))
        if sync_every and (k + 1) % sync_every == 0:
            for _ in range(sync_steps + 1):
                _rollout(model, z0, torch.rand(b, h, a_dim, requires_grad=True), True)
            _rollout(model, z0, torch.rand(b, h, a_dim), False)
    for _ in range(2):
        _rollout(model, z0, torch.rand(b, h, a_dim), False)
    return time.perf_counter() - start


def bare_latco(model, b, h, d, a_dim, kw):
    iters, every = kw["iterations"], kw.get("eval_every", 10)
    z0 = torch.zeros(b, d)
    start = time.perf_counter()
    for k in range(iters + 1):
        if k % every == 0 or k == iters:
            _rollout(model, z0, torch.rand(b, h, a_dim), False)
        if k == iters:
            break
        s = torch.rand(b, h - 1, d, requires_grad=True)
        a = torch.rand(b * h, a_dim, requires_grad=True)
        prev = torch.cat([z0[:, None], s], 1).reshape(b * h, d)
        pred = model.step(prev, a).reshape(b, h, d)
        torch.autograd.grad((pred**2).sum(), [a, s])
        if k % 10 == 0:
            _lifted.jacobian_diag(
                model, prev.detach().reshape(b, h, d), a.detach().reshape(b, h, a_dim),
                wrt_states=True,
            )  # fmt: skip
    for _ in range(kw.get("refine_steps", 50) + 1):
        _rollout(model, z0, torch.rand(b, h, a_dim, requires_grad=True), True)
    _rollout(model, z0, torch.rand(b, h, a_dim), False)
    return time.perf_counter() - start


def bare_gd(model, b, h, d, a_dim, kw):
    rows = b * kw["n_restarts"]
    start = time.perf_counter()
    for _ in range(kw["iterations"]):
        _rollout(model, torch.zeros(rows, d), torch.rand(rows, h, a_dim, requires_grad=True), True)
    for _ in range(2):
        _rollout(model, torch.zeros(rows, d), torch.rand(rows, h, a_dim), False)
    return time.perf_counter() - start


BARE = {"grasp": bare_grasp, "latco": bare_latco, "gd": bare_gd}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--planners", nargs="*", default=list(BARE))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    b, h, d = args.batch, args.horizon, args.dim
    model = MLPModel(d)
    for p in model.parameters():
        p.requires_grad_(False)
    a_dim = model.action_space.shape[0]
    z0, goal = torch.zeros(b, d), torch.ones(b, d)
    print(f"B = {b}, horizon {h}, MLP {d}+{a_dim} -> 64 -> {d}, registry presets, 1 thread")
    print(f"{'planner':8s} {'plan s':>8s} {'bare s':>8s} {'overhead':>9s} {'(medians)':>9s}")
    for name in args.planners:
        kw = dict(PLANNERS[name].kwargs)
        planner = make_planner(name, seed=0, **kw)
        planner.plan(model, z0, goal, horizon=h)  # warm-up
        plan_s, bare_s = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            start = time.perf_counter()
            planner.plan(model, z0, goal, horizon=h)
            plan_s.append(time.perf_counter() - start)
            bare_s.append(BARE[name](model, b, h, d, a_dim, kw))
        p_min, b_min = min(plan_s), min(bare_s)
        p_med, b_med = statistics.median(plan_s), statistics.median(bare_s)
        print(f"{name:8s} {p_min:8.4f} {b_min:8.4f} {p_min / b_min:9.3f} {p_med / b_med:9.3f}")


if __name__ == "__main__":
    main()
