"""LinearExpansive and RuggedLandscape: the properties the Two Pillars experiments rely on."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import wmplan_envs  # noqa: F401


@pytest.mark.parametrize(("dim", "expansion"), [(4, 1.15), (6, 1.3), (1, 1.05)])
def test_linear_spectral_radius_equals_expansion(dim: int, expansion: float) -> None:
    env = gym.make("WMPlan/LinearExpansive-v0", dim=dim, expansion=expansion).unwrapped
    radius = np.max(np.abs(np.linalg.eigvals(env.W)))
    assert radius == pytest.approx(expansion, rel=1e-9)


def test_linear_system_is_fixed_by_system_seed() -> None:
    a = gym.make("WMPlan/LinearExpansive-v0", system_seed=3).unwrapped
    b = gym.make("WMPlan/LinearExpansive-v0", system_seed=3).unwrapped
    c = gym.make("WMPlan/LinearExpansive-v0", system_seed=4).unwrapped
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.B, b.B)
    assert not np.allclose(a.W, c.W)
    w_before = a.W.copy()
    a.reset(seed=0)
    a.reset(seed=1)
    np.testing.assert_array_equal(a.W, w_before)


def test_linear_rollout_jacobian_grows_like_expansion_power() -> None:
    env = gym.make("WMPlan/LinearExpansive-v0").unwrapped
    horizons = np.arange(5, 51, 5)
    norms = []
    for horizon in horizons:
        s0 = torch.zeros(1, env.dim, dtype=torch.float64)
        actions = torch.zeros(horizon, 1, env.dim, dtype=torch.float64, requires_grad=True)

        def final_state(a0: torch.Tensor, actions=actions, s0=s0) -> torch.Tensor:
            s = env.transition_torch(s0, a0)
            for t in range(1, len(actions)):
                s = env.transition_torch(s, actions[t].detach())
            return s[0]

        jac = torch.autograd.functional.jacobian(final_state, actions[0].detach())
        norms.append(torch.linalg.matrix_norm(jac[:, 0, :], ord=2).item())
    slope = np.polyfit(horizons, np.log(norms), 1)[0]
    assert slope == pytest.approx(np.log(1.15), rel=0.10)


def test_linear_torch_transition_matches_step() -> None:
    env = gym.make("WMPlan/LinearExpansive-v0").unwrapped
    obs, _ = env.reset(seed=2)
    action = np.array([0.3, -0.9, 1.0, 0.1], dtype=np.float32)
    expected = env.transition_torch(
        torch.tensor(env._state[None]), torch.tensor(action[None], dtype=torch.float64)
    )
    obs, *_ = env.step(action)
    np.testing.assert_allclose(obs["observation"], expected[0].numpy(), rtol=1e-6)


def test_linear_reaches_goal_with_exact_inverse_control() -> None:
    env = gym.make("WMPlan/LinearExpansive-v0").unwrapped
    obs, info = env.reset(seed=0)
    s, g = info["state"].astype(np.float64), info["goal_state"].astype(np.float64)
    for _ in range(50):
        a = np.clip(np.linalg.solve(env.B, g - env.W @ s), -1, 1)
        obs, reward, terminated, _, info = env.step(a.astype(np.float32))
        s = info["state"].astype(np.float64)
        if terminated:
            break
    assert info["is_success"] and terminated


def _gd_on_energy(env, starts: np.ndarray, goal: np.ndarray, steps: int = 3000) -> np.ndarray:
    x = torch.tensor(starts, requires_grad=True)
    g = torch.tensor(goal)
    opt = torch.optim.SGD([x], lr=0.004)
    for _ in range(steps):
        opt.zero_grad()
        env.energy_torch(x, g).sum().backward()
        opt.step()
    return x.detach().numpy()


@pytest.mark.parametrize(("amplitude", "low", "high"), [(0.5, 0.0, 0.25), (0.0, 0.98, 1.0)])
def test_rugged_gradient_descent_basin_coverage(amplitude: float, low: float, high: float) -> None:
    env = gym.make("WMPlan/RuggedLandscape-v0", amplitude=amplitude).unwrapped
    env.reset(seed=0)
    goal = env._goal.copy()
    rng = np.random.default_rng(0)
    starts = rng.uniform(-env.bound, env.bound, size=(500, 2))
    final = _gd_on_energy(env, starts, goal)
    reached = np.linalg.norm(final - goal, axis=-1) < env.success_radius
    assert low <= reached.mean() <= high, reached.mean()


def test_rugged_goal_is_global_minimum_and_torch_energy_agrees() -> None:
    env = gym.make("WMPlan/RuggedLandscape-v0").unwrapped
    env.reset(seed=4)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, 201)] * 2), axis=-1).reshape(-1, 2)
    e = env.energy(grid)
    assert env.energy(env._goal) == 0.0
    assert e.min() >= 0.0
    torch_e = env.energy_torch(torch.tensor(grid), torch.tensor(env._goal)).numpy()
    np.testing.assert_allclose(torch_e, e, rtol=1e-10, atol=1e-12)
    # rugged: the 1-D slice through the goal has many strict local minima
    line = env._goal + np.stack([np.linspace(-1, 1, 2001), np.zeros(2001)], axis=-1)
    el = env.energy(line)
    n_minima = np.sum((el[1:-1] < el[:-2]) & (el[1:-1] < el[2:]))
    assert n_minima >= 5


def test_rugged_step_matches_torch_transition_and_reward_is_negative_energy() -> None:
    env = gym.make("WMPlan/RuggedLandscape-v0").unwrapped
    env.reset(seed=1)
    start = env._pos.copy()
    action = np.array([0.5, -2.0], dtype=np.float32)  # second coordinate clipped to -1
    obs, reward, *_ = env.step(action)
    expected = env.transition_torch(torch.tensor(start[None]), torch.tensor(action[None]).double())
    np.testing.assert_allclose(obs["observation"], expected[0].numpy(), rtol=1e-6)
    expected_e = env.energy(obs["observation"], obs["desired_goal"])
    assert reward == pytest.approx(-expected_e, rel=1e-12)
