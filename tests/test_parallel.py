"""Ray workers: the same results as the serial run, recipes that rebuild models exactly, and a
clear error without the extra."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from wmplan_agents import MPCAgent, evaluate, load_pretrained, parallel
from wmplan_agents.models.ground_truth import ground_truth
from wmplan_agents.planners import make_planner
from wmplan_agents.reproduce import reproduce
from wmplan_agents.reproduce.grasp_common import load_model
from wmplan_agents.reproduce.open_loop import (
    Cell,
    CellJob,
    make_problems,
    merge_cells,
    run_cell,
    run_cells,
)

LE = "WMPlan/LinearExpansive-v0"
TINY = dict(
    n_trials=4, batch=2, horizons=(10,), fractions=(0.5, 1.0), cem_samples=40,
    cem_iterations=4, gd_iterations=10, latco_iterations=20, grasp_iterations=20,
)  # fmt: skip


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    yield ray
    if ray.is_initialized():
        ray.shutdown()


def _cem_agent() -> MPCAgent:
    return MPCAgent(ground_truth(LE), "cem", horizon=8, n_samples=64, n_elites=8, iterations=3)


# -- per-episode seeds: the serial run is a function of each episode's seed --------------------


def test_an_episode_does_not_depend_on_the_episodes_before_it():
    whole = evaluate(_cem_agent(), LE, n_episodes=3, seed=40, progress=False)
    last = evaluate(_cem_agent(), LE, n_episodes=1, seed=42, progress=False)
    assert whole.returns[2] == last.returns[0]
    assert whole.lengths[2] == last.lengths[0]


def test_reset_with_a_seed_restarts_the_planner_stream_from_the_mixed_seed():
    model = ground_truth(LE)
    z0, zg = torch.zeros(1, 4), torch.ones(1, 4)
    planner = make_planner("cem", n_samples=32, n_elites=4, iterations=2, seed=3)
    first = planner.plan(model, z0, zg, 4).actions
    planner.plan(model, z0, zg, 4)
    planner.reset()
    assert torch.equal(planner.plan(model, z0, zg, 4).actions, first)
    planner.reset(seed=7)
    a7 = planner.plan(model, z0, zg, 4).actions
    planner.reset(seed=8)
    a8 = planner.plan(model, z0, zg, 4).actions
    planner.reset(seed=7)
    assert torch.equal(planner.plan(model, z0, zg, 4).actions, a7)
    assert not torch.equal(a7, a8)
    with pytest.raises(ValueError, match="seed"):
        planner.reset(seed=1.5)


def test_reseed_every_plan_keeps_plans_a_function_of_their_inputs():
    model = ground_truth(LE)
    z0, zg = torch.zeros(1, 4), torch.ones(1, 4)
    planner = make_planner("cem", n_samples=32, iterations=2, reseed_every_plan=True)
    before = planner.plan(model, z0, zg, 4).actions
    planner.reset(seed=11)
    assert torch.equal(planner.plan(model, z0, zg, 4).actions, before)


# -- Ray: identical to serial ----------------------------------------------------------------


def test_evaluate_on_two_workers_equals_the_serial_run_episode_by_episode(ray_local):
    serial = evaluate(_cem_agent(), LE, n_episodes=5, seed=300, progress=False)
    sharded = evaluate(_cem_agent(), LE, n_episodes=5, seed=300, progress=False, workers=2)
    assert sharded.seeds == serial.seeds
    assert sharded.returns == serial.returns  # bit for bit
    assert sharded.lengths == serial.lengths
    assert sharded.successes == serial.successes
    assert serial.success_rate > 0  # the episodes did something


def test_evaluate_on_workers_rebuilds_a_shipped_model_and_an_env_instance(ray_local):
    import gymnasium as gym

    env = gym.make("WMPlan/WallSingle-v0")
    agent = MPCAgent(load_pretrained("WMPlan/WallSingle-v0"), "cem", iterations=2)
    serial = evaluate(agent, env, n_episodes=2, seed=9, progress=False)
    sharded = evaluate(agent, env, n_episodes=2, seed=9, progress=False, workers=2)
    env.close()
    assert sharded.returns == serial.returns
    assert sharded.lengths == serial.lengths


def test_reproduce_on_two_workers_equals_its_serial_run(ray_local, tmp_path):
    quiet = dict(echo=lambda *_: None, envs=("wallsingle",), **TINY)
    serial = reproduce("grasp-tables34", tmp_path / "a", **quiet)
    sharded = reproduce("grasp-tables34", tmp_path / "b", workers=2, **quiet)
    a, b = serial.grids["wallsingle"].cells, sharded.grids["wallsingle"].cells
    assert [c.planner for c in a] == [c.planner for c in b] == ["CEM", "LatCo", "GD", "GRASP"]
    for x, y in zip(a, b, strict=True):
        assert x.n == y.n == 4
        assert x.success == y.success
        assert x.planned_cost == y.planned_cost  # the same plans, bit for bit
        assert x.rung_successes == y.rung_successes
        assert x.success_model == y.success_model


def test_reproductions_without_workers_say_so():
    with pytest.raises(ValueError, match="grasp-tables34"):
        reproduce("spectral-cliff", workers=2)


# -- blocks: the unit of work ------------------------------------------------------------------


def test_a_cell_in_blocks_is_its_blocks_merged():
    model = load_model("wallsingle")
    problems = make_problems("wallsingle", 10, list(range(20, 25)))
    kwargs = {"iterations": 10}
    whole = run_cell(model, problems, "gd", kwargs, (0.5, 1.0), batch=2)
    parts = [
        run_cell(model, problems.subset(r), "gd", kwargs, (0.5, 1.0))
        for r in (range(0, 2), range(2, 4), range(4, 5))
    ]
    assert whole.n == 5
    assert whole.success == [s for p in parts for s in p.success]
    assert whole.planned_cost == [c for p in parts for c in p.planned_cost]
    assert whole.rung_successes == [sum(v) for v in zip(*(p.rung_successes for p in parts))]
    assert whole.rung_evals == parts[0].rung_evals


def test_merged_times_and_counts_are_per_trial():
    def cell(n, ok, t):
        return Cell("GD", 10, 10, n, [5, 10], [t, 2 * t], ok, ok, None, [t] * n, [0, sum(ok)],
                    [4, 8], [0, 0], [0.0] * n, None, ["diverged"] if n == 1 else [])  # fmt: skip

    merged = merge_cells([cell(3, [True, False, True], 0.1), cell(1, [True], 0.5)])
    assert merged.n == 4 and merged.success == [True, False, True, True]
    np.testing.assert_allclose(merged.rung_time_s, [(3 * 0.1 + 0.5) / 4, (3 * 0.2 + 1.0) / 4])
    assert merged.rung_successes == [0, 3]
    assert merged.rung_evals == [4, 8]
    assert merged.success_model is None
    assert merged.errors == ["block 1: diverged"]


def test_run_cells_rejects_a_bad_batch():
    model = load_model("wallsingle")
    problems = make_problems("wallsingle", 10, [1, 2])
    with pytest.raises(ValueError, match="batch"):
        run_cells([CellJob(model, problems, "gd", {"iterations": 2}, batch=0)])


# -- recipes -------------------------------------------------------------------------------


def test_a_checkpoint_recipe_rebuilds_the_same_model():
    model = load_pretrained("WMPlan/PushT-v0")
    recipe = parallel.model_recipe(model)
    assert recipe.kind == "checkpoint"
    rebuilt = parallel.build_model(recipe)
    assert (rebuilt.env_id, rebuilt.env_kwargs) == (model.env_id, model.env_kwargs)
    obs = torch.randn(3, 7)
    assert torch.equal(rebuilt.encode(obs), model.encode(obs))


def test_a_ground_truth_recipe_names_its_env():
    model = ground_truth(LE)
    recipe = parallel.model_recipe(model)
    assert recipe.kind == "ground_truth" and recipe.data[0] == LE
    rebuilt = parallel.build_model(recipe)
    z, a = torch.randn(2, 4), torch.randn(2, 4).clamp(-1, 1)
    assert torch.equal(rebuilt.step(z, a), model.step(z, a))


def test_an_agent_recipe_keeps_the_constructor_arguments():
    agent = MPCAgent(ground_truth(LE), "mppi", horizon=6, replan_every=3, iterations=2)
    rebuilt = parallel.build_agent(parallel.agent_recipe(agent))
    assert (rebuilt.horizon, rebuilt.replan_every) == (6, 3)
    assert type(rebuilt.planner) is type(agent.planner)
    assert rebuilt.planner.iterations == 2


# -- without Ray -----------------------------------------------------------------------------


def test_workers_without_ray_give_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ImportError, match=r'pip install "wmplan\[ray\]"'):
        evaluate(_cem_agent(), LE, n_episodes=2, progress=False, workers=2)
    with pytest.raises(ImportError, match=r"wmplan\[ray\]"):
        reproduce("grasp-tables34", workers=2, envs=("wallsingle",), **TINY)
    # one worker needs no Ray
    assert evaluate(_cem_agent(), LE, n_episodes=1, progress=False).n_episodes == 1


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2"])
def test_bad_workers_are_rejected(workers):
    with pytest.raises(ValueError, match="workers"):
        evaluate(_cem_agent(), LE, n_episodes=1, progress=False, workers=workers)


def test_the_cli_runs_workers_and_names_the_extra_without_ray(ray_local, monkeypatch):
    from typer.testing import CliRunner

    from wmplan_agents.cli import app

    args = ["eval", LE, "--episodes", "2", "--set", "iterations=2", "--no-progress"]
    ok = CliRunner().invoke(app, [*args, "--workers", "2"])
    assert ok.exit_code == 0, ok.output
    assert "success rate" in ok.output
    monkeypatch.setitem(sys.modules, "ray", None)
    missing = CliRunner().invoke(app, [*args, "--workers", "2"])
    assert missing.exit_code != 0
    assert "wmplan[ray]" in missing.output
    repro = CliRunner().invoke(app, ["reproduce", "spectral-cliff", "--workers", "2"])
    assert repro.exit_code != 0 and "grasp-tables34" in repro.output


def test_the_minigrid_arms_on_two_workers_equal_the_serial_run(ray_local, tmp_path):
    tiny = dict(
        data_steps=400, mse_epochs=1, contrastive_epochs=1, horizon=3, replan_every=3,
        gd_iterations=2, gd_restarts=2, n_episodes=2, max_episode_steps=3, cem_control=False,
    )  # fmt: skip
    quiet = dict(echo=lambda *_: None, **tiny)
    serial = reproduce("minigrid", tmp_path / "a", **quiet)
    sharded = reproduce("minigrid", tmp_path / "b", workers=2, **quiet)
    assert serial.final_distance == sharded.final_distance
    assert serial.successes == sharded.successes
    assert serial.latent_grid_spearman == sharded.latent_grid_spearman
    assert serial.grad_stats == sharded.grad_stats
