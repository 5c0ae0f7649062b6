"""Two Pillars, Experiments 3-4: stability alone fails, metric alignment fixes it (MiniGrid).

Four latent world models, a 2 x 2 of {MSE, HELM} x {no alignment, contrastive}, are trained on
the same uniform-random transitions of ``WMPlan/MiniGridEmpty-v0`` (8x8, fully observed one-hot
state, actions left/right/forward):

* **MSE**: :class:`~wmplan_agents.models.MLPDynamics` trained with one-step prediction MSE. Its
  latent is the one-hot state itself, on which every pair of cells is equally far apart
  (``sqrt(2)``), so a latent goal distance says nothing about the direction to the goal.
* **HELM** (the paper's Exp. 3, HELM without alignment): the same with HELM's spectral penalty
  (``spectral_weight * SpectralReg``).
* **Contrastive**: :class:`~wmplan_agents.models.ContrastiveEncoder`, an encoder trained with
  InfoNCE between ``z_t`` and ``z_{t+1}`` plus a latent predictor (one-step MSE), so latent
  distance follows the grid's transition graph.
* **HELM + contrastive** (the paper's Exp. 4): the contrastive model with the spectral penalty
  on its predictor.

HELM's coarse level is not used here: the task is 6-14 steps long, within one fine horizon.
All four are planned with the same gradient planner over relaxed one-hot actions (``gd``: Adam on
softmax logits through the rollout, rounded at the end) inside the same MPC loop, from random
start cells and directions (``random_start=True``, one reset seed per episode), and from the
paper's fixed start (top-left, facing east; one deterministic episode). We report success
(Wilson 95%) and the final Euclidean grid distance of the agent to the goal cell; CEM in the
same loop is the planner control (it needs no gradient). Along GD's planning we record the
gradient statistics that would show "unstable gradients": the median gradient norm, its
spread across the restarts of one plan (coefficient of variation, averaged), the number of
non-finite gradients or costs, and of explosions (norm above ``explosion_norm``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from wmplan_agents.contracts import WorldModel
from wmplan_agents.reproduce.common import (
    RunOptions,
    check_positive,
    comparison_table,
    format_rate,
    publish,
    pyplot,
    save_figure,
    spearman,
    wilson_interval,
)

PAPER = {  # Exp. 3 is HELM without alignment, Exp. 4 HELM with contrastive alignment
    "helm_success": 0.0,
    "helm+contrastive_success": 1.0,
    "helm_final_distance": 7.0,
    "helm+contrastive_final_distance": 0.0,
}
MODELS = ("mse", "helm", "contrastive", "helm+contrastive")
LABELS = {
    "mse": "MSE latent",
    "helm": "HELM (MSE + spectral)",
    "contrastive": "contrastive",
    "helm+contrastive": "HELM + contrastive",
}
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
    spectral_weight: float = 1e-3
    cem_control: bool = True
    explosion_norm: float = 1e3
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
    cem_successes: dict[str, int] = field(default_factory=dict)  # the planner control
    cem_final_distance: dict[str, list[float]] = field(default_factory=dict)
    # GD along planning: median norm, mean coefficient of variation across restarts,
    # non-finite count, explosions (norm > explosion_norm)
    grad_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def mean_distance(self, name: str) -> float:
        return float(np.mean(self.final_distance[name]))


def collect_data(s: MiniGridSettings, progress: bool = False) -> Any:
    """Uniform-random transitions from random starts (every arm trains on the same data)."""
    import wmplan_envs  # noqa: F401
    from wmplan_agents.data import collect

    env = gym.make(
        ENV_ID,
        random_start=True,
        terminate_on_success=False,
        max_episode_steps=s.data_episode_steps,
    )
    data = collect(env, "uniform", s.data_steps, seed=s.seed, progress=progress)
    env.close()
    return data


def train_arm(s: MiniGridSettings, name: str, data: Any, progress: bool = False) -> Any:
    """The model of arm ``name`` (one of :data:`MODELS`), trained on ``data``."""
    from wmplan_agents.models import ContrastiveEncoder, MLPDynamics
    from wmplan_agents.objectives import Prediction, SpectralReg
    from wmplan_agents.training import train

    obs_dim = data.obs_shape[0]
    penalty = s.spectral_weight * SpectralReg() if name.startswith("helm") else None
    if name in ("mse", "helm"):
        model = MLPDynamics(obs_dim, data.action_space, hidden=64, depth=2, seed=s.seed)
        objective = Prediction(horizon=1) if penalty is None else Prediction(horizon=1) + penalty
        epochs = s.mse_epochs
    else:
        model = ContrastiveEncoder(
            obs_dim, data.action_space, latent_dim=s.latent_dim, tau=s.tau, seed=s.seed
        )
        objective = model.default_objective()
        if penalty is not None:
            objective = objective + penalty
        epochs = s.contrastive_epochs
    train(model, data, objective, epochs=epochs, seed=s.seed, progress=progress)
    return model


def latent_grid_spearman(model: WorldModel) -> float:
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
    model: WorldModel,
    s: MiniGridSettings,
    seeds: list[int],
    random_start: bool,
    planner_name: str = "gd",
    grad_norms: list | None = None,
) -> tuple[list[bool], list[float], list[float]]:
    """One MPC episode per seed, all planned together in one batch per step:
    ``(success, final distance, start distance)`` per episode. With ``grad_norms`` (a list),
    GD's ``info["grad_norm"]`` of every plan is appended to it."""
    import wmplan_envs  # noqa: F401
    from wmplan_agents.agent import MPCAgent
    from wmplan_agents.contracts import dense_goal_cost
    from wmplan_agents.planners import make_planner

    if planner_name == "gd":
        planner = make_planner(
            "gd", iterations=s.gd_iterations, n_restarts=s.gd_restarts, lr=s.gd_lr, seed=s.seed
        )
    else:  # the control: the registry preset of a sampling planner
        planner = make_planner(planner_name, seed=s.seed)
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
    seen = None
    for _ in range(s.max_episode_steps):
        batch = {"observation": np.stack(obs), "desired_goal": np.stack(goal)}
        actions, _ = agent.predict(batch, episode_start=first)
        first[:] = False
        plan = agent.last_plan
        if grad_norms is not None and plan is not seen and "grad_norm" in plan.info:
            grad_norms.append(plan.info["grad_norm"])
        seen = plan
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


