"""Planning as Descent on a problem with a known answer: a 2-D point that moves by a tenth of its
action per step. Trained on random-walk data, PaD must steer it to goals it never saw."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from wmplan_agents import MPCAgent, checkpoint
from wmplan_agents.data import Dataset
from wmplan_agents.models.pad import PaDModel, train_pad
from wmplan_agents.planners import make_planner
from wmplan_agents.planners.pad import PaD

SPACE = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
SPEED = 0.1


def point_data(episodes: int = 200, length: int = 50, seed: int = 0) -> Dataset:
    """Random walks with smooth (AR(1)) actions: no episode heads for any goal."""
    rng = np.random.default_rng(seed)
    obs, acts, nxt, ids = [], [], [], []
    for e in range(episodes):
        x, a = rng.uniform(-1, 1, 2), rng.uniform(-1, 1, 2)
        for _ in range(length):
            a = np.clip(0.8 * a + 0.5 * rng.normal(size=2), -1, 1)
            x2 = np.clip(x + SPEED * a, -1.5, 1.5)
            obs.append(x)
            acts.append(a)
            nxt.append(x2)
            ids.append(e)
            x = x2
    f32 = np.float32
    return Dataset(
        np.array(obs, f32), np.array(acts, f32), np.array(nxt, f32), np.array(ids), SPACE
    )


def small_model(**kw) -> PaDModel:
    sizes = dict(latent_dim=16, future=8, d_model=32, n_layers=1, n_heads=2, hidden=64)
    return PaDModel(2, SPACE, max_lambda=30, **{**sizes, **kw})


def _train(updates: int):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: more threads only oversubscribe a 2-core machine
    try:
        model = small_model()
        result = train_pad(model, point_data(), updates=updates, batch_size=128, lr=1e-3)
    finally:
        torch.set_num_threads(before)
    return model, result


@pytest.fixture(scope="module")
def trained():
    """Trained to plan (2,500 updates, about 2.5 minutes on one core: the slow tests)."""
    return _train(2500)


@pytest.fixture(scope="module")
def briefly_trained():
    """400 updates (about 20 s): enough for the API tests, whose actions need some direction."""
    return _train(400)


def _drive(model, planner, starts, goals, steps=60, replan=2):
    """Closed loop on the true point dynamics; final distances to the goals."""
    finals = []
    for x, g in zip(starts, goals, strict=True):
        queue: list = []
        for _ in range(steps):
            if np.linalg.norm(x - g) < SPEED:
                break
            if not queue:
                with torch.no_grad():
                    z0 = model.encode(torch.tensor(x[None], dtype=torch.float32))
                    zg = model.encode(torch.tensor(g[None], dtype=torch.float32))
                queue = list(planner.plan(model, z0, zg, replan).actions[0].numpy())
            x = np.clip(x + SPEED * queue.pop(0), -1.5, 1.5)
        finals.append(np.linalg.norm(x - g))
    return np.array(finals)


@pytest.mark.slow
def test_pad_steers_the_point_to_unseen_goals(trained):
    model, result = trained
    assert result.history[-1]["denoise"] < result.history[0]["denoise"] / 5
    rng = np.random.default_rng(123)  # problems no tuning run used
    starts, goals = rng.uniform(-0.8, 0.8, (20, 2)), rng.uniform(-0.8, 0.8, (20, 2))
    finals = _drive(model, PaD(n_candidates=32), starts, goals)
    initial = np.linalg.norm(starts - goals, axis=1)
    assert np.mean(finals < SPEED) >= 0.6, finals  # 15/20 here; 6-13/20 on other sets
    assert np.median(finals) < 0.2 * np.median(initial)


@pytest.mark.slow
def test_the_lowest_energy_candidate_has_a_plausible_temporal_target(trained):
    model, _ = trained
    rng = np.random.default_rng(7)
    x, g = rng.uniform(-0.8, 0.8, (16, 2)), rng.uniform(-0.8, 0.8, (16, 2))
    with torch.no_grad():
        z0, zg = model.encode(torch.tensor(x, dtype=torch.float32)), model.encode(torch.tensor(g))
    result = PaD(n_candidates=32).plan(model, z0, zg, 8)
    steps_needed = np.linalg.norm(x - g, axis=1) / SPEED
    lam = result.info["lambda"].numpy()
    # at least the straight-line number of steps, and not wildly more
    assert np.mean(lam >= 0.8 * steps_needed) >= 0.8
    assert np.median(lam / steps_needed) < 3.0
    first = result.actions[:, 0].numpy()
    cos = np.sum(first * (g - x), 1) / (np.linalg.norm(first, axis=1) * steps_needed * SPEED)
    assert np.median(cos) > 0.8  # the first action heads for the goal
    assert result.actions.abs().max() <= 1.0


def test_training_and_planning_run_the_same_refinement(monkeypatch):
    model = small_model()
    calls = []
    original = PaDModel.refine

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("create_graph", False))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PaDModel, "refine", spy)
    train_pad(model, point_data(episodes=4, length=20), updates=2, batch_size=8)
    z = torch.zeros(1, 16)
    PaD(n_candidates=4).plan(model, z, z, 3)
    assert calls == [True, True, False]  # two training updates (second order), one plan


def test_the_plan_in_info_is_the_winning_refined_future():
    model = small_model()
    gen = torch.Generator().manual_seed(0)
    z0, zg = torch.randn(3, 16, generator=gen), torch.randn(3, 16, generator=gen)
    result = PaD(n_candidates=5).plan(model, z0, zg, 4)
    plan = result.info["plan"]
    assert plan.shape == (3, model.future, model.latent_dim)
    with torch.no_grad():
        assert torch.allclose(model.actions(z0, plan)[:, :4], result.actions)
        energy = model.energy(plan, z0, zg, result.info["lambda"])
    assert torch.allclose(energy, result.cost, atol=1e-5)


@pytest.mark.slow
def test_the_projector_pulls_noised_latents_back_to_the_encoder_manifold(trained):
    model, _ = trained
    rng = np.random.default_rng(5)
    with torch.no_grad():
        clean = model.encode(torch.tensor(rng.uniform(-1, 1, (256, 2)), dtype=torch.float32))
        noised = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
        back = model.project(noised)
    before = (noised - clean).norm(dim=1).median()
    after = (back - clean).norm(dim=1).median()
    assert after < 0.8 * before  # measured 0.63


def test_without_the_projector_it_is_the_identity():
    model = small_model(projector=False)
    z = torch.randn(3, 16)
    assert torch.equal(model.project(z), z)


def test_the_model_round_trips_through_a_checkpoint(tmp_path, briefly_trained):
    model, _ = briefly_trained
    checkpoint.save(model, tmp_path / "pad")
    loaded = checkpoint.load(tmp_path / "pad")
    x = torch.rand(4, 2)
    assert torch.equal(loaded.encode(x), model.encode(x))
    z = model.encode(x)
    a = PaD(n_candidates=8).plan(model, z, z.flip(0), 4).actions
    b = PaD(n_candidates=8).plan(loaded, z, z.flip(0), 4).actions
    assert torch.equal(a, b)


def test_the_agent_plans_with_pad_by_name(briefly_trained):
    model, _ = briefly_trained
    agent = MPCAgent(model, planner="pad", horizon=4, replan_every=2)
    obs = {"observation": np.zeros(2, np.float32), "desired_goal": np.full(2, 0.5, np.float32)}
    action, _ = agent.predict(obs)
    assert action.shape == (2,) and np.all(np.abs(action) <= 1)
    assert action.sum() > 0  # toward the goal at (0.5, 0.5)


def test_bad_uses_are_clear_errors(briefly_trained):
    model, _ = briefly_trained
    z = torch.zeros(2, 16)
    planner = make_planner("pad", n_candidates=4)
    with pytest.raises(ValueError, match="horizon"):
        planner.plan(model, z, z, 9)  # more than model.future = 8
    with pytest.raises(ValueError, match="takes no cost"):
        planner.plan(model, z, z, 2, cost=lambda zs, a, g: zs.sum((1, 2)))
    with pytest.raises(ValueError, match="PaDModel"):
        from wmplan_agents.models.ground_truth import ground_truth

        planner.plan(
            ground_truth("WMPlan/LinearExpansive-v0"), torch.zeros(1, 4), torch.zeros(1, 4), 2
        )
    with pytest.raises(NotImplementedError, match="planner='pad'"):
        model.step(z, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="Box"):
        PaDModel(2, gym.spaces.Discrete(3))
    with pytest.raises(ValueError, match="episode"):
        train_pad(small_model(), point_data(episodes=3, length=5), updates=1)


def test_the_agent_pairs_pad_only_with_pad_models(briefly_trained):
    from wmplan_agents.models.ground_truth import ground_truth

    model, _ = briefly_trained
    with pytest.raises(ValueError, match="planner='pad'"):
        MPCAgent(model, planner="cem", horizon=4)
    with pytest.raises(ValueError, match="PaD model"):
        MPCAgent(ground_truth("WMPlan/LinearExpansive-v0"), planner="pad")


def test_the_reproduction_runs_at_a_tiny_size(tmp_path):
    pytest.importorskip("ogbench")
    from wmplan_agents.reproduce import reproduce

    lines: list[str] = []
    result = reproduce(
        "pad", tmp_path / "out", echo=lines.append, data=("play",), projector=(True, False),
        replan=(4,), tasks=(2,), episodes=1, steps=500, episode_steps=50, train_minutes=0.02,
        max_steps=12,
        baselines=("cem",), baseline_epochs=1, models_dir=str(tmp_path / "models"),
    )  # fmt: skip
    labels = [r.label for r in result.rows]
    assert labels == ["PaD, N=4", "PaD (no projector), N=4", "CEM + MLPDynamics"]
    assert all(r.n == 1 and len(r.lengths[2]) == 1 for r in result.rows)
    assert all(1 <= r.lengths[2][0] <= 12 for r in result.rows)
    assert (tmp_path / "models" / "cubesingle_pad.json").exists()  # trained and saved
    assert (tmp_path / "models" / "cubesingle_pad_noproj.json").exists()
    assert (tmp_path / "out" / "pad.json").exists()
    assert any("PaD on CubeSingle" in line for line in lines)


def test_the_reproduction_runs_on_two_cubes_at_a_tiny_size(tmp_path):
    pytest.importorskip("ogbench")
    from wmplan_agents import checkpoint
    from wmplan_agents.reproduce import reproduce

    lines: list[str] = []
    result = reproduce(
        "pad", tmp_path / "out", echo=lines.append, cubes=2, data=("play",), projector=(True,),
        replan=(4,), tasks=(3,), episodes=1, steps=300, episode_steps=50, train_minutes=0.01,
        max_steps=6, baselines=(), models_dir=str(tmp_path / "models"),
    )  # fmt: skip
    assert [r.label for r in result.rows] == ["PaD, N=4"]
    assert 1 <= result.rows[0].lengths[3][0] <= 6
    model = checkpoint.load(tmp_path / "models" / "cubedouble_pad")
    assert model.env_id == "WMPlan/CubeDouble-v0" and model.obs_dim == 37
    title = next(line for line in lines if "PaD on" in line)
    assert "CubeDouble" in title and "CubeSingle" not in title
    assert any("no paper number" in line for line in lines)
    with pytest.raises(ValueError, match="cubes must be 1 or 2"):
        reproduce("pad", tmp_path / "bad", cubes=3)


def test_the_table_names_the_papers_projector_ablation_for_noisy_data():
    from wmplan_agents.reproduce.pad import PadResult, PadSettings, Row, table

    rows = [
        Row(label, data, {1: [False]}, {1: [200]})
        for label, data in (("PaD, N=4", "play"), ("PaD, N=4", "noisy"),
                            ("PaD (no projector), N=4", "noisy"))
    ]  # fmt: skip
    text = table(PadResult(PadSettings(tasks=(1,)), rows=rows))
    lines = {line.split("  ")[0]: line for line in text.splitlines() if ": PaD" in line}
    assert lines["play: PaD, N=4"].rstrip().endswith("95%; length 78")
    assert lines["noisy: PaD, N=4"].rstrip().endswith("98%; length 63")
    assert lines["noisy: PaD (no projector), N=4"].rstrip().endswith("50%; length 63")


def test_the_shipped_cube_model_plans_with_its_preset():
    pytest.importorskip("ogbench")
    from wmplan_agents import load_pretrained

    model = load_pretrained("WMPlan/CubeSingle-v0")
    assert isinstance(model, PaDModel) and model.env_id == "WMPlan/CubeSingle-v0"
    agent = MPCAgent(model, planner="pad")
    assert (agent.horizon, agent.replan_every) == (16, 4)
    env = gym.make("WMPlan/CubeSingle-v0")
    agent.check_env(env)
    obs, _ = env.reset(seed=0, options={"task_id": 1})
    action, _ = agent.predict(obs)
    env.close()
    assert action.shape == (5,) and np.all(np.abs(action) <= 1) and np.all(np.isfinite(action))
    with pytest.raises(ValueError, match="planner='pad'"):
        MPCAgent(model, planner="grasp")


def test_the_shipped_cube_agent_runs_under_sb3_evaluate_policy():
    pytest.importorskip("ogbench")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    from wmplan_agents import load_pretrained

    vec_env = make_vec_env("WMPlan/CubeSingle-v0", n_envs=2, seed=0, env_kwargs={"max_steps": 6})
    agent = MPCAgent(load_pretrained("WMPlan/CubeSingle-v0"), planner="pad")
    agent.check_env(vec_env)
    rewards, lengths = evaluate_policy(
        agent, vec_env, n_eval_episodes=2, return_episode_rewards=True
    )
    vec_env.close()
    # six steps cannot place a cube: both episodes truncate, -1 (one cube off target) per step
    assert lengths == [6, 6] and rewards == [-6.0, -6.0]
