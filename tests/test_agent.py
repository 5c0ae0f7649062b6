"""MPCAgent: solving envs with ground-truth models, SB3 compatibility, warm start, action_repeat."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

import wmplan_envs  # noqa: F401
from registry import PLANNERS, single_level_planners
from wmplan_agents import MPCAgent, evaluate
from wmplan_agents.contracts import (
    PlanResult,
    WorldModel,
    action_bounds,
    dense_goal_cost,
    goal_cost,
    rollout,
)
from wmplan_agents.models import ground_truth

LE, RL = "WMPlan/LinearExpansive-v0", "WMPlan/RuggedLandscape-v0"
FAST_CEM = {"n_samples": 100, "n_elites": 10, "iterations": 10}


class DescentPlanner:
    """Deterministic test planner: plain gradient descent on the cost from ``init_actions`` (or
    the centre of the box). Rows are independent, so batched and single calls agree exactly."""

    def __init__(self, steps: int = 20, lr: float = 5.0) -> None:
        self.steps, self.lr = steps, lr
        self.calls: list[dict] = []

    def plan(self, model, z0, z_goal, horizon, init_actions=None, cost=None):
        self.calls.append(
            {"z0": z0.clone(), "init": None if init_actions is None else init_actions}
        )
        low, high = action_bounds(model, dtype=z0.dtype)
        mid = ((low + high) / 2).expand(z0.shape[0], horizon, -1)
        a = (mid if init_actions is None else init_actions).clone()
        cost = cost or goal_cost
        with torch.enable_grad():
            for _ in range(self.steps):
                a.requires_grad_(True)
                total = cost(rollout(model, z0, a), a, z_goal).sum()
                (grad,) = torch.autograd.grad(total, a)
                a = torch.maximum(torch.minimum(a - self.lr * grad, high), low).detach()
        with torch.no_grad():
            final = cost(rollout(model, z0, a), a, z_goal)
        return PlanResult(a, final, {})


class ScriptedPlanner:
    """Returns plan ``k`` (0-based call count) with entries ``0.1 t + 0.01 k + 0.001 b``, so
    every executed action tells which plan, row and step it came from."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def plan(self, model, z0, z_goal, horizon, init_actions=None, cost=None):
        k, b = len(self.calls), z0.shape[0]
        self.calls.append({"z0": z0.clone(), "init": init_actions})
        t = torch.arange(horizon, dtype=torch.float32)[None, :, None]
        rows = torch.arange(b, dtype=torch.float32)[:, None, None]
        a_dim = action_bounds(model)[0].shape[0]
        actions = (0.1 * t + 0.01 * k + 0.001 * rows).expand(b, horizon, a_dim).clone()
        return PlanResult(actions, torch.zeros(b), {})


def _batch(env_id: str, seeds: list[int]) -> dict[str, np.ndarray]:
    obs = [gym.make(env_id).reset(seed=s)[0] for s in seeds]
    return {k: np.stack([o[k] for o in obs]) for k in obs[0]}


# -- solving envs with the true dynamics ----------------------------------------------------------


def test_cem_solves_linear_expansive_with_a_short_horizon():
    """Measured: 20/20 episodes (mean length ~3 steps)."""
    agent = MPCAgent(ground_truth(LE), "cem", horizon=1, replan_every=1, **FAST_CEM)
    result = evaluate(agent, LE, n_episodes=20, seed=0, progress=False)
    assert result.success_rate >= 0.9, result


def test_cem_solves_rugged_landscape():
    """Distance-to-goal cost, horizon 3. Measured: 20/20 episodes."""
    agent = MPCAgent(ground_truth(RL), "cem", horizon=3, replan_every=1, **FAST_CEM)
    result = evaluate(agent, RL, n_episodes=20, seed=0, progress=False)
    assert result.success_rate >= 0.9, result


def test_cem_escapes_the_ripples_of_the_energy_that_trap_greedy_planning():
    """With the env's rippled energy as the cost, one-step (greedy) planning stalls in local
    minima, while a 5-step CEM plan crosses them. Measured over seeds 0-9: 1/10 and 10/10
    (seeds 0-19: 1/20 and 19/20; seeds 20-29: 0/10 and 9/10)."""
    env = gym.make(RL)
    energy = env.unwrapped.energy_torch

    def final_energy(z_traj, actions, z_goal):
        return energy(z_traj[:, -1], z_goal)

    rates = {}
    for horizon in (1, 5):
        agent = MPCAgent(
            ground_truth(env), "cem", horizon=horizon, replan_every=1, cost=final_energy, **FAST_CEM
        )
        rates[horizon] = evaluate(agent, RL, n_episodes=10, seed=0, progress=False).success_rate
    assert rates[5] >= 0.8, rates
    assert rates[1] <= 0.3, rates