def gradient_stats(norms: list[torch.Tensor], explosion: float) -> dict[str, float]:
    """Summary of GD's gradient norms ``[iterations, B, R]`` over every plan of a run."""
    if not norms:
        return {"median_norm": math.nan, "restart_cv": math.nan, "nonfinite": 0, "explosions": 0}
    flat = torch.cat([n.reshape(-1, n.shape[-1]) for n in norms])  # [iterations * B, R]
    finite = torch.isfinite(flat)
    vals = flat[finite]
    rows = finite.all(-1)
    ok = flat[rows]
    cv = (ok.std(-1) / ok.mean(-1).clamp_min(1e-30)).mean() if len(ok) else torch.tensor(math.nan)
    return {
        "median_norm": float(vals.median()) if len(vals) else math.nan,
        "restart_cv": float(cv),
        "nonfinite": int((~finite).sum()),
        "explosions": int((vals > explosion).sum()),
    }


def _arm(task: tuple[MiniGridSettings, str, Any]) -> dict[str, Any]:
    """One arm: train its model, run its episodes. One torch thread (restored after), in this
    process or on a Ray worker alike, so both give the same numbers."""
    s, name, data = task
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = train_arm(s, name, data)
        seeds = [s.episode_seed + j for j in range(s.n_episodes)]
        norms: list[torch.Tensor] = []
        ok, dist, start = run_episodes(model, s, seeds, True, grad_norms=norms)
        f_ok, f_dist, _ = run_episodes(model, s, [s.episode_seed], random_start=False)
        out = {
            "success": int(np.sum(ok)), "final": dist, "start": start,
            "grads": gradient_stats(norms, s.explosion_norm), "fixed_ok": bool(f_ok[0]),
            "fixed_d": f_dist[0], "rho": latent_grid_spearman(model),
        }  # fmt: skip
        if s.cem_control:
            c_ok, c_dist, _ = run_episodes(model, s, seeds, True, planner_name="cem")
            out["cem_ok"], out["cem_final"] = int(np.sum(c_ok)), c_dist
        return out
    finally:
        torch.set_num_threads(threads)


