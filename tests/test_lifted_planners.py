"""GRASP and LatCo (the lifted-state planners): theory, long horizons, ablations, contracts."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import wmplan_envs  # noqa: F401
from registry.catalogue import GRASP_WALL_FRAMESKIP
from wmplan_agents import contracts
from wmplan_agents.contracts import PlanningError
from wmplan_agents.planners import base, make_planner
from wmplan_agents.planners.grasp import GRASP
from wmplan_agents.planners.latco import LatCo

torch.set_num_threads(1)

# GRASP's fixed settings on LinearExpansive (also the registry preset): little state noise,
# annealed to zero half-way so the second half refines (the system has no local minima).
GRASP_LINEAR = {"iterations": 400, "state_noise": 0.01, "noise_decay": "cosine", "noise_until": 0.5}
LATCO_LINEAR = {"iterations": 400}


class EnvModel:
    """A world model from an env's known dynamics (``transition_torch``), identity encoder."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env.unwrapped
        self.action_space = env.action_space

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.env.transition_torch(z, a)


def linear_problems(n: int) -> tuple[EnvModel, torch.Tensor, torch.Tensor]:
    """``n`` LinearExpansive start/goal pairs (expansion 1.15) from env seeds ``0..n-1``."""
    env = gym.make("WMPlan/LinearExpansive-v0", expansion=1.15)
    z0, goal = [], []
    for s in range(n):
        _, info = env.reset(seed=s)
        z0.append(info["state"])
        goal.append(info["goal_state"])
    as_t = lambda x: torch.tensor(np.array(x), dtype=torch.float32)  # noqa: E731
    return EnvModel(env), as_t(z0), as_t(goal)


def rollout_gd(model, z0, goal, horizon, lr, iterations=300):
    """Plain projected SGD on the final-state loss through the full rollout (the baseline)."""
    low, high = contracts.action_bounds(model)
    a = torch.zeros(z0.shape[0], horizon, low.shape[0])
    for _ in range(iterations):
        a.requires_grad_(True)
        loss = contracts.goal_cost(contracts.rollout(model, z0, a), a, goal)
        (g,) = torch.autograd.grad(loss.sum(), [a])
        with torch.no_grad():
            a = torch.maximum(torch.minimum(a - lr * g, high), low)
    with torch.no_grad():
        return contracts.goal_cost(contracts.rollout(model, z0, a), a, goal).sqrt()


# -- Theorems 2 and 3 (Appendix A.1) ---------------------------------------------------------


def _hessian_lmax(fn, x: torch.Tensor) -> float:
    h = torch.autograd.functional.hessian(fn, x)
    return float(torch.linalg.eigvalsh(h.reshape(x.numel(), x.numel())).max())


def test_shooting_curvature_explodes_and_lifted_stays_bounded():
    lam = 1.3  # the unstable eigenvalue (expansion > 1)
    a_mat = torch.tensor([[lam, 0.2], [0.0, 0.7]], dtype=torch.float64)
    b_mat = torch.tensor([[1.0], [0.5]], dtype=torch.float64)
    n, m = 2, 1
    s_init = torch.tensor([0.3, -0.2], dtype=torch.float64)
    g = torch.tensor([1.0, 1.0], dtype=torch.float64)
    # left eigenvector of A for lam (unit), and mu = |<v, B w>| with w = 1 (Theorem 2)
    evals, evecs = torch.linalg.eig(a_mat.T)
    v = evecs[:, int(torch.argmin((evals.real - lam).abs()))].real
    v = v / v.norm()
    mu = float((v @ b_mat[:, 0]).abs())
    bound_l = 6 * (
        1 + torch.linalg.matrix_norm(a_mat, 2) ** 2 + torch.linalg.matrix_norm(b_mat, 2) ** 2
    )

    horizons = list(range(4, 17, 2))
    shooting = []
    for t_len in horizons:

        def j_s(a, t_len=t_len):  # Eq. (18)
            s = s_init
            for t in range(t_len):
                s = a_mat @ s + b_mat @ a[t]
            return ((s - g) ** 2).sum()

        def j_l(z, t_len=t_len):  # Eq. (19)-(20), s_0 and s_T fixed
            states = torch.cat([s_init[None], z[: (t_len - 1) * n].reshape(t_len - 1, n), g[None]])
            acts = z[(t_len - 1) * n :].reshape(t_len, m)
            resid = states[:-1] @ a_mat.T + acts @ b_mat.T - states[1:]
            return (resid**2).sum()

        l_s = _hessian_lmax(j_s, torch.zeros(t_len, m, dtype=torch.float64))
        assert l_s >= 2 * mu**2 * lam ** (2 * (t_len - 1)) * (1 - 1e-9)  # Eq. (23)
        shooting.append(l_s)
        l_l = _hessian_lmax(j_l, torch.zeros((t_len - 1) * n + t_len * m, dtype=torch.float64))
        assert l_l <= float(bound_l)  # Eq. (31), for every T
    slope = np.polyfit(horizons, np.log(shooting), 1)[0]
    assert slope == pytest.approx(2 * math.log(lam), rel=0.05)  # grows like lam^(2T)


