"""Two Pillars, Experiment 1: the spectral cliff on ``WMPlan/LinearExpansive-v0``.

Two MLP world models with the same architecture, data and seed are trained on the expansive
linear system ``s' = W s + B a``: a *flat* one with one-step prediction MSE, and a *HELM* one with
the same loss plus HELM's spectral penalty ``||d f/d z||_F^2 + ||d f/d a||_F^2``
(:class:`~wmplan_agents.objectives.SpectralReg`). For horizons ``T = 1..max_horizon`` we measure
the rollout Jacobian ``d z_T / d a_0`` (its spectral norm, the largest singular value) along
random rollouts, beside the true system's ``||W^(T-1) B||_2``, and each model's open-loop
prediction error against the true rollout.

A model that predicts well must follow the true norm, which grows like ``expansion^T``; a model
whose norm stays far below it cannot follow the true trajectory over long horizons. Both sides
are reported.

**The hierarchy** (``hierarchy=True``): a two-level :class:`~wmplan_agents.models.HELM` (fine
one-step level and coarse ``coarse_k``-step level, both with the spectral penalty) on the same
data. ``||d z_T / d a_0||`` is measured through its coarse level (``T / coarse_k`` coarse steps,
``a_0`` the first env action inside the first coarse action) and its fine level, beside the flat
model's. Then open-loop planning at ``T = max_horizon`` on ``n_plans`` env problems with the
``gd`` preset: on the flat model (``T`` steps), on the coarse level alone (``T / coarse_k``
steps), and coarse-to-fine (``planners.hierarchical.CoarseToFine``, GD on both levels); every
plan is executed in the env, success is the env's test at the end, time per problem.
"""

from __future__ import annotations

import math
import warnings
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
    publish,
    pyplot,
    save_figure,
)

PAPER = {"flat_norm_T50": 1712.0, "helm_norm_T50": 90.0}


@dataclass(frozen=True)
class SpectralCliffSettings:
    """Sizes and budgets of Experiment 1 (defaults: the full-size run)."""

    expansion: float = 1.15
    dim: int = 4
    data_steps: int = 20_000
    episode_steps: int = 20
    hidden: int = 128
    depth: int = 2
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    spectral_weight: float = 0.001
    max_horizon: int = 50
    n_rollouts: int = 64
    hierarchy: bool = True  # also the two-level HELM: coarse-level norms and planning
    coarse_k: int = 5
    n_plans: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive(expansion=self.expansion, dim=self.dim, data_steps=self.data_steps)
        check_positive(episode_steps=self.episode_steps, hidden=self.hidden, epochs=self.epochs)
        check_positive(max_horizon=self.max_horizon, n_rollouts=self.n_rollouts, lr=self.lr)
        if self.spectral_weight < 0:
            raise ValueError(f"spectral_weight must be >= 0, got {self.spectral_weight}")


@dataclass
class SpectralCliffResult:
    """Per horizon ``T = 1..max_horizon`` (index ``T - 1``): Jacobian norms (mean over the
    rollouts) and relative prediction errors ``||z_T_model - z_T|| / ||z_T||`` (median)."""

    settings: SpectralCliffSettings
    horizons: list[int]
    true_norm: list[float]
    norm: dict[str, list[float]]
    rel_error: dict[str, list[float]]
    one_step_val_mse: dict[str, float]
    train_time_s: dict[str, float]
    # the hierarchy: norms through the coarse level at T = k, 2k, ... (index T / k - 1) and
    # planning at T = max_horizon: arm -> (successes, seconds per problem)
    coarse_horizons: list[int] = field(default_factory=list)
    coarse_norm: list[float] = field(default_factory=list)
    planning: dict[str, tuple[int, float]] = field(default_factory=dict)
    # arm -> each plan's final distance to its goal in the env, and the env's success radius
    planning_distance: dict[str, list[float]] = field(default_factory=dict)
    success_radius: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    def at(self, horizon: int) -> dict[str, float]:
        """The numbers at one horizon."""
        i = horizon - 1
        out = {"true_norm": self.true_norm[i]}
        for name in self.norm:
            out[f"{name}_norm"] = self.norm[name][i]
            out[f"{name}_rel_error"] = self.rel_error[name][i]
        return out


