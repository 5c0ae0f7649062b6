"""Training loop: ``train(model, dataset, objective)`` with validation, early stopping and plots.

Also :func:`prediction_error`, the open-loop validation error of a world model against the
"no change" baseline, used by the tests and the results.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from wmplan_agents.contracts import (
    Normalized,
    Trainable,
    WorldModel,
    action_repeat,
    model_env,
    set_model_env,
)
from wmplan_agents.objectives import Objective, model_actions


@dataclass
class TrainResult:
    """What :func:`train` returns (the model itself is trained in place)."""

    train_loss: list[float]
    val_loss: list[float]
    parts: dict[str, list[float]]  # per-part validation losses, one value per epoch
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    time_s: float
    curve_path: Path | None = None
    train_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def split_starts(
    dataset: Any, length: int, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Window starts for training and validation, split by ``dataset.split_keys`` (episodes)."""
    starts = dataset.window_starts(length)
    if len(starts) == 0:
        raise ValueError(
            f"the dataset has no window of {length} consecutive env steps within one episode; "
            "collect longer episodes or lower the horizon/action_repeat"
        )
    keys = dataset.split_keys(starts)
    unique = np.unique(keys)
    rng = np.random.default_rng(seed)
    n_val = int(round(val_fraction * len(unique)))
    if val_fraction > 0 and (n_val == 0 or n_val == len(unique)):
        raise ValueError(
            f"cannot split {len(unique)} episodes with val_fraction={val_fraction}: collect more "
            "episodes or change val_fraction"
        )
    val_keys = rng.choice(unique, size=n_val, replace=False)
    is_val = np.isin(keys, val_keys)
    return starts[~is_val], starts[is_val]


def _loss_curve(result: TrainResult, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(result.train_loss) + 1)
    ax.plot(epochs, result.train_loss, label="train")
    if result.val_loss:
        ax.plot(epochs, result.val_loss, label="validation")
        ax.axvline(result.best_epoch + 1, color="grey", ls=":", label="best")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def train(
    model: torch.nn.Module,
    dataset: Any,
    objective: Objective | None = None,
    *,
    epochs: int = 50,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    val_fraction: float = 0.1,
    patience: int = 10,
    grad_clip: float | None = 10.0,
    max_batches_per_epoch: int | None = None,
    fit_normalization: bool = True,
    seed: int = 0,
    progress: bool = True,
    plot_path: str | Path | None = None,
) -> TrainResult:
    """Train ``model`` in place with Adam on ``objective`` (default ``model.default_objective()``).

    If training fails (a non-finite training or validation loss raises ``FloatingPointError``;
    any other error propagates), the model is left exactly as it was before the call, its
    normalisers included.

    Windows are split into training and validation by episode (``val_fraction`` of them);
    after each epoch the validation loss is measured and the best weights are kept; training
    stops after ``patience`` epochs without improvement and the best weights are restored.
    Before training, ``model.fit_normalization`` (if the model has it) sees up to 20,000
    training windows (fewer for large observations such as images: about 256 MB of them).
    Shuffling and the objectives' noise come from generators seeded by ``seed``, so the same
    model, data and seed give the same weights. ``plot_path``: where to save the loss curves
    (PNG, needs matplotlib). A model that does not say which env it is for
    (``model.env_id``) learns it from the dataset's ``meta`` (:func:`~wmplan_agents.data.collect`
    records it), so the trained model gets that env's presets and checks.
    """
    if objective is None:
        if not isinstance(model, Trainable):
            raise ValueError(f"{type(model).__name__} has no default_objective(); pass objective=")
        objective = model.default_objective()
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    initial = copy.deepcopy(model.state_dict())  # restored if training fails
    try:
        result = _fit(
            model, dataset, objective, epochs, batch_size, lr, weight_decay, val_fraction,
            patience, grad_clip, max_batches_per_epoch, fit_normalization, seed, progress,
        )  # fmt: skip
    except BaseException:
        model.load_state_dict(initial)
        raise
    meta = getattr(dataset, "meta", None) or {}
    if model_env(model)[0] is None and meta.get("env_id") is not None:
        # the model knows the env of its data (presets, MPCAgent.check_env, checkpoints)
        set_model_env(model, meta["env_id"], meta.get("env_kwargs") or {})
    if plot_path is not None:
        result.curve_path = _loss_curve(result, Path(plot_path), type(model).__name__)
    return result