# -- long horizons on LinearExpansive (expansion 1.15), true dynamics ------------------------


# the literal rule of the paper (plain steps, goal weight 0.2) and the default
LITERAL = {"step_rule": "sgd", "gamma": 0.2}


@pytest.mark.parametrize("rule", [{}, LITERAL], ids=["default", "literal"])
def test_rollout_gd_fails_at_long_horizon_where_lifted_planners_succeed(rule):
    model, z0, goal = linear_problems(10)
    # plain SGD with the step size that works at horizon 10 ...
    lr = 0.05
    assert (rollout_gd(model, z0, goal, 10, lr) < 0.1).float().mean() >= 0.9
    for horizon in (50, 80):
        # ... ends far from the goal at horizons 50 and 80 (it diverges: curvature ~ 1.15^(2T))
        dist_gd = rollout_gd(model, z0, goal, horizon, lr, iterations=100)
        assert (dist_gd > 1.0).float().mean() >= 0.8
        # GRASP and LatCo at their own fixed settings end within the success radius (0.1)
        latco = LatCo(**LATCO_LINEAR, **({"step_rule": "sgd", "lr": 0.2} if rule else {}))
        for planner in (GRASP(**GRASP_LINEAR, **rule, seed=1), latco):
            result = planner.plan(model, z0, goal, horizon)
            dist = result.cost.sqrt()
            assert (dist < 0.1).float().mean() >= 0.8, (type(planner).__name__, horizon, dist)
            assert float((result.actions.abs() <= 1.0).float().min()) == 1.0


# -- WallSingle, true dynamics: through the door ---------------------------------------------

# GRASP's fixed settings on WallSingle (true dynamics, the paper's frameskip: one model step = 5
# env steps, Sec. 4.2), from the catalogue
GRASP_WALL = GRASP_WALL_FRAMESKIP


def wall_problems(n: int):
    """``n`` WallSingle problems (env seeds ``0..n-1``), start on the left, goal on the right
    (the two sides of one episode, swapped when the env drew them the other way round)."""
    from wmplan_agents.models import ground_truth

    env = gym.make("WMPlan/WallSingle-v0")
    z0, goal = [], []
    for s in range(n):
        _, info = env.reset(seed=s)
        start, end = info["state"].copy(), info["goal_state"].copy()
        if start[0] > end[0]:
            start[0], end[0] = end[0], start[0]
        z0.append(start)
        goal.append(end)
    as_t = lambda x: torch.tensor(np.array(x), dtype=torch.float32)  # noqa: E731
    return ground_truth(env, action_repeat=5), as_t(z0), as_t(goal)


