"""Two Pillars, Experiments 3-4: stability alone fails, metric alignment fixes it (MiniGrid).

Two latent world models are trained on the same uniform-random transitions of
``WMPlan/MiniGridEmpty-v0`` (8x8, fully observed one-hot state, actions left/right/forward):

* **MSE** (Exp. 3): :class:`~wmplan_agents.models.MLPDynamics` trained with one-step prediction
  MSE. Its latent is the one-hot state itself, on which every pair of cells is equally far
  apart (``sqrt(2)``), so a latent goal distance says nothing about the direction to the goal.
* **Contrastive** (Exp. 4): :class:`~wmplan_agents.models.ContrastiveEncoder`, an encoder
  trained with InfoNCE between ``z_t`` and ``z_{t+1}`` plus a latent predictor (one-step MSE),
  so latent distance follows the grid's transition graph.

Both are planned with the same gradient planner over relaxed one-hot actions (``gd``: Adam on
softmax logits through the rollout, rounded at the end) inside the same MPC loop, from random
start cells and directions (``random_start=True``, one reset seed per episode), and from the
paper's fixed start (top-left, facing east; one deterministic episode). We report success
(Wilson 95%) and the final Euclidean grid distance of the agent to the goal cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from wmplan_agents.reproduce.common import (
    check_positive,
    comparison_table,
    format_rate,
    output_dir,
    publish,
    pyplot,
    save_figure,
    spearman,
    wilson_interval,
)

PAPER = {
    "mse_success": 0.0,
    "contrastive_success": 1.0,
    "mse_final_distance": 7.0,
    "contrastive_final_distance": 0.0,
}
MODELS = ("mse", "contrastive")
ENV_ID = "WMPlan/MiniGridEmpty-v0"


@dataclass(frozen=True)
class MiniGridSettings:
    """Sizes and budgets of Experiments 3-4 (defaults: the full-size run)."""

    data_steps: int = 6000
    data_episode_steps: int = 64
    mse_epochs: int = 10
    contrastive_epochs: int = 30
    latent_dim: int = 16
    tau: float = 0.1
    horizon: int = 12
    replan_every: int = 2
    gd_iterations: int = 50
    gd_restarts: int = 8
    gd_lr: float = 0.3
    dense_cost: bool = True
    n_episodes: int = 50
    max_episode_steps: int = 40
    episode_seed: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive(data_steps=self.data_steps, mse_epochs=self.mse_epochs)
        check_positive(contrastive_epochs=self.contrastive_epochs, horizon=self.horizon)
        check_positive(replan_every=self.replan_every, gd_iterations=self.gd_iterations)
        check_positive(n_episodes=self.n_episodes, max_episode_steps=self.max_episode_steps)
        if self.replan_every > self.horizon:
            raise ValueError(
                f"replan_every ({self.replan_every}) must not exceed horizon ({self.horizon})"
            )


@dataclass
class MiniGridResult:
    """Per model: random-start episodes (success, final distance) and the fixed-start one."""

    settings: MiniGridSettings
    n_episodes: int
    successes: dict[str, int]
    success_interval: dict[str, tuple[float, float]]
    final_distance: dict[str, list[float]]  # Euclidean grid distance to the goal, per episode
    start_distance: list[float]
    fixed_start_success: dict[str, bool]
    fixed_start_distance: dict[str, float]
    latent_grid_spearman: dict[str, float]
    files: dict[str, str] = field(default_factory=dict)

    def mean_distance(self, name: str) -> float:
        return float(np.mean(self.final_distance[name]))


def train_models(s: MiniGridSettings, progress: bool = False) -> dict[str, Any]:
    """Collect uniform-random data and train the MSE and the contrastive model."""
    import wmplan_envs  # noqa: F401
    from wmplan_agents.data import collect
    from wmplan_agents.models import ContrastiveEncoder, MLPDynamics
    from wmplan_agents.objectives import Prediction
    from wmplan_agents.training import train

    env = gym.make(
        ENV_ID,
        random_start=True,
        terminate_on_success=False,
        max_episode_steps=s.data_episode_steps,
    )
    data = collect(env, "uniform", s.data_steps, seed=s.seed, progress=progress)
    env.close()
    obs_dim = data.obs_shape[0]
    mse = MLPDynamics(obs_dim, data.action_space, hidden=64, depth=2, seed=s.seed)
    train(mse, data, Prediction(horizon=1), epochs=s.mse_epochs, seed=s.seed, progress=progress)
    contrastive = ContrastiveEncoder(
        obs_dim, data.action_space, latent_dim=s.latent_dim, tau=s.tau, seed=s.seed
    )
    train(contrastive, data, epochs=s.contrastive_epochs, seed=s.seed, progress=progress)
    return {"mse": mse, "contrastive": contrastive}


def latent_grid_spearman(model: Any) -> float:
    """Rank correlation between latent distance and Manhattan grid distance over all pairs of
    (cell, direction) states: how well the latent metric follows the grid."""
    env = gym.make(ENV_ID).unwrapped
    inner = env.size - 2
    cells = [(x, y) for y in range(1, inner + 1) for x in range(1, inner + 1)]
    states = np.stack([env.state_vector(c, d) for c in cells for d in range(4)])
    pos = np.array([c for c in cells for _ in range(4)])
    dist = np.abs(pos[:, None] - pos[None]).sum(-1)
    with torch.no_grad():
        z = model.encode(torch.as_tensor(states, dtype=torch.float32))
    latent = torch.cdist(z, z).numpy()
    iu = np.triu_indices(len(states), 1)
    return spearman(latent[iu], dist[iu])


def run_episodes(
    model: Any, s: MiniGridSettings, seeds: list[int], random_start: bool
) -> tuple[list[bool], list[float], list[float]]:
    """One MPC episode per seed, all planned together in one batch per step:
    ``(success, final distance, start distance)`` per episode."""
    import wmplan_envs  # noqa: F401
    from wmplan_agents.agent import MPCAgent
    from wmplan_agents.contracts import dense_goal_cost
    from wmplan_agents.planners import make_planner

    planner = make_planner(
        "gd", iterations=s.gd_iterations, n_restarts=s.gd_restarts, lr=s.gd_lr, seed=s.seed
    )
    agent = MPCAgent(
        model,
        planner,
        horizon=s.horizon,
        replan_every=s.replan_every,
        cost=dense_goal_cost if s.dense_cost else None,
    )
    envs = [gym.make(ENV_ID, random_start=random_start).unwrapped for _ in seeds]
    obs, goal = [], []
    for env, seed in zip(envs, seeds, strict=True):
        o, _ = env.reset(seed=seed)
        obs.append(o["observation"])
        goal.append(o["desired_goal"])
    goal_cell = np.asarray(envs[0].goal_cell, dtype=np.float64)

    def distance(env: Any) -> float:
        return float(np.linalg.norm(np.asarray(env.wrapped.agent_pos) - goal_cell))

    start_distance = [distance(env) for env in envs]
    done = np.zeros(len(envs), dtype=bool)
    success = np.zeros(len(envs), dtype=bool)
    first = np.ones(len(envs), dtype=bool)
    for _ in range(s.max_episode_steps):
        batch = {"observation": np.stack(obs), "desired_goal": np.stack(goal)}
        actions, _ = agent.predict(batch, episode_start=first)
        first[:] = False
        for i, env in enumerate(envs):
            if done[i]:
                continue
            o, _, terminated, _, info = env.step(int(actions[i]))
            obs[i] = o["observation"]
            success[i] = info["is_success"]
            done[i] = terminated
        if done.all():
            break
    final = [distance(env) for env in envs]
    return success.tolist(), final, start_distance


def run(s: MiniGridSettings, progress: bool = False) -> MiniGridResult:
    models = train_models(s, progress)
    seeds = [s.episode_seed + j for j in range(s.n_episodes)]
    successes, interval, final, fixed_ok, fixed_d, rho = {}, {}, {}, {}, {}, {}
    start: list[float] = []
    for name in MODELS:
        ok, dist, start = run_episodes(models[name], s, seeds, random_start=True)
        successes[name] = int(np.sum(ok))
        interval[name] = wilson_interval(successes[name], s.n_episodes)
        final[name] = dist
        f_ok, f_dist, _ = run_episodes(models[name], s, [s.episode_seed], random_start=False)
        fixed_ok[name], fixed_d[name] = bool(f_ok[0]), f_dist[0]
        rho[name] = latent_grid_spearman(models[name])
    return MiniGridResult(
        s, s.n_episodes, successes, interval, final, start, fixed_ok, fixed_d, rho
    )


def table(result: MiniGridResult) -> str:
    n = result.n_episodes
    rows = []
    for name, label in (("mse", "MSE latent"), ("contrastive", "contrastive")):
        rows += [
            (
                f"{label}: success, {n} random starts",
                format_rate(result.successes[name], n),
                f"{100 * PAPER[f'{name}_success']:.0f}%",
            ),
            (
                f"{label}: mean final distance, random starts",
                f"{result.mean_distance(name):.2f}",
                f"{PAPER[f'{name}_final_distance']:.1f}",
            ),
            (
                f"{label}: fixed start (1,1): success / final distance",
                f"{result.fixed_start_success[name]} / {result.fixed_start_distance[name]:.2f}",
                f"{PAPER[f'{name}_final_distance']:.1f}",
            ),
            (
                f"{label}: Spearman(latent dist, grid dist)",
                f"{result.latent_grid_spearman[name]:.2f}",
                "not reported",
            ),
        ]
    rows.append(("mean start distance, random starts", f"{np.mean(result.start_distance):.2f}", ""))
    return comparison_table(
        rows,
        title="Two Pillars Exp. 3-4: gradient planning on MiniGrid-Empty-8x8, Wilson 95% in []",
    )


def plot(result: MiniGridResult, path: Path) -> Path:
    """Success rates with Wilson intervals and final-distance histograms of both models."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    labels = ["MSE latent", "contrastive"]
    rates = [result.successes[m] / result.n_episodes for m in MODELS]
    err = np.array(
        [
            [r - result.success_interval[m][0], result.success_interval[m][1] - r]
            for r, m in zip(rates, MODELS, strict=True)
        ]
    ).T
    ax1.bar(labels, rates, yerr=err, capsize=6, color=["tab:red", "tab:green"])
    ax1.set_ylim(0, 1.05)
    ax1.set_ylabel(f"success rate ({result.n_episodes} episodes, Wilson 95%)")
    bins = np.linspace(0, 10, 21)
    ax2.hist(result.start_distance, bins=bins, alpha=0.4, color="grey", label="start")
    for m, label, c in zip(MODELS, labels, ("tab:red", "tab:green"), strict=True):
        ax2.hist(result.final_distance[m], bins=bins, alpha=0.6, color=c, label=label)
    ax2.set_xlabel("final Euclidean grid distance to the goal")
    ax2.set_ylabel("episodes")
    ax2.legend()
    return save_figure(fig, path)


def reproduce(
    settings: MiniGridSettings | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
    echo: Any = print,
) -> MiniGridResult:
    """Run, print the table, save ``minigrid.png`` and ``minigrid.json``."""
    s = settings or MiniGridSettings()
    out = output_dir("minigrid", out_dir)
    result = run(s, progress)
    result.files["plot"] = str(plot(result, out / "minigrid.png"))
    publish(result, out / "minigrid.json", PAPER, table(result), echo)
    return result