def _normalization_windows(dataset: Any, length: int, norm_len: int) -> int:
    """How many windows ``fit_normalization`` sees: 20,000, fewer for large observations (about
    256 MB of observations at most, at least 512 windows)."""
    row = getattr(dataset, "observations", None)
    if row is None or len(row) == 0:
        return 20_000
    per_window = (max(length, norm_len) + 1) * np.asarray(row[0]).size * 4
    return int(min(20_000, max(512, (256 << 20) // per_window)))


def _fit(
    model: torch.nn.Module,
    dataset: Any,
    objective: Objective,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    val_fraction: float,
    patience: int,
    grad_clip: float | None,
    max_batches_per_epoch: int | None,
    fit_normalization: bool,
    seed: int,
    progress: bool,
) -> TrainResult:
    """The training loop of :func:`train` (which restores the model if this raises)."""
    device = next(model.parameters()).device
    length = objective.window(model)
    norm_len = int(getattr(model, "normalization_window", 0))
    train_starts, val_starts = split_starts(dataset, max(length, norm_len), val_fraction, seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    if fit_normalization and isinstance(model, Normalized):
        idx = train_starts[
            rng.permutation(len(train_starts))[: _normalization_windows(dataset, length, norm_len)]
        ]
        model.fit_normalization(dataset.batch(idx, max(length, norm_len), device=device))

    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    result = TrainResult([], [], {}, -1, math.inf, False, 0.0)
    result.train_starts, result.val_starts = train_starts, val_starts
    result.val_keys = np.unique(dataset.split_keys(val_starts))
    best_state = copy.deepcopy(model.state_dict())
    t0 = time.perf_counter()
    from tqdm.auto import tqdm

    bar = tqdm(range(epochs), desc=f"train {type(model).__name__}", disable=not progress)
    for epoch in bar:
        model.train()
        order = train_starts[rng.permutation(len(train_starts))]
        n_batches = max(1, len(order) // batch_size)
        if max_batches_per_epoch is not None:
            n_batches = min(n_batches, max_batches_per_epoch)
        total = 0.0
        for i in range(n_batches):
            batch = dataset.batch(order[i * batch_size : (i + 1) * batch_size], length, device)
            loss = objective(model, batch, gen)["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training loss became {loss.item()} at epoch {epoch}, batch {i}; "
                    "lower lr or enable grad_clip"
                )
            opt.zero_grad()
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            total += loss.item()
        result.train_loss.append(total / n_batches)
        if len(val_starts):
            parts = _evaluate(model, dataset, objective, val_starts, length, batch_size, seed)
            result.val_loss.append(parts["loss"])
            for k, v in parts.items():
                result.parts.setdefault(k, []).append(v)
            current = parts["loss"]
            if not math.isfinite(current):
                raise FloatingPointError(
                    f"validation loss became {current} at epoch {epoch} (validation episodes "
                    f"{result.val_keys[:10].tolist()}); check the data for NaN or inf"
                )
        else:
            current = result.train_loss[-1]
        if current < result.best_val_loss:
            result.best_val_loss, result.best_epoch = current, epoch
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(train=f"{result.train_loss[-1]:.3g}", val=f"{current:.3g}")
        if epoch - result.best_epoch >= patience:
            result.stopped_early = True
            break
    if result.best_epoch < 0:
        raise FloatingPointError("no epoch reached a finite validation loss; nothing was trained")
    model.load_state_dict(best_state)
    model.eval()
    result.time_s = time.perf_counter() - t0
    return result


def _evaluate(
    model: Trainable,
    dataset: Any,
    objective: Objective,
    starts: np.ndarray,
    length: int,
    batch_size: int,
    seed: int,
) -> dict[str, float]:
    """Mean of each part of the objective over ``starts`` (noise from a fixed generator)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed + 1)
    device = next(model.parameters()).device
    sums: dict[str, float] = {}
    count = 0
    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        parts = objective(model, dataset.batch(chunk, length, device), gen)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(chunk)
        count += len(chunk)
    return {k: v / count for k, v in sums.items()}


@dataclass
class PredictionError:
    """Open-loop error per model step, each relative to the target's variance (1 = predicting
    the mean): the model's ``mse[t]`` and the "no change" baseline's ``no_change_mse[t]``."""

    mse: list[float]
    no_change_mse: list[float]


@torch.no_grad()
def prediction_error(
    model: WorldModel, dataset: Any, horizon: int, episodes: np.ndarray | None = None
) -> PredictionError:
    """Roll ``model`` open loop ``horizon`` model steps from every window start (of the given
    ``episodes``, e.g. ``TrainResult.val_keys``; default all) and compare with the encoded true
    observations, per latent dimension divided by that dimension's variance over the targets
    (dimensions that never vary are left out)."""
    k = action_repeat(model)
    length = horizon * k
    starts = dataset.window_starts(length)
    if episodes is not None:
        starts = starts[np.isin(dataset.split_keys(starts), episodes)]
    if len(starts) == 0:
        raise ValueError(f"no window of {length} env steps in the dataset")
    device = next(model.parameters()).device if hasattr(model, "parameters") else None
    batch = dataset.batch(np.asarray(starts), length, device)
    obs = batch["obs"]
    z0 = model.encode(obs[:, 0])
    targets = obs[:, k : length + 1 : k]
    zt = model.encode(targets.reshape(-1, *targets.shape[2:])).reshape(len(obs), horizon, -1)
    var = zt.reshape(-1, zt.shape[-1]).var(0)
    var = torch.where(var > 1e-10, var, torch.full_like(var, math.inf))  # constant dims: ignored
    z = z0
    mse, base = [], []
    for t in range(horizon):
        z = model.step(z, model_actions(model, batch["actions"], horizon)[:, t])
        mse.append(float((((z - zt[:, t]) ** 2) / var).mean()))
        base.append(float((((z0 - zt[:, t]) ** 2) / var).mean()))
    return PredictionError(mse=mse, no_change_mse=base)


@torch.no_grad()
def state_readout_error(model: Any, dataset: Any, horizon: int) -> tuple[Tensor, Tensor]:
    """How well the state can be read from a state-anchored model's latents (e.g.
    :class:`~wmplan_agents.models.ConvStateWorldModel`; needs ``to_state`` and
    ``state_features``) on a dataset with true states: ``(model, no_change)``, each
    ``[horizon + 1, F]``, the mean absolute error of every state feature (angles as cos/sin) read
    by ``to_state`` from the encoded first frame (row 0) and from the latent after ``t``
    open-loop model steps (row ``t``), against the true state's features; ``no_change`` reads
    the first frame's latent at every step."""
    if not (hasattr(model, "to_state") and hasattr(model, "state_features")):
        raise ValueError(
            f"{type(model).__name__} has no to_state/state_features (a state-anchored model)"
        )
    if getattr(dataset, "states", None) is None:
        raise ValueError("the dataset has no true states")
    k = action_repeat(model)
    starts = dataset.window_starts(horizon * k)
    if len(starts) == 0:
        raise ValueError(f"no window of {horizon * k} env steps in the dataset")
    device = next(model.parameters()).device
    errs, base = [], []
    for i in range(0, len(starts), 256):
        batch = dataset.batch(starts[i : i + 256], horizon * k, device)
        true = model.state_features(batch["states"][:, ::k])  # [B, horizon + 1, F]
        z = z0 = model.encode(batch["obs"][:, 0])
        acts = model_actions(model, batch["actions"], horizon)
        rows, rows_base = [], []
        for t in range(horizon + 1):
            if t:
                z = model.step(z, acts[:, t - 1])
            rows.append((model.to_state(z) - true[:, t]).abs().sum(0))
            rows_base.append((model.to_state(z0) - true[:, t]).abs().sum(0))
        errs.append(torch.stack(rows))
        base.append(torch.stack(rows_base))
    n = len(starts)
    return sum(errs) / n, sum(base) / n