def test_grasp_passes_the_door_where_greedy_rollout_gd_does_not():
    model, z0, goal = wall_problems(10)
    horizon = 12  # 60 env steps

    def outcome(actions):
        with torch.no_grad():
            final = contracts.rollout(model, z0, actions)[:, -1]
        crossed = final[:, 0] > 35.0  # right of the wall: the only way there is the door
        reached = (final[:, :2] - goal[:, :2]).norm(dim=-1) < 4.5  # the env's success radius
        return int(crossed.sum()), int(reached.sum())

    result = GRASP(**GRASP_WALL, seed=0).plan(model, z0, goal, horizon)
    assert float(result.actions.abs().max()) <= 1.0
    crossed, reached = outcome(result.actions)
    assert crossed >= 7 and reached >= 7, (crossed, reached)  # measured 9/10 and 8/10
    # greedy rollout GD (plain projected SGD through the rollout) at its best step size of
    # {1e-2, 1e-3, 1e-4} (0/10, 4/10, 3/10 reached): it heads straight for the goal and only
    # gets through when the door lies on the way; otherwise it presses into the wall, where a
    # blocked move has no gradient across it
    low, high = contracts.action_bounds(model)
    a = torch.zeros(10, horizon, low.shape[0])
    for _ in range(100):
        a.requires_grad_(True)
        loss = contracts.goal_cost(contracts.rollout(model, z0, a), a, goal)
        (g,) = torch.autograd.grad(loss.sum(), [a])
        with torch.no_grad():
            a = torch.maximum(torch.minimum(a - 1e-3 * g, high), low)
    assert outcome(a)[1] <= 4, outcome(a)  # measured 4/10: not a majority


# -- ablation switches -------------------------------------------------------------------------


