"""What ``wmplan collect``, ``wmplan train`` and ``wmplan demo`` do, as plain functions.

:func:`collect_to_file` and :func:`train_from_file` are thin wrappers around
:func:`wmplan_agents.data.collect`, :func:`wmplan_agents.training.train` and
:func:`wmplan_agents.checkpoint.save`; :func:`run_demo` plans Push-T with the shipped model and
the registry's preset (:func:`wmplan_agents.models.load_pretrained`) and writes a GIF of one
episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from wmplan_agents.contracts import WorldModel

MODEL_KINDS = ("mlp", "conv", "contrastive", "helm")


@dataclass
class TrainOptions:
    """Model and objective options of ``wmplan train`` (defaults: a small model)."""

    kind: str = "mlp"
    action_repeat: int = 1
    hidden: int = 128
    depth: int = 2
    latent_dim: int = 16
    horizon: int = 1  # prediction horizon in model steps
    spectral: float = 0.0  # weight of HELM's spectral penalty (0: off)
    infonce: float = 0.0  # weight of InfoNCE (0: off; "contrastive" always uses it)
    tau: float = 0.1
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0


def collect_to_file(
    env_id: str,
    out: str | Path,
    *,
    steps: int = 10_000,
    seed: int = 0,
    policy: str = "default",
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
) -> tuple[Path, Any]:
    """Collect ``steps`` transitions of ``env_id`` with its data-like policy (``"default"``) or
    ``"uniform"`` random actions, save them as ``.npz``, return the path and the dataset."""
    from wmplan_agents.data import collect

    if policy not in ("default", "uniform"):
        raise ValueError(f"policy must be 'default' or 'uniform', got {policy!r}")
    import wmplan_envs  # noqa: F401

    env = gym.make(env_id, **(env_kwargs or {}))
    try:
        data = collect(
            env, None if policy == "default" else "uniform", steps, seed=seed, progress=progress
        )
    finally:
        env.close()
    return data.save(out), data


def build_model(dataset: Any, options: TrainOptions) -> torch.nn.Module:
    """An untrained model of ``options.kind`` for ``dataset``'s observations and actions."""
    from wmplan_agents import models

    o = options
    if o.kind not in MODEL_KINDS:
        raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {o.kind!r}")
    shape, space = dataset.obs_shape, dataset.action_space
    if o.kind == "conv":
        if len(shape) != 3:
            raise ValueError(f"the conv model needs image observations [H, W, C], got {shape}")
        return models.ConvWorldModel(
            shape, space, latent_dim=o.latent_dim, hidden=o.hidden, depth=o.depth,
            action_repeat=o.action_repeat, seed=o.seed,
        )  # fmt: skip
    if len(shape) != 1:
        raise ValueError(f"the {o.kind} model needs flat state observations, got shape {shape}")
    if o.kind == "mlp":
        return models.MLPDynamics(
            shape[0], space, hidden=o.hidden, depth=o.depth, action_repeat=o.action_repeat,
            normalize_latent=True, seed=o.seed,
        )  # fmt: skip
    if o.kind == "helm":
        return models.HELM(
            shape[0], space, coarse_k=max(2, o.action_repeat), hidden=o.hidden, depth=o.depth,
            seed=o.seed,
        )  # fmt: skip
    return models.ContrastiveEncoder(
        shape[0], space, latent_dim=o.latent_dim, hidden=o.hidden, depth=o.depth,
        action_repeat=o.action_repeat, tau=o.tau, seed=o.seed,
    )  # fmt: skip


def build_objective(model: WorldModel, options: TrainOptions) -> Any:
    """Prediction (``horizon``) plus the optional spectral and InfoNCE terms (and the model's
    own terms: reconstruction for conv, coarse prediction for HELM, InfoNCE for contrastive)."""
    from wmplan_agents.objectives import InfoNCE, Prediction, Reconstruction, SpectralReg

    o = options
    objective = Prediction(horizon=o.horizon)
    if o.kind == "helm":
        objective = objective + Prediction(horizon=o.horizon).on("coarse")
    if o.kind == "conv" and getattr(model, "decoder", None) is not None:
        objective = objective + Reconstruction()
    if o.kind == "contrastive" or o.infonce > 0:
        objective = objective + (o.infonce or 1.0) * InfoNCE(tau=o.tau)
    if o.spectral > 0:
        objective = objective + o.spectral * SpectralReg()
    return objective


