"""The reproductions of the Two Pillars experiments, run at a tiny size (full-size numbers are in
docs/results.md): outputs are produced, well formed, and the robust claims hold."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from wmplan_agents.reproduce import REPRODUCTIONS, make_settings, reproduce
from wmplan_agents.reproduce.common import wilson_interval
from wmplan_agents.reproduce.spectral_cliff import rollout_jacobian_norms


def test_wilson_interval_known_values_and_errors():
    lo, hi = wilson_interval(0, 50)
    assert lo == 0.0 and hi == pytest.approx(0.07135, abs=1e-4)
    lo, hi = wilson_interval(50, 50)
    assert lo == pytest.approx(1 - 0.07135, abs=1e-4) and hi == 1.0
    lo, hi = wilson_interval(25, 50)
    assert lo < 0.5 < hi and lo + hi == pytest.approx(1.0)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(3, 2)
    with pytest.raises(ValueError, match="n=0"):
        wilson_interval(0, 0)


def test_registry_names_and_settings_errors():
    assert {"spectral-cliff", "funnel", "minigrid"} <= set(REPRODUCTIONS)
    for name in ("spectral-cliff", "funnel", "minigrid"):
        cls, fn = REPRODUCTIONS[name].load()
        assert callable(fn) and isinstance(make_settings(name), cls)
    with pytest.raises(ValueError, match="no settings"):
        make_settings("funnel", bogus=1)
    with pytest.raises(ValueError, match="unknown reproduction"):
        make_settings("nope")
    with pytest.raises(ValueError, match="positive"):
        make_settings("funnel", n_starts=0)


class _Linear(nn.Module):
    def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.w = torch.as_tensor(w, dtype=torch.float32)
        self.b = torch.as_tensor(b, dtype=torch.float32)

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z @ self.w.T + a @ self.b.T


def test_rollout_jacobian_norm_of_the_true_system_is_w_power_b():
    import gymnasium as gym

    import wmplan_envs  # noqa: F401

    env = gym.make("WMPlan/LinearExpansive-v0").unwrapped
    gen = torch.Generator().manual_seed(0)
    z0 = torch.randn(3, 4, generator=gen)
    acts = torch.rand(3, 12, 4, generator=gen) * 2 - 1
    norms = rollout_jacobian_norms(_Linear(env.W, env.B), z0, acts)
    expected = [np.linalg.norm(np.linalg.matrix_power(env.W, t) @ env.B, 2) for t in range(12)]
    np.testing.assert_allclose(norms, np.tile(expected, (3, 1)), rtol=1e-4)


def _json(result) -> dict:
    with open(result.files["json"]) as f:
        return json.load(f)


def test_spectral_cliff_tiny(tmp_path):
    lines: list[str] = []
    r = reproduce(
        "spectral-cliff",
        tmp_path,
        echo=lines.append,
        data_steps=600,
        episode_steps=20,
        hidden=16,
        epochs=2,
        max_horizon=12,
        n_rollouts=4,
        coarse_k=4,
        n_plans=3,
    )
    assert (tmp_path / "spectral_cliff.png").stat().st_size > 0
    # the hierarchy: norms through the coarse level at T = 4, 8, 12, and three planning arms
    assert r.coarse_horizons == [4, 8, 12] and all(v > 0 for v in r.coarse_norm)
    assert set(r.planning) == {"flat", "coarse", "coarse-to-fine"}
    for arm, (ok, t) in r.planning.items():  # success = the plan ends inside the success radius
        assert ok == sum(d < r.success_radius for d in r.planning_distance[arm]) and t > 0
        assert len(r.planning_distance[arm]) == 3
    assert "coarse level" in lines[0]
    data = _json(r)
    assert data["paper"]["flat_norm_T50"] == 1712.0
    assert "1712" in lines[0] and "T=12" in lines[0]
    # the true system's norm grows like expansion^T (spectral radius 1.15)
    true = np.asarray(r.true_norm)
    assert len(true) == 12 and true[-1] / true[-2] == pytest.approx(1.15, rel=0.05)
    for name in ("flat", "helm"):
        assert len(r.norm[name]) == len(r.rel_error[name]) == 12
        assert all(math.isfinite(v) and v >= 0 for v in r.norm[name] + r.rel_error[name])
    assert data["result"]["norm"]["flat"] == pytest.approx(r.norm["flat"])


def test_funnel_tiny(tmp_path):
    lines: list[str] = []
    r = reproduce(
        "funnel",
        tmp_path,
        echo=lines.append,
        data_samples=1000,
        hidden=16,
        depth=2,
        fourier_features=8,
        epochs=2,
        n_starts=100,
        gd_steps=1000,
        mollify_sigmas=(0.1, 0.2),
    )
    assert (tmp_path / "funnel.png").stat().st_size > 0
    assert (tmp_path / "funnel_sigma.png").stat().st_size > 0
    assert set(r.mollified) == {
        "sigma=0.1", "sigma=0.2", "analytic sigma=0.1", "analytic sigma=0.2", "ladder"
    }  # fmt: skip
    assert all(0 <= v <= 100 for v in r.mollified.values())  # counts of the 100 starts
    # GD on the analytically smoothed landscape (sigma 0.2) reaches the global basin from
    # (almost) every start, where GD on the rugged one does not
    assert r.mollified["analytic sigma=0.2"] >= 90 > r.reached["true"]
    assert any("coarse-to-fine" in line for line in lines[0].splitlines())
    # the ripples 0.5 * (2 - cos(15 dx) - cos(15 dy)) have variance 2 * 0.5^2 / 2 = 0.25
    assert r.ripple_var == pytest.approx(0.25, rel=0.15)
    assert "96.4%" in lines[0]
    for name in ("true", "flat", "helm"):
        lo, hi = r.interval[name]
        assert r.coverage[name] == r.reached[name] / 100 and lo <= r.coverage[name] <= hi
        assert r.at_goal[name] <= 100
    # the robust claim: plain GD on the true rugged landscape rarely reaches the global basin
    assert r.coverage["true"] <= 0.25
    assert r.at_goal["true"] == r.reached["true"]
    assert _json(r)["result"]["reached"] == r.reached


def test_minigrid_tiny(tmp_path):
    lines: list[str] = []
    r = reproduce(
        "minigrid",
        tmp_path,
        echo=lines.append,
        data_steps=800,
        mse_epochs=1,
        contrastive_epochs=2,
        horizon=4,
        replan_every=2,
        gd_iterations=3,
        gd_restarts=2,
        n_episodes=3,
        max_episode_steps=4,
    )
    assert (tmp_path / "minigrid.png").stat().st_size > 0
    assert "Wilson" in lines[0] and "CEM control" in lines[0]
    for name in ("mse", "helm", "contrastive", "helm+contrastive"):
        assert len(r.final_distance[name]) == 3 and len(r.cem_final_distance[name]) == 3
        # success means the episode ends with the agent on the goal cell (grid distance 0)
        assert r.cem_successes[name] == sum(d == 0.0 for d in r.cem_final_distance[name])
        assert r.successes[name] == sum(d == 0.0 for d in r.final_distance[name])
        g = r.grad_stats[name]  # GD through a trained model gets real, finite gradients
        assert math.isfinite(g["median_norm"]) and g["median_norm"] > 0
        assert all(0 <= d <= math.hypot(5, 5) + 1e-9 for d in r.final_distance[name])
        # success means the agent stands on the goal cell
        assert (r.fixed_start_distance[name] == 0.0) == r.fixed_start_success[name]
    # the MSE model's latent is the one-hot state: every cell equally far from every other
    assert abs(r.latent_grid_spearman["mse"]) < 0.3
    assert len(r.start_distance) == 3 and _json(r)["result"]["successes"] == r.successes


def test_cli_reproduce_rejects_unknown_name_and_setting(tmp_path):
    from typer.testing import CliRunner

    from wmplan_agents.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["reproduce", "nope"])
    assert res.exit_code != 0 and "spectral-cliff" in res.output
    res = runner.invoke(app, ["reproduce", "funnel", "--out", str(tmp_path), "--set", "bogus=1"])
    assert res.exit_code != 0 and "bogus" in res.output
    assert not any(tmp_path.iterdir())


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    from wmplan_agents.reproduce.common import spearman

    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 200).astype(float)  # many ties
    b = a + rng.normal(size=200)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert spearman(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)


def test_smoothed_targets_regress_onto_the_smoothed_energy():
    # a coarse level fitted to E(x + delta) recovers E_sigma = E * N(0, sigma^2): its RMS
    # error to the closed form is below a tenth of E_sigma's spread (measured 0.034 of it)
    import gymnasium as gym

    from wmplan_agents.reproduce.funnel import FunnelSettings, train_coarse

    s = FunnelSettings(data_samples=20_000, hidden=64, depth=2, epochs=30)
    env = gym.make("WMPlan/RuggedLandscape-v0").unwrapped
    env.reset(seed=s.env_seed)
    model = train_coarse(s, env, 0.2)
    x = torch.rand(2000, 2, generator=torch.Generator().manual_seed(5)) * 2 - 1
    goal = torch.as_tensor(env._goal, dtype=torch.float32)
    exact = env.smoothed_energy(x.double(), goal.double(), 0.2)
    with torch.no_grad():
        rmse = float((model.energy(x).double() - exact).pow(2).mean().sqrt())
    assert rmse < 0.1 * float(exact.std()), (rmse, float(exact.std()))
    # and the closed form is the Monte Carlo mean of E(x + delta)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (4, 2))
    mc = np.mean([env.energy(pts + rng.normal(0, 0.2, pts.shape)) for _ in range(40_000)], axis=0)
    np.testing.assert_allclose(mc, env.smoothed_energy(pts, env._goal, 0.2), atol=0.01)


def test_coarse_to_fine_on_the_smoothed_landscape_reaches_the_basin():
    # descend E_sigma, then the true rugged energy: the basin from >= 90% of uniform starts
    # (measured 100% at sigma 0.15-0.3; plain descent on the true energy: about 5%)
    import gymnasium as gym

    from wmplan_agents.reproduce.funnel import coarse_to_fine, descend

    env = gym.make("WMPlan/RuggedLandscape-v0").unwrapped
    env.reset(seed=3)
    goal = torch.as_tensor(env._goal, dtype=torch.float32)

    def true(x):
        return env.energy_torch(x, goal.to(x))

    def smooth(x):
        return env.smoothed_energy(x, goal.to(x), 0.2)

    starts = np.random.default_rng(11).uniform(-1, 1, (300, 2))
    ok = lambda f: np.linalg.norm(f - env._goal, axis=-1) < env.success_radius  # noqa: E731
    assert ok(coarse_to_fine([smooth, true], starts, 0.004, 3000)).mean() >= 0.9
    assert ok(descend(true, starts, 0.004, 3000)).mean() < 0.3


def test_gradient_stats_summarise_gd_norms():
    from wmplan_agents.reproduce.minigrid_alignment import gradient_stats

    # two plans, [iterations, B, R]: norms 1 and 3 across two restarts, one NaN, one explosion
    a = torch.tensor([[[1.0, 3.0]], [[1.0, 3.0]]])
    b = torch.tensor([[[float("nan"), 2.0]], [[2e3, 2e3]]])
    g = gradient_stats([a, b], explosion=1e3)
    assert g["nonfinite"] == 1 and g["explosions"] == 2
    assert g["median_norm"] == 3.0  # of 1, 3, 1, 3, 2, 2e3, 2e3
    # coefficient of variation over the rows without a NaN: (1, 3) twice, (2e3, 2e3) once
    cv13 = float(torch.tensor([1.0, 3.0]).std() / 2.0)
    assert g["restart_cv"] == pytest.approx((2 * cv13 + 0.0) / 3)
    # GD records one norm per restart and iteration, NaN where the cost was non-finite
    from wmplan_agents.planners import make_planner

    class Lin(nn.Module):
        action_space = gym.spaces.Box(-1.0, 1.0, (2,))

        def encode(self, x):
            return x

        def step(self, z, a):
            return z + a

    res = make_planner("gd", iterations=4, n_restarts=3).plan(
        Lin(), torch.zeros(2, 2), torch.ones(2, 2), 3
    )
    assert res.info["grad_norm"].shape == (4, 2, 3) and bool((res.info["grad_norm"] >= 0).all())
