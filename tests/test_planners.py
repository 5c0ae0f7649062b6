"""Planners on problems with a known optimum: linear-quadratic (closed form) and NaN models."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from wmplan_agents.contracts import PlanningError, action_bounds
from wmplan_agents.planners import make_planner

PLANNER_NAMES = ["cem", "icem", "mppi", "gd", "random"]
STOCHASTIC = ["cem", "icem", "mppi", "gd", "random"]
# Small settings that keep the suite fast.
FAST = {
    "cem": {"n_samples": 200, "n_elites": 20, "iterations": 25},
    "icem": {"iterations": 8},
    "mppi": {"iterations": 30, "noise_std": 0.1},
    "gd": {"iterations": 60, "n_restarts": 4},
    "random": {"n_samples": 2000},
}
# The stated factor of the closed-form optimum each planner reaches on the LQ problem (horizon 5,
# 10 action dimensions). Random shooting cannot search 10 dimensions with 2000 samples, so it is
# held to its factor on a horizon-2 problem with goals twice as far (4 dimensions).
FACTOR = {"cem": 1.05, "icem": 1.5, "mppi": 1.1, "gd": 1.02, "random": 1.5}
LQ_SETUP = {"random": {"h": 2, "goal_scale": 2.0}}
LAM = 1.0  # action penalty of the LQ cost (large enough that the optimum cost is not tiny)


class LinearModel(nn.Module):
    """``z' = A z + B a``: a plain ``nn.Module`` world model, no subclassing of anything."""

    def __init__(self, a_mat: torch.Tensor, b_mat: torch.Tensor, bound: float) -> None:
        super().__init__()
        self.register_buffer("a_mat", a_mat)
        self.register_buffer("b_mat", b_mat)
        d = b_mat.shape[1]
        self.action_space = gym.spaces.Box(-bound, bound, (d,), dtype=np.float32)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z @ self.a_mat.T + a @ self.b_mat.T