def run(
    s: MiniGridSettings,
    progress: bool = False,
    workers: int = 1,
    address: str | None = None,
) -> MiniGridResult:
    """Every arm of :data:`MODELS` on the same data; ``workers > 1`` (or a Ray ``address``)
    runs the arms as Ray tasks (:mod:`wmplan_agents.parallel`), with the serial run's numbers."""
    from wmplan_agents import parallel

    data = collect_data(s, progress)
    tasks = [(s, name, data) for name in MODELS]
    arms = dict(zip(MODELS, parallel.run_tasks(
        _arm, tasks, workers=workers, address=address, progress=progress, desc="minigrid arms"
    ), strict=True))  # fmt: skip
    return MiniGridResult(
        s, s.n_episodes,
        {n: a["success"] for n, a in arms.items()},
        {n: wilson_interval(a["success"], s.n_episodes) for n, a in arms.items()},
        {n: a["final"] for n, a in arms.items()},
        arms[MODELS[0]]["start"],
        {n: a["fixed_ok"] for n, a in arms.items()},
        {n: a["fixed_d"] for n, a in arms.items()},
        {n: a["rho"] for n, a in arms.items()},
        cem_successes={n: a["cem_ok"] for n, a in arms.items() if "cem_ok" in a},
        cem_final_distance={n: a["cem_final"] for n, a in arms.items() if "cem_final" in a},
        grad_stats={n: a["grads"] for n, a in arms.items()},
    )  # fmt: skip


def table(result: MiniGridResult) -> str:
    n = result.n_episodes
    rows = []
    for name in MODELS:
        label = LABELS[name]
        paper_ok = PAPER.get(f"{name}_success")
        paper_d = PAPER.get(f"{name}_final_distance")
        ref_ok = "not reported" if paper_ok is None else f"{100 * paper_ok:.0f}%"
        ref_d = "not reported" if paper_d is None else f"{paper_d:.1f}"
        g = result.grad_stats.get(name, {})
        rows += [
            (f"{label}: GD success, {n} random starts", format_rate(result.successes[name], n),
             ref_ok),
            (f"{label}: GD mean final distance", f"{result.mean_distance(name):.2f}", ref_d),
            (f"{label}: GD fixed start (1,1): success / final distance",
             f"{result.fixed_start_success[name]} / {result.fixed_start_distance[name]:.2f}",
             ref_d),
            (f"{label}: Spearman(latent dist, grid dist)",
             f"{result.latent_grid_spearman[name]:.2f}", "not reported"),
        ]  # fmt: skip
        if g:
            rows.append((
                f"{label}: GD gradients: median norm / restart CV / non-finite / explosions",
                f"{g['median_norm']:.3g} / {g['restart_cv']:.2f} / {g['nonfinite']} / "
                f"{g['explosions']}",
                "\"unstable\" (contrastive alone)" if name == "contrastive" else "not reported",
            ))  # fmt: skip
        if name in result.cem_successes:
            rows.append((
                f"{label}: CEM control, success / mean final distance",
                f"{format_rate(result.cem_successes[name], n)} / "
                f"{np.mean(result.cem_final_distance[name]):.2f}",
                "not reported",
            ))  # fmt: skip
    rows.append(("mean start distance, random starts", f"{np.mean(result.start_distance):.2f}", ""))
    return comparison_table(
        rows,
        title="Two Pillars Exp. 3-4: gradient planning on MiniGrid-Empty-8x8, Wilson 95% in []",
    )


def plot(result: MiniGridResult, path: Path) -> Path:
    """Success rates with Wilson intervals and final-distance histograms of both models."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    labels = [LABELS[m] for m in MODELS]
    rates = [result.successes[m] / result.n_episodes for m in MODELS]
    err = np.array(
        [
            [r - result.success_interval[m][0], result.success_interval[m][1] - r]
            for r, m in zip(rates, MODELS, strict=True)
        ]
    ).T
    colors = ["tab:red", "tab:orange", "tab:green", "tab:blue"]
    ax1.bar(labels, rates, yerr=err, capsize=6, color=colors)
    ax1.tick_params(axis="x", labelsize=7)
    ax1.set_ylim(0, 1.05)
    ax1.set_ylabel(f"success rate ({result.n_episodes} episodes, Wilson 95%)")
    bins = np.linspace(0, 10, 21)
    ax2.hist(result.start_distance, bins=bins, alpha=0.4, color="grey", label="start")
    for m, label, c in zip(MODELS, labels, colors, strict=True):
        ax2.hist(result.final_distance[m], bins=bins, alpha=0.6, color=c, label=label)
    ax2.set_xlabel("final Euclidean grid distance to the goal")
    ax2.set_ylabel("episodes")
    ax2.legend()
    return save_figure(fig, path)


def reproduce(s: MiniGridSettings, opts: RunOptions) -> MiniGridResult:
    """Run, print the table, save ``minigrid.png`` and ``minigrid.json``; ``opts.workers``,
    ``opts.address``: the four arms on Ray workers."""
    out = opts.out
    result = run(s, opts.progress, opts.workers, opts.address)
    result.files["plot"] = str(plot(result, out / "minigrid.png"))
    publish(result, out / "minigrid.json", PAPER, table(result), opts.echo)
    return result