class SpyModel(EnvModel):
    """Records the gradient that reaches the state inputs of ``step``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.state_grad = 0.0

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        if z.requires_grad:
            z.register_hook(self._record)
        return super().step(z, a)

    def _record(self, grad: torch.Tensor) -> None:
        self.state_grad += float(grad.abs().sum())


def test_stop_gradient_switch_controls_state_input_gradients():
    model, z0, goal = linear_problems(2)
    spy = SpyModel(model.env)
    GRASP(iterations=5, sync_every=0, seed=0).plan(spy, z0, goal, 10)
    assert spy.state_grad == 0.0  # sg(s_t): nothing reaches the model's state inputs
    GRASP(iterations=5, sync_every=0, stop_gradient=False, seed=0).plan(spy, z0, goal, 10)
    assert spy.state_grad > 0.0  # the dynamics term now backpropagates into s_t


def _plan(**kw):
    model, z0, goal = linear_problems(2)
    base = {"iterations": 30, "sync_every": 10, "sync_steps": 3, "init_noise": 0.0}
    return GRASP(**{**base, **kw}).plan(model, z0, goal, 12)


def test_noise_switches_change_what_they_claim():
    quiet = {"state_noise": 0.0}
    # no noise at all: the seed does not matter
    assert torch.equal(_plan(**quiet, seed=0).actions, _plan(**quiet, seed=1).actions)
    # state noise, action noise and rollout-state noise each make the seed matter
    for extra in ({"state_noise": 0.05}, {"action_noise": 0.05}, {"rollout_noise": 0.05}):
        kw = {**quiet, **extra}
        a0, a1 = _plan(**kw, seed=0), _plan(**kw, seed=1)
        assert not torch.equal(a0.actions, a1.actions), extra
        assert torch.equal(a0.actions, _plan(**kw, seed=0).actions), extra  # deterministic
    # rollout noise acts inside the sync only: without sync it changes nothing
    no_sync = {**quiet, "sync_every": 0}
    assert torch.equal(
        _plan(**no_sync, rollout_noise=0.05, seed=0).actions, _plan(**no_sync, seed=0).actions
    )


@pytest.mark.parametrize(("cls", "noise"), [(GRASP, "state_noise"), (LatCo, "init_noise")])
def test_reseed_every_plan_repeats_the_plan(cls, noise):
    model, z0, goal = linear_problems(2)
    kw = {"iterations": 20, noise: 0.05, "seed": 4}
    for reseed in (True, False):
        planner = cls(**kw, reseed_every_plan=reseed)
        first = planner.plan(model, z0, goal, 12).actions
        second = planner.plan(model, z0, goal, 12).actions
        assert torch.equal(first, second) == reseed


def test_noise_decay_schedules():
    g = GRASP(iterations=100, state_noise=0.4, noise_decay="linear", noise_until=0.5)
    assert g.noise_at(0) == pytest.approx(0.4)
    assert g.noise_at(25) == pytest.approx(0.2)
    assert g.noise_at(50) == 0.0 and g.noise_at(99) == 0.0
    c = GRASP(iterations=100, state_noise=0.4, noise_decay="cosine")
    assert c.noise_at(50) == pytest.approx(0.2) and c.noise_at(99) < 0.001
    assert GRASP(state_noise=0.4).noise_at(299) == 0.4


def test_sync_switch_and_sync_never_raises_rollout_cost():
    no_sync = _plan(state_noise=0.0, sync_every=0)
    assert no_sync.info["sync_cost_history"].shape[0] == 0
    synced = _plan(state_noise=0.0)
    assert synced.info["sync_cost_history"].shape == (3, 2)
    assert not torch.equal(no_sync.actions, synced.actions)
    # return_best: the returned plan is the better (by rolled-out cost) of the last and the synced
    last = _plan(state_noise=0.05, seed=2, return_best=False)
    best = _plan(state_noise=0.05, seed=2)
    assert bool((best.cost <= last.cost).all())
    assert set(best.info["best_at"].tolist()) <= {10, 20, 30}
    # the last iteration ends with a sync; info keeps the lifted states that iteration optimised
    # (with their defects), not the synced rollout
    model, z0, goal = linear_problems(2)
    rolled = contracts.rollout(model, z0, last.actions)[:, :-1]
    assert (last.info["virtual_states"] - rolled).abs().max() > 1e-3
    # a sync with a huge step size on a long expansive rollout: steps that raise the cost are
    # undone, so the rollout cost after the sync is at most the cost before it
    model, z0, goal = linear_problems(4)
    low, high = contracts.action_bounds(model)
    actions = torch.rand(4, 60, 4, generator=torch.Generator().manual_seed(0)) * 0.2 - 0.1
    before = contracts.goal_cost(contracts.rollout(model, z0, actions), actions, goal)
    g = GRASP(sync_steps=40, lr_sync=100.0)
    prob = base.check_problem(model, z0, goal, actions.shape[1], None, None)
    after_a, _, after = g._sync(model, prob, actions, 0, g.rng.for_plan("cpu"))
    assert bool((after <= before).all()) and bool((after < before).any())
    assert float(after_a.abs().max()) <= 1.0


def test_cem_sync_lowers_the_rollout_cost_and_the_dynamics_gap():
    from wmplan_agents import problems

    for ps in (problems.double_integrator(6, 20, seed=77), problems.tanh_mlp(6, 40, seed=78)):
        # one CEM sync from the lifted phase's plan never raises a problem's rollout cost
        g = GRASP(sync="cem", seed=3)
        assert g.sync_steps is None and g.n_sync_steps == 5  # the CEM sync's own default
        low, high = contracts.action_bounds(ps.model, dtype=torch.float64)
        actions = 0.3 * torch.rand(6, ps.horizon, low.shape[0], dtype=torch.float64) - 0.15
        states = contracts.rollout(ps.model, ps.z0, ps.actions)[:, :-1]  # disagreeing states
        before = contracts.goal_cost(contracts.rollout(ps.model, ps.z0, actions), actions, ps.goal)
        a, traj, after = g._sync_cem(
            ps.model, base.check_problem(ps.model, ps.z0, ps.goal, ps.horizon, None, None),
            actions, states, 0, g.rng.for_plan("cpu"),
        )  # fmt: skip
        assert bool((after <= before).all()) and bool((after < before).any())
        assert float(a.abs().max()) <= 1.0
        torch.testing.assert_close(traj, contracts.rollout(ps.model, ps.z0, a))
        # a whole plan with CEM syncs ends with a smaller gap between the virtual states and
        # the model (the Eq. 8 defects) and a lower cost than the same plan without syncs
        kw = {"iterations": 300, "state_noise": 0.01, "noise_decay": "cosine", "noise_until": 0.5}
        none = GRASP(**kw, sync_every=0).plan(ps.model, ps.z0, ps.goal, ps.horizon)
        cem = GRASP(**kw, sync="cem").plan(ps.model, ps.z0, ps.goal, ps.horizon)
        assert float(cem.info["defects"].median()) < float(none.info["defects"].median())
        assert float(cem.cost.median()) < float(none.cost.median())
    with pytest.raises(ValueError, match="sync"):
        GRASP(sync="lbfgs")
    with pytest.raises(ValueError, match="sync_elites"):
        GRASP(sync="cem", sync_samples=4, sync_elites=8)


class ScaledModel(EnvModel):
    """The same system in a latent ``c`` times larger: ``F_c(z, a) = c F(z / c, a)``, so the
    action Jacobian, and the plain rule's stable step size, change by ``c`` and ``1 / c^2``."""

    def __init__(self, env: gym.Env, c: float) -> None:
        super().__init__(env)
        self.c = c

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.c * self.env.transition_torch(z / self.c, a)


