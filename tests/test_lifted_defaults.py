"""GRASP and LatCo by name alone on exactly solvable problems (``wmplan_agents.problems``).

The defaults were chosen on the problems' seed 0; these run at other seeds and systems.
"""

from __future__ import annotations

import pytest
import torch

from registry.planners import PLANNERS
from wmplan_agents import problems
from wmplan_agents.planners import make_planner

torch.set_num_threads(1)

# (problem set, bound on the median final distance / starting distance)
CASES = [
    (lambda: problems.double_integrator(8, 20, seed=1001), 0.02),
    (lambda: problems.linear_system(8, 60, seed=1002, system_seed=1002), 0.02),
    (lambda: problems.linear_system(8, 100, seed=1003, system_seed=1003), 0.02),
    (lambda: problems.linear_expansive(8, 50, seed=1004), 0.02),
    (lambda: problems.linear_expansive(8, 80, seed=1005), 0.02),
    (lambda: problems.tanh_mlp(8, 40, seed=1006, system_seed=1006), 0.05),
]


@pytest.mark.parametrize("name", ["grasp", "latco"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_lifted_planner_defaults_solve_exactly_solvable_problems(name, case):
    make, bound = CASES[case]
    ps = make()
    result = make_planner(name, **PLANNERS[name].kwargs).plan(ps.model, ps.z0, ps.goal, ps.horizon)
    err = problems.relative_error(ps, result.actions)
    assert float(err.median()) < bound, (ps.name, err)
    assert float(result.actions.abs().max()) <= 1.0
    # the reported cost is the rolled-out cost of the returned plan
    start = (ps.z0 - ps.goal).norm(dim=-1)
    torch.testing.assert_close(result.cost.sqrt(), err * start, rtol=1e-6, atol=1e-9)


def test_problem_sets_are_exactly_solvable():
    for make, _ in CASES:
        ps = make()
        assert ps.actions.abs().max() <= 1.0
        assert float(problems.relative_error(ps, ps.actions).max()) < 1e-9, ps.name
        assert bool(((ps.z0 - ps.goal).norm(dim=-1) > 0.1).all()), ps.name


def test_float32_cannot_represent_the_longest_expansive_plans():
    # the reason the problem sets are float64: rounding the generating actions to float32
    # already leaves a large share of the starting distance at spectral radius 1.2, H = 100
    ps = problems.linear_system(8, 100, seed=1003, system_seed=1003)
    err = problems.relative_error(ps, ps.actions.float())
    assert float(err.median()) > 0.02, err


@pytest.mark.parametrize(
    "env_id,obs_type",
    [
        ("WMPlan/PushT-v0", "state"),
        ("WMPlan/WallSingle-v0", "state"),
        ("WMPlan/WallSingle-v0", "pixels"),
        ("WMPlan/PointMaze-v0", "state"),
    ],
)
def test_lifted_presets_plan_the_shipped_models_without_nan(env_id, obs_type):
    import gymnasium as gym

    import wmplan_envs  # noqa: F401
    from wmplan_agents import MPCAgent, load_pretrained

    model = load_pretrained(env_id, obs_type)
    kwargs = {"obs_type": obs_type} if obs_type != "state" else {}
    env = gym.make(env_id, **kwargs)
    for name in ("grasp", "latco"):
        agent = MPCAgent(model, name)  # the preset, no settings
        for seed in (7, 8):
            obs, _ = env.reset(seed=seed)
            agent.reset()
            action, _ = agent.predict(obs, deterministic=True)  # raises PlanningError on NaN
            assert env.action_space.contains(action), (name, action)
            assert bool(torch.isfinite(agent.last_plan.cost).all())
