"""Presets per problem, models that know their env, and the default registrations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import wmplan_envs  # noqa: F401
from registry import PLANNERS
from registry.presets import PRESETS, Preset, resolve_preset
from wmplan_agents import MPCAgent, ground_truth, load_pretrained
from wmplan_agents.checkpoint import load, save
from wmplan_agents.defaults_table import defaults_table, markdown
from wmplan_agents.models import MLPDynamics

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def test_precedence_explicit_over_pair_over_env_wide_over_planner_wide(monkeypatch):
    monkeypatch.setitem(PRESETS, ("*", "Fake-v0", "state"), Preset(horizon=7, cost="dense"))
    monkeypatch.setitem(
        PRESETS, ("cem", "Fake-v0", "state"), Preset(horizon=9, kwargs={"n_samples": 64})
    )
    cem, icem = resolve_preset("cem", "Fake-v0", "state"), resolve_preset("icem", "Fake-v0")
    assert (cem.horizon, cem.kwargs["n_samples"], cem.cost) == (9, 64, "dense")
    assert cem.kwargs["n_elites"] == PLANNERS["cem"].kwargs["n_elites"]  # planner-wide kept
    assert (icem.horizon, icem.cost, icem.source) == (7, "dense", "Fake-v0 (state)")
    wide = resolve_preset("cem", "Other-v0")
    assert (wide.horizon, wide.cost, wide.source) == (
        PLANNERS["cem"].horizon,
        "final",
        "planner-wide",
    )

    class Model(torch.nn.Module):
        action_space = gym.spaces.Box(-1, 1, (2,), dtype=np.float32)
        env_id, env_kwargs = "Fake-v0", {}

        def encode(self, obs):
            return obs

        def step(self, z, a):
            return z + a

    agent = MPCAgent(Model(), "cem")
    assert (agent.horizon, agent.planner.n_samples, agent.cost_name) == (9, 64, "dense")
    assert str(agent.preset) == "cem @ Fake-v0 (state)" and "cem @ Fake-v0" in repr(agent)
    agent = MPCAgent(Model(), "cem", horizon=4, n_samples=32, cost="final")
    assert (agent.horizon, agent.planner.n_samples, agent.cost_name) == (4, 32, "final")
    assert agent.replan_every == min(PLANNERS["cem"].replan_every, 4)


def test_pusht_presets_come_from_the_model():
    model = load_pretrained("WMPlan/PushT-v0")
    grasp = MPCAgent(model, "grasp")
    assert grasp.preset.source == "WMPlan/PushT-v0 (state)"
    assert (grasp.horizon, grasp.replan_every) == (5, 5)
    # GRASP's scale-free default steps serve every model; on Push-T it only plans within the
    # box of the shipped model's data
    assert grasp.planner.step_rule == "gn"
    assert grasp.preset.kwargs == {**PLANNERS["grasp"].kwargs, "action_scale": 0.2}
    assert grasp.planner.action_scale == 0.2
    assert MPCAgent(model, "grasp", action_scale=1.0).planner.action_scale == 1.0
    plain = MPCAgent(model, "grasp", step_rule="sgd", horizon=3)
    assert plain.planner.step_rule == "sgd" and plain.horizon == 3 and plain.replan_every == 3


def test_ground_truth_knows_its_env_and_gets_its_presets():
    model = ground_truth("WMPlan/LinearExpansive-v0", expansion=1.1)
    assert model.env_id == "WMPlan/LinearExpansive-v0" and model.env_kwargs["expansion"] == 1.1
    agent = MPCAgent(model, "cem")
    assert agent.preset.source == "WMPlan/LinearExpansive-v0 (state)"
    agent.check_env(gym.make("WMPlan/LinearExpansive-v0", expansion=1.1))
    with pytest.raises(ValueError, match=r"expansion=1\.1.*expansion=1\.15"):
        agent.check_env(gym.make("WMPlan/LinearExpansive-v0"))


def test_check_env_names_both_sides():
    agent = MPCAgent(load_pretrained("WMPlan/WallSingle-v0"), "cem")
    agent.check_env(gym.make("WMPlan/WallSingle-v0"))
    agent.check_env(gym.vector.SyncVectorEnv([lambda: gym.make("WMPlan/WallSingle-v0")] * 2))
    with pytest.raises(ValueError, match=r"trained on WMPlan/WallSingle-v0.*RuggedLandscape"):
        agent.check_env(gym.make("WMPlan/RuggedLandscape-v0"))
    with pytest.raises(ValueError, match=r"obs_type='state'.*obs_type='pixels'"):
        agent.check_env(gym.make("WMPlan/WallSingle-v0", obs_type="pixels"))

    class Plain(torch.nn.Module):  # a user's model that does not say: shapes are still checked
        action_space = gym.spaces.Box(-1, 1, (2,), dtype=np.float32)

        def encode(self, obs):
            return obs

        def step(self, z, a):
            return z

    plain = MPCAgent(Plain(), "cem", observation_space=gym.spaces.Box(-1, 1, (5,)))
    assert plain.preset.source == "planner-wide"
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(5,\)"):
        plain.check_env(gym.make("WMPlan/WallSingle-v0"))
    with pytest.raises(ValueError, match="action space"):
        plain.check_env(gym.make("WMPlan/LinearExpansive-v0"))


def test_checkpoints_record_the_env(tmp_path):
    space = gym.spaces.Box(-1, 1, (2,), dtype=np.float32)
    model = MLPDynamics(3, space, hidden=8, depth=1, seed=0)
    save(model, tmp_path / "anonymous")
    again = load(tmp_path / "anonymous")
    assert getattr(again, "env_id", None) is None
    kwargs = {"obs_type": "state", "relative": True}
    model.env_id, model.env_kwargs = "WMPlan/PushT-v0", kwargs
    save(model, tmp_path / "pusht")
    again = load(tmp_path / "pusht")
    assert (again.env_id, again.env_kwargs) == ("WMPlan/PushT-v0", kwargs)
    assert MPCAgent(again, "cem").preset.source == "WMPlan/PushT-v0 (state)"


def test_default_registrations_are_the_shipped_models_benchmarks():
    env = gym.make("WMPlan/PushT-v0")
    base = env.unwrapped
    assert base.relative and base.goal == "reachable" and base.max_steps == 50
    assert env.action_space == gym.spaces.Box(-1, 1, (2,), dtype=np.float32)
    env.reset(seed=0)
    steps, truncated, terminated = 0, False, False
    while not (truncated or terminated):
        _, _, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.float32))
        steps += 1
    assert steps == 50 and truncated and not terminated
    pusht = gym.make("WMPlan/PushT-v0", task="pusht").unwrapped
    assert not pusht.relative and pusht.goal == "fixed" and pusht.max_steps == 300
    for env_id, obs_type in [
        ("WMPlan/PushT-v0", "state"),
        ("WMPlan/WallSingle-v0", "state"),
        ("WMPlan/PointMaze-v0", "state"),
        ("WMPlan/MiniGridEmpty-v0", "state"),
    ]:
        model = load_pretrained(env_id, obs_type)
        MPCAgent(model, "cem").check_env(gym.make(env_id))  # plain gym.make fits


def test_defaults_table_runs_at_a_tiny_size():
    cells = defaults_table(
        problems=["LinearExpansive"], planners=["cem", "random"], episodes=2, workers=1,
        overrides={"iterations": 2, "n_samples": 40}, echo=lambda line: None,
    )  # fmt: skip
    assert [c.planner for c in cells] == ["cem", "random"]
    assert all(c.error is None for c in cells), [c.error for c in cells]
    assert cells[0].preset == "cem @ WMPlan/LinearExpansive-v0 (state)"
    assert cells[0].target == 0.95 and cells[1].target is None
    assert all(c.mean_length >= 1 and c.plan_time_per_step_s > 0 for c in cells)
    assert "| LinearExpansive (ground truth) |" in markdown(cells)


def test_collect_then_train_records_the_env(tmp_path):
    from wmplan_agents.workflows import TrainOptions, collect_to_file, train_from_file

    path, data = collect_to_file(
        "WMPlan/LinearExpansive-v0", tmp_path / "d.npz", steps=600, progress=False,
        env_kwargs={"expansion": 1.05},
    )  # fmt: skip
    assert data.meta["env_kwargs"]["expansion"] == 1.05
    (json_path, _), _ = train_from_file(
        path, tmp_path / "m", TrainOptions(epochs=1, hidden=8), progress=False
    )
    model = load(json_path)
    assert model.env_id == "WMPlan/LinearExpansive-v0" and model.env_kwargs["expansion"] == 1.05
    agent = MPCAgent(model, "cem")
    assert agent.preset.source == "WMPlan/LinearExpansive-v0 (state)"
    agent.check_env(gym.make("WMPlan/LinearExpansive-v0", expansion=1.05))
    with pytest.raises(ValueError, match="expansion"):
        agent.check_env(gym.make("WMPlan/LinearExpansive-v0"))


def test_agent_rejects_bad_devices_batches_and_episode_starts():
    model = load_pretrained("WMPlan/PushT-v0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            MPCAgent(model, "cem", device="cuda")
    with pytest.raises(ValueError, match="torch device"):
        MPCAgent(model, "cem", device="gpu-please")
    agent = MPCAgent(model, "cem", iterations=2)
    empty = {"observation": np.zeros((0, 7), np.float32), "desired_goal": np.zeros((0, 7))}
    with pytest.raises(ValueError, match="empty batch"):
        agent.predict(empty, episode_start=np.zeros(0, dtype=bool))
    env = gym.make("WMPlan/PushT-v0")
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="episode_start"):
        agent.predict(obs, episode_start="yes")
    action, _ = agent.predict(obs, episode_start=np.array([1]))  # SB3 passes 0/1 arrays too
    assert action.shape == (2,)


def test_agent_reads_a_gymnasium_vector_env_batch_without_episode_start():
    model = load_pretrained("WMPlan/PushT-v0")
    agent = MPCAgent(model, "cem", iterations=2)
    envs = gym.make_vec("WMPlan/PushT-v0", num_envs=2)
    agent.check_env(envs)
    obs, _ = envs.reset(seed=0)
    actions, _ = agent.predict(obs)
    assert actions.shape == (2, 2) and envs.action_space.contains(actions.astype(np.float32))
    envs.close()


def test_cost_names_in_the_registry_are_the_agents_costs():
    from registry.presets import COSTS as NAMES
    from wmplan_agents.contracts import COSTS

    assert tuple(COSTS) == NAMES