def lq_cost(z_traj: torch.Tensor, actions: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
    return ((z_traj[:, -1] - z_goal) ** 2).sum(-1) + LAM * (actions**2).sum((-1, -2))


def lq_problem(b: int = 3, h: int = 5, bound: float = 3.0, goal_scale: float = 1.0):
    gen = torch.Generator().manual_seed(0)
    theta = 0.3
    rot = torch.tensor([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    a_mat = (1.05 * rot).double()
    b_mat = torch.tensor([[1.0, 0.2], [0.0, 0.8]], dtype=torch.float64)
    model = LinearModel(a_mat, b_mat, bound)
    z0 = torch.randn(b, 2, generator=gen, dtype=torch.float64)
    goal = 3.0 * goal_scale * torch.randn(b, 2, generator=gen, dtype=torch.float64)
    return model, z0, goal, h


def lq_optimum(model: LinearModel, z0: torch.Tensor, goal: torch.Tensor, h: int):
    """Closed form: ``z_H = A^H z0 + M a``; minimise ``|M a + c - g|^2 + LAM |a|^2``."""
    a_mat, b_mat = model.a_mat, model.b_mat
    m = torch.cat([torch.linalg.matrix_power(a_mat, h - 1 - t) @ b_mat for t in range(h)], dim=1)
    c = z0 @ torch.linalg.matrix_power(a_mat, h).T
    lhs = m.T @ m + LAM * torch.eye(m.shape[1], dtype=m.dtype)
    acts = torch.linalg.solve(lhs, ((goal - c) @ m).T).T.reshape(z0.shape[0], h, -1)
    z_h = c + acts.reshape(z0.shape[0], -1) @ m.T
    cost = ((z_h - goal) ** 2).sum(-1) + LAM * (acts**2).sum((-1, -2))
    return acts, cost


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_lq_reaches_closed_form_optimum(name: str) -> None:
    model, z0, goal, h = lq_problem(**LQ_SETUP.get(name, {}))
    opt_actions, opt_cost = lq_optimum(model, z0, goal, h)
    assert float(opt_actions.abs().max()) < 3.0, "bounds must not bind for the closed form"
    planner = make_planner(name, seed=0, **FAST[name])
    start = time.perf_counter()
    res = planner.plan(model, z0, goal, horizon=h, cost=lq_cost)
    wall = time.perf_counter() - start
    assert res.actions.shape == opt_actions.shape
    recomputed = lq_cost(torch.stack(_roll(model, z0, res.actions), 1), res.actions, goal)
    torch.testing.assert_close(res.cost, recomputed)
    assert bool((res.cost >= opt_cost - 1e-9).all()), "a plan cannot beat the closed form"
    assert bool((res.cost <= FACTOR[name] * opt_cost).all()), (res.cost, opt_cost)
    hist = res.info["cost_history"]
    assert hist.shape == (res.info["iterations"], 3)
    assert bool((hist[1:] <= hist[:-1] + 1e-12).all()), "best cost never increases"
    assert 0 < res.info["time_s"] <= wall  # the plan's own wall time, checks included


def _roll(model, z0, actions):
    z, out = z0, []
    for t in range(actions.shape[1]):
        z = model.step(z, actions[:, t])
        out.append(z)
    return out


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_bounds_respected_when_they_bind(name: str) -> None:
    model, z0, goal, h = lq_problem(bound=0.3)  # far goal: the optimum presses on the bounds
    res = make_planner(name, seed=1, **FAST[name]).plan(model, z0, 10 * goal, horizon=h)
    low, high = action_bounds(model, dtype=torch.float64)
    assert bool(((res.actions >= low) & (res.actions <= high)).all())
    assert bool((res.actions.abs() >= 0.3 - 1e-3).any()), "the bounds should bind here"
    assert bool(torch.isfinite(res.cost).all())


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_seeded_and_batch_independent(name: str) -> None:
    model, z0, goal, h = lq_problem(b=3)
    kw = FAST[name]
    res = make_planner(name, seed=5, **kw).plan(model, z0, goal, horizon=h, cost=lq_cost)
    again = make_planner(name, seed=5, **kw).plan(model, z0, goal, horizon=h, cost=lq_cost)
    torch.testing.assert_close(res.actions, again.actions, rtol=0, atol=0)
    for b in range(3):
        single = make_planner(name, seed=5, **kw).plan(
            model, z0[b : b + 1], goal[b : b + 1], horizon=h, cost=lq_cost
        )
        torch.testing.assert_close(single.actions[0], res.actions[b], rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(single.cost[0], res.cost[b], rtol=1e-9, atol=1e-9)
    if name in STOCHASTIC:
        other = make_planner(name, seed=6, **kw).plan(model, z0, goal, horizon=h, cost=lq_cost)
        if name == "gd":  # convex problem: the centre restart wins for any seed; others differ
            assert not torch.equal(other.info["restart_cost"], res.info["restart_cost"])
        else:
            assert not torch.equal(other.actions, res.actions)


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_reseed_every_plan_makes_plans_pure_functions_of_inputs(name: str) -> None:
    model, z0, goal, h = lq_problem(b=2)
    key = "restart_cost" if name == "gd" else None

    def two_plans(reseed: bool):
        planner = make_planner(name, seed=3, reseed_every_plan=reseed, **FAST[name])
        first = planner.plan(model, z0, goal, horizon=h, cost=lq_cost)
        second = planner.plan(model, z0, goal, horizon=h, cost=lq_cost)
        return (first.info[key], second.info[key]) if key else (first.actions, second.actions)

    first, second = two_plans(reseed=True)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    first, second = two_plans(reseed=False)  # the stream continues: the second plan differs
    assert not torch.equal(first, second)


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_warm_start_from_optimum_is_kept(name: str) -> None:
    model, z0, goal, h = lq_problem()
    opt_actions, opt_cost = lq_optimum(model, z0, goal, h)
    kw = {**FAST[name], "iterations": 2}
    res = make_planner(name, seed=0, **kw).plan(
        model, z0, goal, horizon=h, init_actions=opt_actions, cost=lq_cost
    )
    assert bool((res.cost <= opt_cost * 1.01 + 1e-9).all()), (res.cost, opt_cost)


class NaNModel(LinearModel):
    """Returns NaN whenever the first action coordinate exceeds ``threshold``."""

    threshold = 0.0

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        out = super().step(z, a)
        bad = a[:, :1] > self.threshold
        return torch.where(bad, torch.full_like(out, float("nan")), out)


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_nan_outputs_never_become_actions(name: str) -> None:
    base, z0, goal, h = lq_problem()
    model = NaNModel(base.a_mat, base.b_mat, 3.0)
    res = make_planner(name, seed=0, **FAST[name]).plan(model, z0, goal, horizon=h)
    assert bool(torch.isfinite(res.actions).all()) and bool(torch.isfinite(res.cost).all())
    assert bool((res.actions[..., 0] <= 0.0).all()), "a NaN-producing action was returned"
    model.threshold = -10.0  # every action now gives NaN from step 0 on
    with pytest.raises(PlanningError, match="time step 0"):
        make_planner(name, seed=0, **FAST[name]).plan(model, z0, goal, horizon=h)


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_bad_input_is_a_clear_value_error(name: str) -> None:
    model, z0, goal, h = lq_problem()
    planner = make_planner(name, seed=0, **FAST[name])
    with pytest.raises(ValueError, match="horizon"):
        planner.plan(model, z0, goal, horizon=0)
    with pytest.raises(ValueError, match="z_goal"):
        planner.plan(model, z0, goal[:2], horizon=h)
    with pytest.raises(ValueError, match=r"z0 must be a tensor of shape \[B, D\]"):
        planner.plan(model, z0[0], goal[0], horizon=h)
    with pytest.raises(ValueError, match="finite"):
        planner.plan(model, z0 * float("nan"), goal, horizon=h)
    with pytest.raises(ValueError, match="init_actions"):
        planner.plan(model, z0, goal, horizon=h, init_actions=torch.zeros(3, h + 1, 2))
    res = planner.plan(model, z0, goal, horizon=h)  # still usable after the errors
    assert bool(torch.isfinite(res.cost).all())


def test_icem_shifts_kept_elites_across_mpc_steps() -> None:
    model, z0, goal, h = lq_problem()
    planner = make_planner("icem", seed=0, iterations=3)
    first = planner.plan(model, z0, goal, horizon=h, cost=lq_cost)
    n_keep = round(0.3 * planner.n_elites)
    assert first.carry.shape == (3, 1 + n_keep, h, 2)  # the plan, then the kept elites
    assert torch.equal(first.carry[:, 0], first.actions)
    tail = torch.cat([first.actions[:, 2:], first.actions[:, -1:].repeat(1, 2, 1)], dim=1)
    tail[1] = 0.0  # problem 1: a warm start that is not the previous plan shifted
    carry = first.carry.clone()
    carry[2] = float("nan")  # problem 2: nothing carried (the agent's marker)
    second = planner.plan(model, z0, goal, horizon=h, init_actions=tail, cost=lq_cost, carry=carry)
    assert second.info["shift"].tolist() == [2, -1, -1]
    assert second.info["population"][0] == planner.population(0) + n_keep
    # the carry is the only state: without it the same warm start reuses nothing
    third = planner.plan(model, z0, goal, horizon=h, init_actions=tail, cost=lq_cost)
    assert third.info["shift"].tolist() == [-1, -1, -1]
    assert third.info["population"][0] == planner.population(0)


SAMPLING = ["cem", "icem", "mppi", "random"]


class WithRollout(LinearModel):
    """The same model with its own ``rollout`` (so planners keep every predicted latent)."""

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        z, out = z0, []
        for t in range(actions.shape[1]):
            z = self.step(z, actions[:, t])
            out.append(z)
        return torch.stack(out, dim=1)


@pytest.mark.parametrize("name", SAMPLING)
def test_default_cost_shortcut_gives_the_same_plans(name: str) -> None:
    # With the default goal cost and no model.rollout, sampling planners keep only the final
    # latent; the plans must equal those made from full trajectories.
    base, z0, goal, h = lq_problem()
    full = WithRollout(base.a_mat, base.b_mat, 3.0)
    a = make_planner(name, seed=0, **FAST[name]).plan(base, z0, goal, horizon=h)
    b = make_planner(name, seed=0, **FAST[name]).plan(full, z0, goal, horizon=h)
    assert torch.equal(a.actions, b.actions) and torch.equal(a.cost, b.cost)
    assert torch.equal(a.info["cost_history"], b.info["cost_history"])


class CountingNaNModel(nn.Module):
    """``z' = z + 1``; NaN once ``z`` reaches 2.5, i.e. from time step 2 on when ``z0 = 0``."""

    def __init__(self) -> None:
        super().__init__()
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        nxt = z + 1.0 + 0.0 * a.sum(-1, keepdim=True)
        return torch.where(nxt >= 2.5, torch.full_like(nxt, float("nan")), nxt)


@pytest.mark.parametrize("name", SAMPLING)
def test_default_cost_error_names_the_step(name: str) -> None:
    z0, goal = torch.zeros(2, 3), torch.ones(2, 3)
    planner = make_planner(name, seed=0, **FAST[name])
    with pytest.raises(PlanningError, match="time step 2"):
        planner.plan(CountingNaNModel(), z0, goal, horizon=4)
    res = planner.plan(CountingNaNModel(), z0, goal, horizon=2)  # still usable; finite at H=2
    assert bool(torch.isfinite(res.cost).all())


@pytest.mark.parametrize(
    ("h", "beta", "min_lag1"), [(30, 2.0, 0.8), (31, 2.0, 0.8), (30, 0.0, None), (7, 1.0, 0.15)]
)
def test_icem_coloured_noise_has_unit_variance_and_its_colour(
    h: int, beta: float, min_lag1: float | None
) -> None:
    from wmplan_agents.planners.base import colored_noise_matrix, correlated_noise, noise_mixing

    gen = torch.Generator().manual_seed(0)
    mixing = noise_mixing(colored_noise_matrix(h, beta, torch.float64, "cpu"), torch.ones(2))
    eps = correlated_noise(40000, mixing.double(), 2, gen)  # [n, H, A]
    assert eps.shape == (40000, h, 2)
    var = eps.var(0)
    assert float((var - 1).abs().max()) < 0.05  # unit variance at every step and dimension
    lag1 = float((eps[:, 1:] * eps[:, :-1]).mean())
    cross = float((eps[..., 0] * eps[..., 1]).mean())
    assert abs(cross) < 0.02  # action dimensions are independent
    if min_lag1 is None:
        assert abs(lag1) < 0.02  # white
    else:
        assert lag1 > min_lag1  # 1/f^beta noise is correlated in time, more so for larger beta


def test_mppi_noise_is_ar1_with_the_requested_scale() -> None:
    from wmplan_agents.planners.base import correlated_noise, noise_mixing
    from wmplan_agents.planners.mppi import smoothing_matrix

    gen = torch.Generator().manual_seed(0)
    scale = torch.tensor([0.2, 0.5], dtype=torch.float64)
    mixing = noise_mixing(smoothing_matrix(12, 0.6, torch.float64, "cpu"), scale)
    eps = correlated_noise(40000, mixing, 2, gen)
    torch.testing.assert_close(eps.std(0), scale.expand(12, 2), atol=0.01, rtol=0.02)
    unit = eps / scale
    for lag in (1, 3):
        corr = float((unit[:, lag:] * unit[:, :-lag]).mean())
        assert abs(corr - 0.6**lag) < 0.02


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("cem", {"init_std": float("inf")}, "init_std must be finite"),
        ("cem", {"n_samples": 30.0}, "n_samples must be an integer"),
        ("cem", {"seed": 1.5}, "seed must be an integer"),
        ("cem", {"n_samples": True}, "n_samples must be an integer"),
        ("icem", {"noise_beta": float("nan")}, "noise_beta must be finite"),
        ("icem", {"noise_beta": float("inf")}, "noise_beta must be finite"),
        ("mppi", {"noise_std": float("inf")}, "noise_std must be finite"),
        ("mppi", {"temperature": 1e-45}, "temperature must be at least"),
        ("gd", {"lr": float("inf")}, "lr must be finite"),
        ("random", {"iterations": 0}, "iterations must be an integer >= 1"),
        ("grasp", {"sync_steps": 2.0}, "sync_steps must be an integer"),
        ("grasp", {"lr_actions": float("nan")}, "lr_actions must be finite"),
        ("latco", {"iterations": -1}, "iterations must be an integer >= 0"),
        ("cem", {"reseed_every_plan": "yes"}, "reseed_every_plan must be a bool"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_planner(name, **kwargs)


def test_numpy_integers_are_accepted_as_sizes_and_horizons():
    planner = make_planner("cem", n_samples=np.int64(40), n_elites=np.int32(4), seed=np.int64(3))
    assert planner.n_samples == 40 and type(planner.n_samples) is int
    model = LinearModel(torch.eye(2), torch.eye(2), 1.0)
    res = planner.plan(model, torch.zeros(1, 2), torch.ones(1, 2), horizon=np.int64(3))
    assert res.actions.shape == (1, 3, 2)


ALL_FAST = {
    "cem": {"n_samples": 20, "n_elites": 4, "iterations": 2},
    "icem": {"n_samples": 20, "n_elites": 4, "iterations": 2},
    "mppi": {"n_samples": 20, "iterations": 2},
    "gd": {"iterations": 3, "n_restarts": 2},
    "random": {"n_samples": 20},
    "grasp": {"iterations": 4, "sync_every": 2, "sync_steps": 2},
    "latco": {"iterations": 4},
}


@pytest.mark.parametrize("name", list(ALL_FAST))
def test_a_cost_of_the_wrong_shape_is_a_clear_error(name):
    model = LinearModel(torch.eye(2), torch.eye(2), 1.0)
    z0, goal = torch.zeros(2, 2), torch.ones(2, 2)

    def scalar_cost(z_traj, actions, z_goal):
        return ((z_traj[:, -1] - z_goal) ** 2).sum()  # the batch sum: a 0-d tensor

    with pytest.raises(ValueError, match=r"cost function returned .*expected shape \["):
        make_planner(name, **ALL_FAST[name]).plan(model, z0, goal, 3, cost=scalar_cost)


@pytest.mark.parametrize("name", list(ALL_FAST))
@pytest.mark.parametrize("bad", [float("nan"), float("-inf")])
def test_a_non_finite_cost_raises_planning_error(name, bad):
    model = LinearModel(torch.eye(2), torch.eye(2), 1.0)
    z0, goal = torch.zeros(2, 2), torch.ones(2, 2)

    def broken_cost(z_traj, actions, z_goal):
        return ((z_traj[:, -1] - z_goal) ** 2).sum(-1) * 0 + bad

    with pytest.raises(PlanningError):
        make_planner(name, **ALL_FAST[name]).plan(model, z0, goal, 3, cost=broken_cost)


class WrongWidth(LinearModel):
    def step(self, z, a):
        return super().step(z, a)[:, :1]  # drops a dimension


class WrongDtype(LinearModel):
    def step(self, z, a):
        return super().step(z, a).double()


@pytest.mark.parametrize("name", list(ALL_FAST))
def test_latents_that_do_not_fit_the_model_are_named(name):
    model = LinearModel(torch.eye(2), torch.eye(2), 1.0)
    with pytest.raises(ValueError, match=r"LinearModel.step failed on a latent of shape \[1, 3\]"):
        make_planner(name, **ALL_FAST[name]).plan(model, torch.zeros(2, 3), torch.ones(2, 3), 3)
    for bad in (
        WrongWidth(torch.eye(2), torch.eye(2), 1.0),
        WrongDtype(torch.eye(2), torch.eye(2), 1.0),
    ):
        with pytest.raises(ValueError, match=rf"{type(bad).__name__}.step must map a latent"):
            make_planner(name, **ALL_FAST[name]).plan(bad, torch.zeros(2, 2), torch.ones(2, 2), 3)