def test_default_step_rule_is_invariant_to_the_jacobian_scale():
    # a latent scaled by c scales the model's action Jacobian by c: 0.01 and 100 differ by 1e4
    model, z0, goal = linear_problems(4)
    quiet = {"iterations": 100, "state_noise": 0.0, "init_noise": 0.0}
    dist = {}
    for c in (0.01, 1.0, 100.0):
        scaled = ScaledModel(model.env, c)
        for rule in ("sgd", "gn"):
            for cls in (GRASP, LatCo):
                kw = {"iterations": 100} if cls is LatCo else quiet
                if cls is LatCo and rule == "sgd":
                    kw = {**kw, "lr": 0.2, "refine_steps": 0}
                z0c, goalc = (c * z0).double(), (c * goal).double()
                result = cls(step_rule=rule, **kw).plan(scaled, z0c, goalc, 10)
                dist[cls.__name__, rule, c] = result.cost.sqrt() / c  # in the system's units
                assert float(result.actions.abs().max()) <= 1.0
    for name in ("GRASP", "LatCo"):
        # the default reaches the goal at every scale, with the same plan up to rounding
        assert bool((dist[name, "gn", 1.0] < 0.02).all()), dist[name, "gn", 1.0]
        for c in (0.01, 100.0):
            gap = (dist[name, "gn", c] - dist[name, "gn", 1.0]).abs()
            assert bool((gap < 1e-3).all()), (name, c, gap)
        # the literal rule's step size, fine at one scale, is far off at another
        assert bool((dist[name, "sgd", 1.0] < 0.1).all()), dist[name, "sgd", 1.0]
        assert bool((dist[name, "sgd", 0.01] > 0.1).all()), dist[name, "sgd", 0.01]


def test_adam_sync_never_raises_the_rollout_cost():
    model, z0, goal = linear_problems(4)
    low, high = contracts.action_bounds(model)
    actions = torch.rand(4, 30, 4, generator=torch.Generator().manual_seed(0)) * 0.2 - 0.1
    before = contracts.goal_cost(contracts.rollout(model, z0, actions), actions, goal)
    for rule in ("adam", "gn"):
        g = GRASP(sync_steps=20, lr_sync=0.5, step_rule=rule)
        prob = base.check_problem(model, z0, goal, actions.shape[1], None, None)
        _, _, after = g._sync(model, prob, actions, 0, g.rng.for_plan("cpu"))
        assert bool((after <= before).all()) and bool((after < before).any())
    with pytest.raises(ValueError, match="step_rule"):
        GRASP(step_rule="rmsprop")
    with pytest.raises(ValueError, match="step_rule"):
        LatCo(step_rule="adam")