# -- SB3 ----------------------------------------------------------------------------------------


def _descent_planner():
    return DescentPlanner()


def _cem_planner():
    # reseed_every_plan: each plan is a pure function of its inputs, so batching envs together
    # cannot change any env's plans (the CEM noise is shared across problems, see base.py)
    from wmplan_agents.planners import make_planner

    return make_planner("cem", n_samples=100, n_elites=10, iterations=10, reseed_every_plan=True)


@pytest.mark.parametrize(
    ("make", "horizon"), [(_descent_planner, 5), (_cem_planner, 3)], ids=["descent", "cem"]
)
def test_evaluate_policy_on_a_vec_env_agrees_with_plain_episode_loops(make, horizon):
    """SB3's evaluate_policy over DummyVecEnv(4) (8 episodes: two per env, the second after an
    auto-reset) gives the same returns and lengths as a plain loop per env, and the first
    episodes agree with wmplan's evaluate on the same seeds; with a spy planner and with the
    real CEM planner."""
    n_envs, seed = 4, 100
    vec = DummyVecEnv([lambda: Monitor(gym.make(RL))] * n_envs)
    vec.seed(seed)
    agent = MPCAgent(ground_truth(RL), make(), horizon=horizon, replan_every=2)
    finished: dict[int, list[tuple[float, int]]] = {i: [] for i in range(n_envs)}

    def record(local_vars, _globals):
        if local_vars["done"]:
            ep = local_vars["info"]["episode"]
            finished[local_vars["i"]].append((ep["r"], ep["l"]))

    evaluate_policy(agent, vec, n_eval_episodes=2 * n_envs, callback=record)
    batched_calls = 0
    for i in range(n_envs):
        env = Monitor(gym.make(RL))
        single = MPCAgent(ground_truth(RL), make(), horizon=horizon, replan_every=2)
        for episode in range(2):
            obs, _ = env.reset(seed=seed + i if episode == 0 else None)
            done, start, steps = False, True, 0
            while not done:
                action, _ = single.predict(obs, episode_start=np.array([start]))
                obs, _, terminated, truncated, info = env.step(action)
                done, start, steps = terminated or truncated, False, steps + 1
            r, length = finished[i][episode]
            assert length == steps
            assert r == pytest.approx(info["episode"]["r"], abs=1e-5)
        batched_calls += len(getattr(single.planner, "calls", []))
    if isinstance(agent.planner, DescentPlanner):
        assert len(agent.planner.calls) < batched_calls  # envs really were planned together
        assert max(c["z0"].shape[0] for c in agent.planner.calls) == n_envs

    plain = evaluate(
        MPCAgent(ground_truth(RL), make(), horizon=horizon, replan_every=2),
        RL,
        n_episodes=n_envs,
        seed=seed,
        progress=False,
    )
    assert plain.lengths == [finished[i][0][1] for i in range(n_envs)]
    np.testing.assert_allclose(plain.returns, [finished[i][0][0] for i in range(n_envs)], atol=1e-5)
    assert plain.success_rate >= 0.75  # the planner itself works (measured 1.0 for both)


# -- user-defined world models ----------------------------------------------------------------


