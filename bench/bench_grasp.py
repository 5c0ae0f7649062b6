"""Time per iteration against horizon: GRASP vs rollout gradient descent on the same small MLP.

Run: ``python bench/bench_grasp.py``. Prints, for each horizon, the time per iteration of GRASP's
lifted step (one batched model call over B*T rows), of GRASP including its amortised sync
(``sync_steps + 1`` rollouts every ``sync_every`` iterations, paper defaults 25 / 100), and of one
rollout-GD step (forward and backward through the T-step rollout), and their ratios. Both
planners are timed side by side in one process on the same model and problems.
"""

from __future__ import annotations

import time

import gymnasium as gym
import torch

from wmplan_agents import contracts
from wmplan_agents.planners.grasp import GRASP


class MLPModel(torch.nn.Module):
    """A small MLP world model ``z' = z + f(z, a)`` (latent 16, action 4, hidden 128)."""

    action_space = gym.spaces.Box(-1.0, 1.0, (4,))

    def __init__(self, dim: int = 16, hidden: int = 128) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(dim + 4, hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, dim),
        )

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + 0.1 * self.net(torch.cat([z, a], -1))


def time_grasp(model, z0, goal, horizon: int, iterations: int, **kw) -> float:
    planner = GRASP(iterations=iterations, state_noise=0.0, **kw)
    start = time.perf_counter()
    planner.plan(model, z0, goal, horizon)
    return (time.perf_counter() - start) / iterations


def time_rollout_gd(model, z0, goal, horizon: int, iterations: int) -> float:
    a = torch.zeros(z0.shape[0], horizon, 4)
    start = time.perf_counter()
    for _ in range(iterations):
        a.requires_grad_(True)
        loss = contracts.goal_cost(contracts.rollout(model, z0, a), a, goal).sum()
        (g,) = torch.autograd.grad(loss, [a])
        with torch.no_grad():
            a = (a - 0.01 * g).clamp(-1, 1)
    return (time.perf_counter() - start) / iterations


def main(batch: int = 8, iterations: int = 200) -> None:
    torch.set_num_threads(1)
    model = MLPModel()
    for p in model.parameters():
        p.requires_grad_(False)
    z0 = torch.randn(batch, 16, generator=torch.Generator().manual_seed(0))
    goal = torch.randn(batch, 16, generator=torch.Generator().manual_seed(1))
    print(f"B={batch}, {iterations} iterations per measurement, torch threads=1")
    print("H   grasp_lifted_ms  grasp_with_sync_ms  rollout_gd_ms  gd/lifted  gd/with_sync")
    for horizon in (10, 20, 40, 60, 80):
        time_grasp(model, z0, goal, horizon, 5, sync_every=0)  # warm-up
        lifted = time_grasp(model, z0, goal, horizon, iterations, sync_every=0)
        synced = time_grasp(model, z0, goal, horizon, iterations)  # sync 25 steps / 100 its
        gd = time_rollout_gd(model, z0, goal, horizon, iterations)
        print(
            f"{horizon:<3} {1e3 * lifted:15.3f} {1e3 * synced:19.3f} {1e3 * gd:14.3f} "
            f"{gd / lifted:10.1f} {gd / synced:13.2f}"
        )


if __name__ == "__main__":
    main()