def train_from_file(
    dataset_path: str | Path,
    out: str | Path,
    options: TrainOptions | None = None,
    *,
    plot_path: str | Path | None = None,
    progress: bool = True,
) -> tuple[tuple[Path, Path], Any]:
    """Load a dataset written by ``collect``, train a model, save a checkpoint at ``out``.

    Returns the checkpoint's two paths and the :class:`~wmplan_agents.training.TrainResult`.
    """
    from wmplan_agents.checkpoint import save
    from wmplan_agents.data import Dataset
    from wmplan_agents.training import train

    options = options or TrainOptions()
    data = Dataset.load(dataset_path)
    model = build_model(data, options)
    objective = build_objective(model, options)
    result = train(
        model, data, objective, epochs=options.epochs, batch_size=options.batch_size,
        lr=options.lr, seed=options.seed, progress=progress, plot_path=plot_path,
    )  # fmt: skip
    meta = {
        "dataset": str(dataset_path),
        "options": vars(options),
        "objective": repr(objective),
        "train_s": round(result.time_s, 2),
        "best_val_loss": result.best_val_loss,
    }
    return save(model, out, metadata=meta), result


# -- the demo ----------------------------------------------------------------------------------


@dataclass
class DemoResult:
    """Outcome of :func:`run_demo`."""

    successes: list[bool]
    lengths: list[int]
    plan_time_per_step_s: list[float]  # planning wall time per env step, per episode
    gif_path: Path | None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else float("nan")


class _FirstEpisodeFrames(gym.Wrapper):
    """Keeps the rendered frames of the first episode (the start and one per step)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.frames: list[np.ndarray] = []
        self._resets = 0

    def reset(self, **kwargs: Any) -> Any:
        out = self.env.reset(**kwargs)
        self._resets += 1
        if self._resets == 1:
            self.frames.append(self.env.render())
        return out

    def step(self, action: Any) -> Any:
        out = self.env.step(action)
        if self._resets == 1:
            self.frames.append(self.env.render())
        return out


def run_demo(
    *,
    episodes: int = 5,
    planner: str = "grasp",
    seed: int = 0,
    gif_path: str | Path | None = "wmplan_demo.gif",
    render_size: int = 192,
    echo: Any = print,
    horizon: int | None = None,
    replan_every: int | None = None,
    planner_kwargs: dict[str, Any] | None = None,
) -> DemoResult:
    """Plan Push-T with the shipped model and ``planner`` in an MPC loop, exactly as the
    headline lines do: ``MPCAgent(load_pretrained("WMPlan/PushT-v0"), planner)`` in
    ``gym.make("WMPlan/PushT-v0")`` (reachable goals 25 env steps ahead, 50 env steps per
    episode), with the registry's preset for the pair unless ``horizon``, ``replan_every`` or
    ``planner_kwargs`` say otherwise.

    The episodes run through :func:`~wmplan_agents.evaluate` (episode ``j`` is reset with
    ``seed + j``); the first episode's rendered frames are saved to ``gif_path`` (skipped if
    ``None``). ``echo`` receives the setting, then one line per episode.
    """
    from wmplan_agents.agent import MPCAgent
    from wmplan_agents.evaluation import evaluate
    from wmplan_agents.models.pretrained import load_pretrained

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    model = load_pretrained("WMPlan/PushT-v0", "state")
    agent = MPCAgent(
        model, planner, horizon=horizon, replan_every=replan_every, seed=seed,
        **(planner_kwargs or {}),
    )  # fmt: skip
    env = gym.make(
        "WMPlan/PushT-v0", **model.env_kwargs, render_mode="rgb_array", render_size=render_size
    )
    settings = dict(
        planner=planner, preset=str(agent.preset), horizon=agent.horizon,
        replan_every=agent.replan_every, episodes=episodes, seed=seed,
        planner_kwargs=dict(planner_kwargs or {}),
    )  # fmt: skip
    echo(
        f"wmplan demo: gym.make('WMPlan/PushT-v0') (goals {env.unwrapped.goal_steps} env steps "
        f"ahead, {env.unwrapped.max_steps} env steps per episode), the shipped model, "
        f"{agent!r}"
    )
    recorder = _FirstEpisodeFrames(env) if gif_path is not None else env
    try:
        run = evaluate(agent, recorder, episodes, seed, progress=False)
    finally:
        env.close()
    frames = recorder.frames if gif_path is not None else []
    per_step = [t / n for t, n in zip(run.predict_times_s, run.lengths, strict=True)]
    result = DemoResult(run.successes, run.lengths, per_step, None, settings)
    for j, (ok, steps, t) in enumerate(zip(run.successes, run.lengths, per_step, strict=True)):
        echo(
            f"episode {j + 1}/{episodes} (seed {seed + j}): "
            f"{'success' if ok else 'failure'} after {steps} env steps, "
            f"planning {1000 * t:.1f} ms per env step"
        )
    if gif_path is not None:
        import imageio.v2 as imageio

        path = Path(gif_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        imageio.mimsave(path, frames, duration=0.1, loop=0)
        result.gif_path = path
    return result