class LinearWorldModel(nn.Module):
    """A user's own nn.Module: no wmplan base class, just the WorldModel members."""

    def __init__(self, w: np.ndarray, b: np.ndarray, action_space: spaces.Box) -> None:
        super().__init__()
        self.action_space = action_space
        self.dynamics = nn.Linear(w.shape[0] + b.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            self.dynamics.weight.copy_(torch.as_tensor(np.concatenate([w, b], axis=1)))

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float()

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.dynamics(torch.cat([z, a], dim=-1))


SMALL = {  # cheaper than the presets, to keep the default test run fast
    "cem": FAST_CEM,
    "icem": {"n_samples": 100},
    "mppi": {"n_samples": 100, "iterations": 5},
    "gd": {"iterations": 30},
    "grasp": {"iterations": 30},
    "latco": {"iterations": 30},
}


@pytest.mark.parametrize("planner", single_level_planners())
def test_plain_nn_module_world_model_with_every_planner(planner):
    """Measured: 5/5 episodes for every planner at horizon 1 with these settings (and 10/10
    with the full presets)."""
    env = gym.make(LE).unwrapped
    model = LinearWorldModel(env.W, env.B, env.action_space)
    assert isinstance(model, WorldModel)
    agent = MPCAgent(model, planner, horizon=1, replan_every=1, **SMALL.get(planner, {}))
    result = evaluate(agent, LE, n_episodes=5, seed=0, progress=False)
    assert result.success_rate >= 0.8, (planner, result)


# -- memory: warm start, per-env reset, action_repeat ------------------------------------------


def test_warm_start_and_per_env_reset():
    planner = ScriptedPlanner()
    agent = MPCAgent(ground_truth(RL), planner, horizon=5, replan_every=2)
    obs = _batch(RL, [0, 1])

    def plan(k):  # what ScriptedPlanner returned at call k, [2, 5, 2]
        t = torch.arange(5, dtype=torch.float32)[None, :, None]
        return (0.1 * t + 0.01 * k + 0.001 * torch.arange(2.0)[:, None, None]).expand(2, 5, 2)

    a0, _ = agent.predict(obs, episode_start=np.array([True, True]))
    assert len(planner.calls) == 1 and planner.calls[0]["init"] is None
    np.testing.assert_allclose(a0, plan(0)[:, 0].numpy())
    a1, _ = agent.predict(obs, episode_start=np.array([False, False]))
    assert len(planner.calls) == 1  # replan_every=2: the second action comes from the queue
    np.testing.assert_allclose(a1, plan(0)[:, 1].numpy())

    agent.predict(obs, episode_start=np.array([False, False]))
    assert len(planner.calls) == 2
    shifted = plan(0)[:, [2, 3, 4, 4, 4]]  # the unexecuted tail, padded with its last action
    torch.testing.assert_close(planner.calls[1]["init"], shifted)

    agent.predict(obs, episode_start=np.array([False, False]))
    agent.predict(obs, episode_start=np.array([False, True]))  # env 1 starts a new episode
    init = planner.calls[2]["init"]
    torch.testing.assert_close(init[0], plan(1)[0, [2, 3, 4, 4, 4]])
    torch.testing.assert_close(init[1], torch.zeros(5, 2))  # the centre of the box: no memory

    agent.predict(obs, episode_start=np.array([True, False]))  # env 0 resets mid-plan
    assert len(planner.calls) == 4
    assert planner.calls[3]["z0"].shape[0] == 1 and planner.calls[3]["init"] is None

    agent.reset()
    agent.predict(obs)
    assert planner.calls[4]["z0"].shape[0] == 2 and planner.calls[4]["init"] is None


def test_replan_every_equal_to_horizon_warm_starts_from_the_last_action():
    planner = ScriptedPlanner()
    agent = MPCAgent(ground_truth(RL), planner, horizon=3, replan_every=3)
    obs = gym.make(RL).reset(seed=0)[0]
    for _ in range(4):
        agent.predict(obs)
    assert len(planner.calls) == 2
    last = 0.1 * 2 + 0.01 * 0  # plan 0, step 2
    torch.testing.assert_close(planner.calls[1]["init"], torch.full((1, 3, 2), last))


def test_action_repeat_expands_each_model_action_into_env_actions():
    planner = ScriptedPlanner()
    model = ground_truth(RL, action_repeat=3)  # model action = 3 env actions of size 2
    agent = MPCAgent(model, planner, horizon=2, replan_every=2)
    obs = gym.make(RL).reset(seed=0)[0]
    actions = [agent.predict(obs)[0] for _ in range(6)]
    assert len(planner.calls) == 1  # 2 model actions x 3 env actions before replanning
    assert all(a.shape == (2,) for a in actions)
    np.testing.assert_allclose(np.stack(actions[:3]), np.zeros((3, 2)))  # model action 0
    np.testing.assert_allclose(np.stack(actions[3:]), np.full((3, 2), 0.1))  # model action 1
    agent.predict(obs)
    assert len(planner.calls) == 2 and planner.calls[1]["init"].shape == (1, 2, 6)


class ChainModel:
    """Discrete toy: a position on a line, actions left / stay / right (one-hot blocks)."""

    action_space = spaces.Discrete(3)
    action_repeat = 2

    def encode(self, obs):
        return obs.float()

    def step(self, z, a):
        moves = torch.tensor([-1.0, 0.0, 1.0])
        for block in a.reshape(a.shape[0], 2, 3).unbind(1):
            z = z + block @ moves[:, None]
        return z


def test_discrete_actions_are_ints_and_reach_the_goal():
    agent = MPCAgent(
        ChainModel(), "cem", horizon=3, replan_every=1, cost=dense_goal_cost, seed=0, **FAST_CEM
    )
    single = {"observation": np.array([0.0]), "desired_goal": np.array([4.0])}
    position, steps = 0, []
    for _ in range(4):
        action, _ = agent.predict(
            {"observation": np.array([float(position)]), "desired_goal": np.array([4.0])}
        )
        assert isinstance(action, int) and action in (0, 1, 2)
        position += action - 1
        steps.append(action)
    assert position == 4, steps  # the dense cost's optimum: the shortest path, four rights
    batch = {k: np.stack([v, v + 1]) for k, v in single.items()}
    actions, _ = agent.predict(batch, episode_start=np.array([True, True]))
    assert actions.shape == (2,) and actions.dtype == np.int64


# -- bad input ----------------------------------------------------------------------------------


def test_bad_observations_raise_value_error_and_leave_the_agent_usable():
    agent = MPCAgent(ground_truth(RL), ScriptedPlanner(), horizon=3, replan_every=1)
    good = gym.make(RL).reset(seed=0)[0]
    bad = [
        good["observation"],  # not a dict
        {"observation": good["observation"]},  # no goal
        {**good, "desired_goal": np.zeros(3, np.float32)},  # goal of another shape
        {k: np.zeros(3, np.float32) for k in good},  # neither one env nor a batch of RL
        {k: np.zeros((2, 2, 2), np.float32) for k in good},
        {**good, "observation": np.array([np.nan, 0.0], np.float32)},
        {k: np.array(["a", "b"]) for k in good},
    ]
    for obs in bad:
        with pytest.raises(ValueError):
            agent.predict(obs)
    with pytest.raises(ValueError, match="episode_start"):
        agent.predict(_batch(RL, [0, 1, 2]), episode_start=np.array([True, False]))
    action, _ = agent.predict(good)
    assert action.shape == (2,)


def test_encoder_with_wrong_output_shape_is_a_clear_error():
    class FlatEncoder(ChainModel):
        def encode(self, obs):
            return obs.float().reshape(-1)  # [B * D] instead of [B, D]

    agent = MPCAgent(FlatEncoder(), ScriptedPlanner(), horizon=2)
    with pytest.raises(ValueError, match=r"model.encode must map"):
        agent.predict({"observation": np.zeros(1), "desired_goal": np.ones(1)})


def test_bad_construction_arguments():
    model = ground_truth(RL)
    with pytest.raises(ValueError, match="unknown planner"):
        MPCAgent(model, "no-such-planner")
    with pytest.raises(ValueError, match="replan_every"):
        MPCAgent(model, "cem", horizon=3, replan_every=4)
    with pytest.raises(ValueError, match="only apply to a planner name"):
        MPCAgent(model, ScriptedPlanner(), horizon=3, n_samples=10)
    with pytest.raises(ValueError, match="horizon"):
        MPCAgent(model, ScriptedPlanner())  # no preset to take the horizon from
    with pytest.raises(ValueError, match="WorldModel contract"):
        MPCAgent(object(), "cem")
    preset = PLANNERS["cem"]
    agent = MPCAgent(model, "cem")
    assert (agent.horizon, agent.replan_every) == (preset.horizon, preset.replan_every)
    assert MPCAgent(model, "cem", horizon=2).replan_every == min(preset.replan_every, 2)


def test_icem_elites_travel_through_the_agent_per_env_and_clear_at_episode_start():
    import gymnasium as gym

    from wmplan_agents import MPCAgent, ground_truth

    env = gym.make("WMPlan/LinearExpansive-v0")
    agent = MPCAgent(
        ground_truth(env), "icem", horizon=6, replan_every=1, n_samples=40, n_elites=4,
        iterations=2,
    )  # fmt: skip
    obs, _ = env.reset(seed=0)
    agent.predict(obs, episode_start=True)
    assert agent.last_plan.info["shift"].tolist() == [-1]  # nothing carried yet
    assert agent.last_plan.carry is not None and agent.last_plan.carry.shape[:2] == (1, 2)
    obs, *_ = env.step(agent.predict(obs)[0] * 0)
    assert agent.last_plan.info["shift"].tolist() == [1]  # the elites came back, shifted by 1
    agent.predict(obs, episode_start=True)  # a new episode: the env's carry is dropped
    assert agent.last_plan.info["shift"].tolist() == [-1]
    agent.reset()
    assert agent._carry == []
    # two envs planned together: only the one with a carry reuses elites
    both = {k: np.stack([v, v]) for k, v in obs.items()}
    agent.predict(both, episode_start=np.array([True, True]))
    agent.predict(both, episode_start=np.array([False, True]))
    assert agent.last_plan.info["shift"].tolist() == [1, -1]