def _make_env(s: SpectralCliffSettings) -> gym.Env:
    import wmplan_envs  # noqa: F401

    return gym.make(
        "WMPlan/LinearExpansive-v0",
        dim=s.dim,
        expansion=s.expansion,
        terminate_on_success=False,
        max_episode_steps=s.episode_steps,
    )


def train_models(s: SpectralCliffSettings, progress: bool = False) -> tuple[dict, dict, dict]:
    """Collect data and train the flat and the HELM model: ``(models, val_mse, times)``."""
    from wmplan_agents.data import collect
    from wmplan_agents.models import MLPDynamics
    from wmplan_agents.objectives import Prediction, SpectralReg
    from wmplan_agents.training import train

    env = _make_env(s)
    data = collect(env, "uniform", s.data_steps, seed=s.seed, progress=progress)
    env.close()
    objectives = {
        "flat": Prediction(horizon=1),
        "helm": Prediction(horizon=1) + s.spectral_weight * SpectralReg(),
    }
    models, val_mse, times = {}, {}, {}
    for name, objective in objectives.items():
        model = MLPDynamics(s.dim, data.action_space, hidden=s.hidden, depth=s.depth, seed=s.seed)
        res = train(
            model,
            data,
            objective,
            epochs=s.epochs,
            batch_size=s.batch_size,
            lr=s.lr,
            seed=s.seed,
            progress=progress,
        )
        models[name] = model
        val_mse[name] = res.parts.get("prediction", res.val_loss)[res.best_epoch]
        times[name] = res.time_s
    if s.hierarchy:
        from wmplan_agents.models import HELM

        helm = HELM(
            s.dim, data.action_space, coarse_k=s.coarse_k, hidden=s.hidden, depth=s.depth,
            seed=s.seed,
        )  # fmt: skip
        res = train(
            helm, data, helm.default_objective(spectral_weight=s.spectral_weight),
            epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, seed=s.seed, progress=progress,
        )  # fmt: skip
        models["helm2"] = helm
        val_mse["helm2"] = res.parts.get("prediction", res.val_loss)[res.best_epoch]
        times["helm2"] = res.time_s
    return models, val_mse, times


