"""Two Pillars, Experiment 2: funnel creation on ``WMPlan/RuggedLandscape-v0``.

The energy is a quadratic basin around the goal plus high-frequency sinusoidal ripples. Plain
gradient descent (SGD, fixed step size and step count) is run from uniformly drawn starts on
three landscapes: the true one, a *flat* learned energy (an MLP regressed on the true energy)
and a *HELM* learned energy (the same regression plus high-frequency invariance
``|E(x) - E(x + delta)|^2``, :class:`~wmplan_agents.objectives.HFInvariance`). Basin coverage is
the share of starts whose descent ends within the env's ``success_radius`` of the goal (the
global minimum of the true energy).

"Reaching the global basin" is measured as: the point where the descent on a landscape stops
lies in the basin of attraction of the goal *on the true energy*, i.e. the same descent
continued on the true energy from there ends within ``success_radius`` of the goal. On the true
landscape this is the plain criterion; for a learned landscape it accepts a learned minimum that
sits slightly off the goal (inside the goal's ripple cell) and rejects one in another cell.
Without that polish, ``at_goal`` counts only descents that end within ``success_radius``
directly; both counts are reported.

**Hierarchical mollification** (a second reading of HELM's "mollification", beside the literal
HF-invariance penalty): a coarse level regressed onto ``E(x + delta)``, ``delta ~ N(0, sigma^2
I)`` (``models.energy.smoothed_energy_dataset``), whose least-squares fit is the smoothed energy
``E_sigma`` (ripples shrunk by ``exp(-omega^2 sigma^2 / 2)``, basin unchanged); the fine level is
the flat learned energy (exact targets). Coarse-to-fine descent runs the same SGD on the coarse
level, then on the fine one from where it stopped (and, for the ladder, through every sigma from
the largest down). The same descent on the analytic ``E_sigma`` then the true energy is the
reference a perfect coarse level would give.

Both learned energies are the same :class:`~wmplan_agents.models.EnergyMLP` (same data, seed and
budget) with a random Fourier-feature input layer, so that plain regression *can* fit the
ripples (a plain SiLU MLP at this budget cannot: it learns the smooth basin only, which makes the
flat model a funnel already and the comparison empty). ``ripple_var``, the ripples' variance
over the data, is what a model that learns only the basin leaves as validation MSE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from wmplan_agents.reproduce.common import (
    RunOptions,
    check_positive,
    comparison_table,
    format_rate,
    publish,
    pyplot,
    save_figure,
    wilson_interval,
)

PAPER = {"flat_coverage": 0.043, "helm_coverage": 0.964}
LANDSCAPES = ("true", "flat", "helm")


@dataclass(frozen=True)
class FunnelSettings:
    """Sizes and budgets of Experiment 2 (defaults: the full-size run)."""

    amplitude: float = 0.5
    omega: float = 15.0
    env_seed: int = 0  # reset seed: fixes the goal
    data_samples: int = 20_000
    hidden: int = 128
    depth: int = 3
    fourier_features: int = 64  # 0: a plain MLP (cannot fit the ripples at this budget)
    fourier_scale: float = 8.0
    epochs: int = 60
    batch_size: int = 256
    lr: float = 3e-3
    hf_weight: float = 20.0
    hf_sigma: float = 0.1  # ~ wavelength / 4; at the wavelength (0.42) no funnel forms
    n_starts: int = 500
    gd_lr: float = 0.004
    gd_steps: int = 3000
    mollify_sigmas: tuple[float, ...] = (0.1, 0.2, 0.3)  # coarse levels; () to skip
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive(omega=self.omega, data_samples=self.data_samples, hidden=self.hidden)
        check_positive(epochs=self.epochs, n_starts=self.n_starts, gd_lr=self.gd_lr)
        check_positive(gd_steps=self.gd_steps, hf_sigma=self.hf_sigma, lr=self.lr)
        check_positive(fourier_scale=self.fourier_scale)
        if self.fourier_features < 0:
            raise ValueError(f"fourier_features must be >= 0, got {self.fourier_features}")
        if any(not sg > 0 for sg in self.mollify_sigmas):
            raise ValueError(f"mollify_sigmas must be positive, got {self.mollify_sigmas!r}")
        if self.hf_weight < 0 or self.amplitude < 0:
            raise ValueError(
                f"hf_weight and amplitude must be >= 0, got {self.hf_weight}, {self.amplitude}"
            )


@dataclass
class FunnelResult:
    """Coverage (share of starts reaching the goal) per landscape, with Wilson 95% intervals."""

    settings: FunnelSettings
    goal: list[float]
    reached: dict[str, int]  # ended in the true global basin
    at_goal: dict[str, int]  # ended within success_radius of the goal without polishing
    n_starts: int
    coverage: dict[str, float]
    interval: dict[str, tuple[float, float]]
    val_mse: dict[str, float]  # learned energies: validation MSE to the true energy
    ripple_var: float = 0.0  # variance of the ripple term over the data (smooth-fit MSE)
    # coarse-to-fine descent: arm -> starts that reached the basin (learned coarse levels
    # "sigma=0.2", the ladder "ladder", and the analytic E_sigma references "analytic sigma=0.2")
    mollified: dict[str, int] = field(default_factory=dict)
    # learned coarse level: RMS error to the analytic E_sigma on fresh points, and E_sigma's std
    coarse_rmse: dict[str, float] = field(default_factory=dict)
    smoothed_std: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def _env(s: FunnelSettings) -> Any:
    import wmplan_envs  # noqa: F401

    env = gym.make("WMPlan/RuggedLandscape-v0", amplitude=s.amplitude, omega=s.omega).unwrapped
    env.reset(seed=s.env_seed)
    return env


def train_energies(s: FunnelSettings, env: Any, progress: bool = False) -> tuple[dict, dict]:
    """The flat and HELM learned energies and their validation MSE to the true energy."""
    from wmplan_agents.models import EnergyMLP
    from wmplan_agents.models.energy import energy_dataset
    from wmplan_agents.training import train

    data = energy_dataset(env, s.data_samples, env._goal, seed=s.seed)
    models, val = {}, {}
    for name, hf_weight in (("flat", 0.0), ("helm", s.hf_weight)):
        model = EnergyMLP(
            2,
            hidden=s.hidden,
            depth=s.depth,
            fourier_features=s.fourier_features,
            fourier_scale=s.fourier_scale,
            seed=s.seed,
        )
        objective = model.default_objective(hf_weight=hf_weight, hf_sigma=s.hf_sigma)
        res = train(
            model,
            data,
            objective,
            epochs=s.epochs,
            batch_size=s.batch_size,
            lr=s.lr,
            patience=s.epochs,
            seed=s.seed,
            progress=progress,
        )
        models[name] = model
        val[name] = res.parts.get("energy", res.val_loss)[res.best_epoch]
    return models, val


def train_coarse(s: FunnelSettings, env: Any, sigma: float, progress: bool = False) -> Any:
    """A coarse level regressed onto ``E(x + delta)`` (the smoothed energy ``E_sigma`` in
    expectation): the flat model's width, depth and budget without the Fourier features, since
    its target is smooth (with them it fits the targets' noise: RMS error to ``E_sigma`` 0.10
    instead of 0.07 at a small budget)."""
    from wmplan_agents.models import EnergyMLP
    from wmplan_agents.models.energy import smoothed_energy_dataset
    from wmplan_agents.training import train

    data = smoothed_energy_dataset(env, s.data_samples, env._goal, sigma, seed=s.seed)
    model = EnergyMLP(2, hidden=s.hidden, depth=s.depth, fourier_features=0, seed=s.seed)
    train(
        model, data, model.default_objective(), epochs=s.epochs, batch_size=s.batch_size,
        lr=s.lr, patience=s.epochs, seed=s.seed, progress=progress,
    )  # fmt: skip
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def coarse_to_fine(levels: list[Any], starts: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """Descend each energy of ``levels`` in turn (coarsest first), each from where the
    previous one stopped; the final points."""
    x = starts
    for level in levels:
        x = descend(level, x, lr, steps)
    return x


def ripple_variance(env: Any, s: FunnelSettings) -> float:
    """Variance of the ripple term ``E(x) - |x - x*|^2`` over the training points."""
    x = np.random.default_rng(s.seed).uniform(-env.bound, env.bound, size=(s.data_samples, 2))
    ripples = env.energy(x) - np.sum((x - env._goal) ** 2, axis=-1)
    return float(np.var(ripples))


def descend(energy: Any, starts: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """Plain SGD on ``energy(x) -> [N]`` from ``starts [N, 2]``; the final points."""
    x = torch.tensor(starts, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.SGD([x], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        energy(x).sum().backward()
        opt.step()
    return x.detach().numpy()


def energy_functions(env: Any, models: dict[str, Any]) -> dict[str, Any]:
    """``name -> (x [N, 2] -> E [N])`` for the three landscapes."""
    goal = torch.as_tensor(env._goal, dtype=torch.float32)
    fns = {"true": lambda x: env.energy_torch(x, goal.to(x))}
    for name, model in models.items():
        for p in model.parameters():
            p.requires_grad_(False)
        fns[name] = model.energy
    return fns


def run(s: FunnelSettings, progress: bool = False) -> tuple[FunnelResult, dict[str, Any]]:
    """Train both energies and descend on all three; also returns the energy functions and the
    final points (for the plot)."""
    env = _env(s)
    models, val = train_energies(s, env, progress)
    fns = energy_functions(env, models)
    rng = np.random.default_rng(s.seed)
    starts = rng.uniform(-env.bound, env.bound, size=(s.n_starts, 2))
    goal = env._goal.copy()
    reached, at_goal, coverage, interval, finals = {}, {}, {}, {}, {}
    for name in LANDSCAPES:
        final = descend(fns[name], starts, s.gd_lr, s.gd_steps)
        at_goal[name] = int((np.linalg.norm(final - goal, axis=-1) < env.success_radius).sum())
        polished = final if name == "true" else descend(fns["true"], final, s.gd_lr, s.gd_steps)
        ok = np.linalg.norm(polished - goal, axis=-1) < env.success_radius
        finals[name] = (final, ok)
        reached[name] = int(ok.sum())
        coverage[name] = reached[name] / s.n_starts
        interval[name] = wilson_interval(reached[name], s.n_starts)
    result = FunnelResult(s, goal.tolist(), reached, at_goal, s.n_starts, coverage, interval, val)
    result.ripple_var = ripple_variance(env, s)
    mollify(s, env, fns, starts, result, progress)
    return result, {"env": env, "fns": fns, "starts": starts, "finals": finals}


def mollify(
    s: FunnelSettings, env: Any, fns: dict[str, Any], starts: np.ndarray, result: FunnelResult,
    progress: bool = False,
) -> None:  # fmt: skip
    """The coarse-to-fine arms (module docstring), into ``result``."""
    goal = torch.as_tensor(env._goal, dtype=torch.float32)
    fresh = np.random.default_rng(s.seed + 1).uniform(-env.bound, env.bound, size=(4000, 2))
    fresh_t = torch.as_tensor(fresh, dtype=torch.float32)

    def reached(final: np.ndarray) -> int:
        polished = descend(fns["true"], final, s.gd_lr, s.gd_steps)
        return int((np.linalg.norm(polished - env._goal, axis=-1) < env.success_radius).sum())

    coarse = {}
    for sigma in sorted(s.mollify_sigmas, reverse=True):
        key = f"sigma={sigma:g}"
        model = train_coarse(s, env, sigma, progress)
        coarse[sigma] = model.energy
        with torch.no_grad():
            exact = env.smoothed_energy(fresh_t.double(), goal.double(), sigma)
            err = model.energy(fresh_t).double() - exact
        result.coarse_rmse[key] = float(err.pow(2).mean().sqrt())
        result.smoothed_std[key] = float(exact.std())
        final = coarse_to_fine([model.energy, fns["flat"]], starts, s.gd_lr, s.gd_steps)
        result.mollified[key] = reached(final)

        def analytic(x: torch.Tensor, _sigma: float = sigma) -> torch.Tensor:
            return env.smoothed_energy(x, goal.to(x), _sigma)

        final = coarse_to_fine([analytic, fns["true"]], starts, s.gd_lr, s.gd_steps)
        result.mollified[f"analytic {key}"] = reached(final)
    if len(coarse) > 1:
        levels = [coarse[sg] for sg in sorted(coarse, reverse=True)] + [fns["flat"]]
        result.mollified["ladder"] = reached(coarse_to_fine(levels, starts, s.gd_lr, s.gd_steps))


def table(result: FunnelResult) -> str:
    n = result.n_starts
    rows = [
        ("basin coverage, true landscape", format_rate(result.reached["true"], n), "not reported"),
        (
            "basin coverage, flat learned",
            format_rate(result.reached["flat"], n),
            f"{100 * PAPER['flat_coverage']:.1f}%",
        ),
        (
            "basin coverage, HELM learned",
            format_rate(result.reached["helm"], n),
            f"{100 * PAPER['helm_coverage']:.1f}%",
        ),
        ("flat: descents ending at the goal itself", str(result.at_goal["flat"]), "not reported"),
        ("HELM: descents ending at the goal itself", str(result.at_goal["helm"]), "not reported"),
        ("flat energy val MSE", f"{result.val_mse['flat']:.3g}", "not reported"),
        ("HELM energy val MSE", f"{result.val_mse['helm']:.3g}", "not reported"),
        ("ripple variance (MSE of a smooth fit)", f"{result.ripple_var:.3g}", "not reported"),
    ]
    for key, count in result.mollified.items():
        label = (
            f"coarse-to-fine, {key} then the true energy" if key.startswith("analytic")
            else f"coarse-to-fine, learned {key} then flat"
            + (f" (coarse RMSE to E_sigma {result.coarse_rmse[key]:.3g}, E_sigma std "
               f"{result.smoothed_std[key]:.3g})" if key in result.coarse_rmse else "")
        )  # fmt: skip
        rows.append((label, format_rate(count, n), f"{100 * PAPER['helm_coverage']:.1f}% (HELM)"))
    return comparison_table(
        rows, title="Two Pillars Exp. 2: funnel creation (RuggedLandscape), Wilson 95% in []"
    )


def plot(result: FunnelResult, extra: dict[str, Any], path: Path) -> Path:
    """Contours of the three landscapes; starts green if their descent reached the goal."""
    plt = pyplot()
    env, fns, starts = extra["env"], extra["fns"], extra["starts"]
    axis = np.linspace(-env.bound, env.bound, 161)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
    titles = {"true": "true energy", "flat": "flat learned", "helm": "HELM learned (HF inv.)"}
    for ax, name in zip(axes, LANDSCAPES, strict=True):
        with torch.no_grad():
            e = fns[name](torch.as_tensor(grid, dtype=torch.float32)).numpy()
        ax.contourf(axis, axis, e.reshape(len(axis), len(axis)), levels=30, cmap="viridis")
        _, ok = extra["finals"][name]
        ax.scatter(*starts[~ok].T, s=3, c="red", label="stuck")
        ax.scatter(*starts[ok].T, s=3, c="lime", label="reached goal")
        ax.plot(*result.goal, marker="*", ms=14, c="white", mec="k")
        ax.set_title(f"{titles[name]}: {100 * result.coverage[name]:.1f}%")
        ax.set_aspect("equal")
    axes[0].legend(loc="lower left", fontsize=7)
    return save_figure(fig, path)


def plot_sigma(result: FunnelResult, path: Path) -> Path:
    """Coverage of coarse-to-fine descent against the coarse level's sigma (learned and
    analytic), beside the HF-invariance arm, the flat arm and the paper's HELM number."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    n = result.n_starts
    sig = sorted(float(k.split("=")[1]) for k in result.coarse_rmse)
    ax.plot(sig, [100 * result.mollified[f"sigma={v:g}"] / n for v in sig], "o-",
            label="learned coarse level, then flat")  # fmt: skip
    ax.plot(sig, [100 * result.mollified[f"analytic sigma={v:g}"] / n for v in sig], "s--",
            label="analytic E_sigma, then true")  # fmt: skip
    ax.axhline(100 * result.coverage["helm"], color="tab:red", ls=":", label="HF invariance")
    ax.axhline(100 * result.coverage["flat"], color="grey", ls=":", label="flat")
    ax.axhline(100 * PAPER["helm_coverage"], color="k", ls="-.", label="paper (HELM)")
    ax.set_xlabel("sigma of the coarse level")
    ax.set_ylabel(f"basin coverage (%, {n} starts)")
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def reproduce(s: FunnelSettings, opts: RunOptions) -> FunnelResult:
    """Run, print the table, save ``funnel.png`` and ``funnel.json``."""
    out = opts.out
    result, extra = run(s, opts.progress)
    result.files["plot"] = str(plot(result, extra, out / "funnel.png"))
    if result.coarse_rmse:
        result.files["sigma_plot"] = str(plot_sigma(result, out / "funnel_sigma.png"))
    publish(result, out / "funnel.json", PAPER, table(result), opts.echo)
    return result