# -- contracts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [GRASP, LatCo])
def test_deterministic_and_batch_equals_singles(cls):
    model, z0, goal = linear_problems(3)
    kw = {"iterations": 40, "seed": 3}
    if cls is GRASP:
        kw.update(state_noise=0.05, sync_every=20, sync_steps=3)
    batch = cls(**kw).plan(model, z0, goal, 15)
    assert torch.equal(batch.actions, cls(**kw).plan(model, z0, goal, 15).actions)
    for b in range(3):
        single = cls(**kw).plan(model, z0[b : b + 1], goal[b : b + 1], 15)
        torch.testing.assert_close(single.actions[0], batch.actions[b], atol=1e-5, rtol=0)
        torch.testing.assert_close(single.cost[0], batch.cost[b], atol=1e-5, rtol=1e-4)
    assert batch.actions.shape == (3, 15, 4) and batch.cost.shape == (3,)
    assert batch.info["cost_history"].shape == (40, 3)


@pytest.mark.parametrize("name", ["grasp", "latco"])
def test_registered_and_bad_input(name):
    model, z0, goal = linear_problems(2)
    planner = make_planner(name, iterations=5)
    with pytest.raises(ValueError, match="horizon"):
        planner.plan(model, z0, goal, 0)
    with pytest.raises(ValueError, match="z_goal"):
        planner.plan(model, z0, goal[:1], 5)
    with pytest.raises(ValueError, match="init_actions"):
        planner.plan(model, z0, goal, 5, init_actions=torch.zeros(2, 4, 4))
    assert planner.plan(model, z0, goal, 5).actions.shape == (2, 5, 4)  # still usable
    with pytest.raises(ValueError):
        make_planner(name, iterations=-1)


@pytest.mark.parametrize("cls", [GRASP, LatCo])
def test_nonfinite_model_output_raises_planning_error(cls):
    model, z0, goal = linear_problems(2)

    class Bad(EnvModel):
        def step(self, z, a):
            out = super().step(z, a)
            return torch.where(torch.arange(z.shape[0])[:, None] % 7 == 3, float("nan"), out)

    with pytest.raises(PlanningError, match="time step 3"):
        cls(iterations=3).plan(Bad(model.env), z0[:1], goal[:1], 6)


class Grid1D:
    """A discrete 2-D point: actions {stay, +x, -x, +y} move by 0.25 (relaxed: expected move)."""

    action_space = gym.spaces.Discrete(4)
    moves = torch.tensor([[0.0, 0.0], [0.25, 0.0], [-0.25, 0.0], [0.0, 0.25]])

    def encode(self, obs):
        return obs

    def step(self, z, a):
        return z + a @ self.moves


@pytest.mark.parametrize("cls", [GRASP, LatCo])
def test_discrete_actions_are_hard_one_hots_that_reach_the_goal(cls):
    z0 = torch.zeros(2, 2)
    goal = torch.tensor([[1.5, 0.0], [-1.5, 0.0]])  # unique solutions: all +x, all -x
    kw = {"iterations": 200}
    if cls is GRASP:
        kw.update(state_noise=0.0)
    result = cls(**kw).plan(Grid1D(), z0, goal, 6)
    acts = result.actions
    assert set(acts.unique().tolist()) <= {0.0, 1.0} and torch.equal(acts.sum(-1), torch.ones(2, 6))
    assert torch.allclose(result.cost, torch.zeros(2), atol=1e-6)