def coarse_jacobian_norms(coarse: Any, z0: torch.Tensor, actions: torch.Tensor) -> np.ndarray:
    """Spectral norms ``[N, T / k]`` of ``d z_{jk} / d a_0`` through a coarse level (``k`` its
    action_repeat) for env actions ``[N, T, A]``: ``a_0`` is the first env action inside the
    first coarse action."""
    from torch.func import jvp

    n, t_len, a_dim = actions.shape
    k = int(coarse.action_repeat)
    blocks = actions[:, : (t_len // k) * k].reshape(n, t_len // k, k * a_dim)
    first, rest = blocks[:, 0], blocks[:, 1:]

    def traj(a0: torch.Tensor) -> torch.Tensor:
        z = coarse.step(z0, torch.cat([a0, first[:, a_dim:]], dim=-1))
        out = [z]
        for j in range(rest.shape[1]):
            z = coarse.step(z, rest[:, j])
            out.append(z)
        return torch.stack(out, dim=1)

    columns = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        for i in range(a_dim):
            e = torch.zeros(n, a_dim)
            e[:, i] = 1.0
            columns.append(jvp(traj, (first[:, :a_dim],), (e,))[1])
    return torch.linalg.matrix_norm(torch.stack(columns, dim=-1), ord=2).detach().numpy()


def plan_with_hierarchy(
    s: SpectralCliffSettings, models: dict[str, Any]
) -> tuple[dict[str, tuple[int, float]], dict[str, list[float]]]:
    """Open-loop GD planning at ``T = max_horizon`` on the flat model, the coarse level and
    coarse-to-fine; each plan executed in the env. Returns ``arm -> (successes, s per
    problem)`` and ``arm -> final distances to the goals``."""
    import time

    from wmplan_agents import contracts
    from wmplan_agents.planners import make_planner
    from wmplan_agents.planners.hierarchical import CoarseToFine

    env = _make_env(s).unwrapped
    starts, goals = [], []
    for i in range(s.n_plans):
        _, info = env.reset(seed=s.seed + 5000 + i)
        starts.append(info["state"])
        goals.append(info["goal_state"])
    z0 = torch.as_tensor(np.stack(starts), dtype=torch.float32)
    zg = torch.as_tensor(np.stack(goals), dtype=torch.float32)
    helm = models["helm2"]
    t_len, k = s.max_horizon, s.coarse_k
    arms = {
        "flat": (models["flat"], make_planner("gd", seed=s.seed), t_len),
        "coarse": (helm.coarse_model(), make_planner("gd", seed=s.seed), math.ceil(t_len / k)),
        "coarse-to-fine": (helm, CoarseToFine(seed=s.seed), t_len),
    }
    out, distances = {}, {}
    for name, (model, planner, steps) in arms.items():
        start = time.perf_counter()
        result = planner.plan(model, model.encode(z0), model.encode(zg), steps)
        per = (time.perf_counter() - start) / s.n_plans
        acts = contracts.to_env_actions(model, result.actions)[:, :t_len]
        dist = []
        for i in range(s.n_plans):
            state = np.asarray(starts[i], dtype=np.float64)
            for a in acts[i]:
                state = env.transition(state, a)
            dist.append(float(np.linalg.norm(state - goals[i])))
        out[name] = (sum(d < env.success_radius for d in dist), per)
        distances[name] = dist
    return out, distances


def rollout_jacobian_norms(
    model: WorldModel, z0: torch.Tensor, actions: torch.Tensor
) -> np.ndarray:
    """Spectral norms ``[N, T]`` of ``d z_t / d a_0`` for ``t = 1..T`` along the rollouts of
    ``actions [N, T, A]`` from ``z0 [N, D]`` (forward-mode, one pass per action dimension)."""
    from torch.func import jvp

    a0, rest = actions[:, 0], actions[:, 1:]

    def traj(first: torch.Tensor) -> torch.Tensor:
        z, out = model.step(z0, first), []
        out.append(z)
        for t in range(rest.shape[1]):
            z = model.step(z, rest[:, t])
            out.append(z)
        return torch.stack(out, dim=1)  # [N, T, D]

    columns = []
    with warnings.catch_warnings():
        # torch's forward-mode AD scripts its JVP decompositions with torch.jit.script on first
        # use, which warns that torch.jit.script is deprecated: torch's own call, not ours
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        for k in range(a0.shape[1]):
            e = torch.zeros_like(a0)
            e[:, k] = 1.0
            columns.append(jvp(traj, (a0,), (e,))[1])
    jac = torch.stack(columns, dim=-1)  # [N, T, D, A]
    return torch.linalg.matrix_norm(jac, ord=2).detach().numpy()


def run(s: SpectralCliffSettings, progress: bool = False) -> SpectralCliffResult:
    """Train both models and measure norms and errors (no files written)."""
    models, val_mse, times = train_models(s, progress)
    env = _make_env(s).unwrapped
    w, b = env.W, env.B
    rng = np.random.default_rng(s.seed + 1000)
    n, horizon = s.n_rollouts, s.max_horizon
    starts = rng.uniform(-env.init_range, env.init_range, (n, s.dim))
    actions = rng.uniform(-1, 1, (n, horizon, s.dim))
    true = np.empty((n, horizon, s.dim))
    state = starts
    for t in range(horizon):
        state = env.transition(state, actions[:, t])
        true[:, t] = state
    true_norm, power = [], np.eye(s.dim)
    for _ in range(horizon):
        true_norm.append(float(np.linalg.norm(power @ b, 2)))
        power = w @ power
    z0 = torch.as_tensor(starts, dtype=torch.float32)
    acts = torch.as_tensor(actions, dtype=torch.float32)
    norm, rel_error = {}, {}
    for name, model in models.items():  # (helm2: its fine level, which is its step)
        norm[name] = rollout_jacobian_norms(model, z0, acts).mean(0).tolist()
        with torch.no_grad():
            pred = model.rollout(z0, acts).double().numpy()
        err = np.linalg.norm(pred - true, axis=-1) / np.linalg.norm(true, axis=-1)
        rel_error[name] = np.median(err, axis=0).tolist()
    result = SpectralCliffResult(
        settings=s,
        horizons=list(range(1, horizon + 1)),
        true_norm=true_norm,
        norm=norm,
        rel_error=rel_error,
        one_step_val_mse=val_mse,
        train_time_s=times,
    )
    if s.hierarchy:
        coarse = models["helm2"].coarse_model()
        result.coarse_norm = coarse_jacobian_norms(coarse, z0, acts).mean(0).tolist()
        result.coarse_horizons = [s.coarse_k * (j + 1) for j in range(len(result.coarse_norm))]
        result.planning, result.planning_distance = plan_with_hierarchy(s, models)
        result.success_radius = float(_make_env(s).unwrapped.success_radius)
    return result


def table(result: SpectralCliffResult) -> str:
    """The measured numbers beside the paper's."""
    h = result.settings.max_horizon
    at = result.at(h)
    rows = [
        (f"flat  ||dz_T/da_0||_2, T={h}", f"{at['flat_norm']:.1f}", f"{PAPER['flat_norm_T50']:g}"),
        (f"HELM  ||dz_T/da_0||_2, T={h}", f"{at['helm_norm']:.1f}", f"{PAPER['helm_norm_T50']:g}"),
        (f"true  ||W^(T-1) B||_2, T={h}", f"{at['true_norm']:.1f}", "not reported"),
    ]
    for name in ("flat", "helm"):
        label = "HELM " if name == "helm" else "flat "
        rows.append(
            (
                f"{label} one-step val MSE (normalised)",
                f"{result.one_step_val_mse[name]:.2e}",
                "not reported",
            )
        )
        for t in sorted({1, 10, h}):
            if t <= h:
                rows.append(
                    (
                        f"{label} rel. rollout error, T={t}",
                        f"{result.rel_error[name][t - 1]:.3f}",
                        "not reported",
                    )
                )
    if result.coarse_norm:
        t_c = result.coarse_horizons[-1]
        rows.insert(2, (
            f"HELM fine level ||dz_T/da_0||_2, T={h}", f"{at['helm2_norm']:.1f}", "not reported"
        ))  # fmt: skip
        rows.insert(3, (
            f"HELM coarse level ({t_c // result.settings.coarse_k} steps of "
            f"{result.settings.coarse_k}) ||dz_T/da_0||_2, T={t_c}",
            f"{result.coarse_norm[-1]:.1f}", "not reported",
        ))  # fmt: skip
        for name, (ok, per) in result.planning.items():
            rows.append((
                f"GD planning T={h}, open loop, {name}: success / s per problem",
                f"{ok}/{result.settings.n_plans} / {per:.3f}", "not reported",
            ))  # fmt: skip
    return comparison_table(rows, title="Two Pillars Exp. 1: the spectral cliff (LinearExpansive)")


def plot(result: SpectralCliffResult, path: Path) -> Path:
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    hs = result.horizons
    ax1.semilogy(hs, result.true_norm, "k--", label="true system")
    arms = [("flat", "flat (MSE)"), ("helm", "HELM (MSE + spectral)")]
    if "helm2" in result.norm:
        arms.append(("helm2", "two-level HELM, fine level"))
    for name, label in arms:
        ax1.semilogy(hs, result.norm[name], label=label)
        ax2.semilogy(hs, result.rel_error[name], label=label)
    if result.coarse_norm:
        ax1.semilogy(result.coarse_horizons, result.coarse_norm, "o-", label="HELM coarse level")
    ax1.set_xlabel("horizon T")
    ax1.set_ylabel("||d z_T / d a_0||_2 (mean)")
    ax1.set_title("rollout Jacobian norm")
    ax1.legend()
    ax2.set_xlabel("horizon T")
    ax2.set_ylabel("||z_T model - z_T|| / ||z_T|| (median)")
    ax2.set_title("open-loop prediction error")
    ax2.legend()
    return save_figure(fig, path)


def reproduce(s: SpectralCliffSettings, opts: RunOptions) -> SpectralCliffResult:
    """Run, print the table, save ``spectral_cliff.png`` and ``spectral_cliff.json``."""
    out = opts.out
    result = run(s, opts.progress)
    result.files["plot"] = str(plot(result, out / "spectral_cliff.png"))
    publish(result, out / "spectral_cliff.json", PAPER, table(result), opts.echo)
    return result