def test_latco_warm_start_keeps_the_arrival_time():
    # a plan for H=25, 5 steps executed, its tail (padded) as the next plan's warm start: with
    # warm_states the new plan's states start on that tail's rollout and keep arriving 5 steps
    # earlier; on the line (warm_states=False) the dynamics penalty spreads the move over all 25
    model, z0, goal = linear_problems(3)
    horizon, done = 25, 5
    first = LatCo(iterations=400).plan(model, z0, goal, horizon)
    z1 = contracts.rollout(model, z0, first.actions)[:, done - 1]
    tail = first.actions[:, done:]
    init = torch.cat([tail, tail[:, -1:].expand(-1, done, -1)], dim=1)
    zero = LatCo(iterations=0).plan(model, z1, goal, horizon, init_actions=init)
    expected = contracts.rollout(model, z1, init)[:, :-1]
    torch.testing.assert_close(zero.info["virtual_states"], expected)
    arrival = {}
    for warm in (True, False):
        result = LatCo(iterations=400, warm_states=warm).plan(
            model, z1, goal, horizon, init_actions=init
        )
        assert bool((result.cost.sqrt() < 0.1).all()), (warm, result.cost)
        traj = contracts.rollout(model, z1, result.actions)
        arrival[warm] = (traj[:, horizon - done - 1] - goal).norm(dim=-1)
    assert bool((arrival[True] < 0.1).all()), arrival  # there 5 steps early, as warm-started
    assert bool((arrival[False] > 0.1).all()), arrival  # still on its way


@pytest.mark.parametrize("name", ["grasp", "latco"])
def test_mpc_agent_with_lifted_planner_solves_linear_expansive(name):
    # LatCo needs its warm start's states (``warm_states``): with states on the line, every
    # replan arrives exactly at the horizon and the agent never arrives (0/3 measured)
    from wmplan_agents import MPCAgent, ground_truth

    env = gym.make("WMPlan/LinearExpansive-v0")
    agent = MPCAgent(ground_truth(env), planner=name)  # the registry preset
    successes = 0
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        agent.reset()
        for _ in range(50):
            action, _ = agent.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        successes += int(info["is_success"])
    assert successes == 3


@pytest.mark.parametrize("name", ["gd", "grasp"])
def test_float32_batch_equals_singles_within_the_stated_tolerance(name):
    model, z0, goal = linear_problems(2)  # float32
    kw = {"iterations": 30, "seed": 0}
    batch = make_planner(name, **kw).plan(model, z0, goal, 10)
    for b in range(2):
        single = make_planner(name, **kw).plan(model, z0[b : b + 1], goal[b : b + 1], 10)
        assert (single.actions[0] - batch.actions[b]).abs().max() <= 1e-5


def test_sampled_rounding_finds_a_hard_plan_the_arg_max_misses():
    from wmplan_agents.planners import _lifted

    model = Grid1D()
    z0, goal = torch.zeros(3, 2), torch.tensor([[0.5, 0.0]]).repeat(3, 1)  # two +x of four
    prob = base.check_problem(model, z0, goal, 4, None, None)
    relaxed = torch.tensor([0.5, 0.5, 0.0, 0.0]).repeat(3, 4, 1)  # stay or +x, evenly
    hard = _lifted.harden(model, relaxed)  # the arg-max: stay, stay, stay, stay
    cost = contracts.goal_cost(contracts.rollout(model, z0, hard), hard, goal)
    assert torch.allclose(cost, torch.full((3,), 0.25))
    gen = torch.Generator().manual_seed(0)
    for n in (0, 64):
        plan, c = _lifted.sampled_rounding(model, prob, relaxed, gen, n, hard, cost)
        assert set(plan.unique().tolist()) <= {0.0, 1.0} and torch.equal(
            plan.sum(-1), torch.ones(3, 4)
        )
        rolled = contracts.goal_cost(contracts.rollout(model, z0, plan), plan, goal)
        torch.testing.assert_close(c, rolled)  # the returned cost is the plan's own
        if n == 0:
            assert torch.equal(plan, hard)
        else:  # a draw with exactly two +x reaches the goal
            assert torch.allclose(c, torch.zeros(3)) and torch.equal(
                plan[:, :, 1].sum(-1), torch.full((3,), 2.0)
            )


def test_grasp_cem_sync_plans_a_discrete_space():
    z0, goal = torch.zeros(2, 2), torch.tensor([[1.5, 0.0], [-1.5, 0.0]])
    result = GRASP(sync="cem", sync_every=20, iterations=100, state_noise=0.0).plan(
        Grid1D(), z0, goal, 6
    )
    assert set(result.actions.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(result.actions.sum(-1), torch.ones(2, 6))
    assert bool((result.cost < 0.5).all())
