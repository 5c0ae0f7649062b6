"""WMPlan/MiniGridEmpty-v0: layout, action mapping, exact torch transition, shortest path."""

from __future__ import annotations

import copy
from collections import deque

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("minigrid")
torch = pytest.importorskip("torch")

import wmplan_envs  # noqa: E402,F401  (registers the ids)
from wmplan_envs.minigrid_empty import MiniGridEmptyEnv  # noqa: E402

ENV_ID = "WMPlan/MiniGridEmpty-v0"


def _place(env: MiniGridEmptyEnv, cell: tuple[int, int], direction: int) -> None:
    env.wrapped.agent_pos, env.wrapped.agent_dir = cell, direction


def _all_cell_directions(env: MiniGridEmptyEnv) -> list[tuple[tuple[int, int], int]]:
    inner = env.size - 2
    cells = [(x, y) for y in range(1, inner + 1) for x in range(1, inner + 1)]
    return [(cell, d) for cell in cells for d in range(4)]


def test_observation_layout_and_goal_convention() -> None:
    env = gym.make(ENV_ID)
    obs, info = env.reset(seed=0)
    base = env.unwrapped
    assert base.n_cells == 36 and obs["observation"].shape == (40,)
    start = np.zeros(40, dtype=np.float32)
    start[0] = 1.0  # cell (1, 1)
    start[36] = 1.0  # facing east
    np.testing.assert_array_equal(obs["observation"], start)
    np.testing.assert_array_equal(obs["achieved_goal"], start)
    goal = np.zeros(40, dtype=np.float32)
    goal[35] = 1.0  # cell (6, 6), the last interior cell
    goal[36:] = 0.25
    np.testing.assert_array_equal(obs["desired_goal"], goal)
    np.testing.assert_array_equal(info["goal_state"], goal)
    assert info["agent_pos"] == (1, 1) and info["agent_dir"] == 0
    # success ignores the direction: the goal cell with any direction succeeds
    for d in range(4):
        at_goal = base.state_vector((6, 6), d)
        assert base.compute_success(at_goal, goal)
        assert base.compute_reward(at_goal, goal, {}) == 1.0
    assert not base.compute_success(base.state_vector((6, 5), 1), goal)


def test_action_mapping_left_right_forward() -> None:
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    _, _, _, _, info = env.step(0)  # left: east -> north
    assert info["agent_dir"] == 3 and info["agent_pos"] == (1, 1)
    _, _, _, _, info = env.step(1)  # right: north -> east
    assert info["agent_dir"] == 0
    _, _, _, _, info = env.step(2)  # forward: one cell east
    assert info["agent_pos"] == (2, 1) and info["agent_dir"] == 0
    for bad in (3, -1, 6):
        with pytest.raises(ValueError, match="Discrete"):
            env.step(bad)


def test_torch_transition_agrees_with_env_everywhere() -> None:
    env = MiniGridEmptyEnv(terminate_on_success=False)
    env.reset(seed=0)
    states, actions, expected = [], [], []
    for cell, direction in _all_cell_directions(env):
        for action in range(3):
            _place(env, cell, direction)
            obs, *_ = env.step(action)
            states.append(env.state_vector(cell, direction))
            actions.append(np.eye(3)[action])
            expected.append(obs["observation"])
    assert len(states) == 36 * 4 * 3
    got = env.transition_torch(
        torch.tensor(np.array(states), dtype=torch.float32),
        torch.tensor(np.array(actions), dtype=torch.float32),
    )
    np.testing.assert_array_equal(got.numpy(), np.array(expected))


def test_torch_transition_relaxed_actions_mix_and_differentiate() -> None:
    env = MiniGridEmptyEnv()
    state = torch.tensor(env.state_vector((3, 4), 1), dtype=torch.float64)[None]
    logits = torch.tensor([[0.2, -0.5, 1.0]], dtype=torch.float64, requires_grad=True)
    probs = torch.softmax(logits, dim=-1)
    mixed = env.transition_torch(state, probs)
    hard = [
        env.transition_torch(state, torch.eye(3, dtype=torch.float64)[a][None]) for a in range(3)
    ]
    expected = sum(probs[0, a] * hard[a] for a in range(3))
    torch.testing.assert_close(mixed, expected)
    # a mixture of valid states: both parts stay probability vectors
    assert torch.isclose(mixed[0, :36].sum(), torch.tensor(1.0, dtype=torch.float64))
    assert torch.isclose(mixed[0, 36:].sum(), torch.tensor(1.0, dtype=torch.float64))
    goal = torch.tensor(env.goal_state, dtype=torch.float64)
    ((mixed - goal) ** 2).sum().backward()
    assert logits.grad is not None and torch.all(torch.isfinite(logits.grad))
    assert logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="actions"):
        env.transition_torch(state, torch.zeros(1, 7))


def _shortest_actions(env: MiniGridEmptyEnv) -> list[int]:
    """Breadth-first search over (cell, direction) using copies of the env itself."""
    start = (tuple(env.wrapped.agent_pos), env.wrapped.agent_dir)
    queue = deque([(copy.deepcopy(env), [])])
    seen = {start}
    while queue:
        node, path = queue.popleft()
        for action in range(3):
            child = copy.deepcopy(node)
            _, _, _, _, info = child.step(action)
            if info["is_success"]:
                return [*path, action]
            key = (info["agent_pos"], info["agent_dir"])
            if key not in seen:
                seen.add(key)
                queue.append((child, [*path, action]))
    raise AssertionError("the goal is unreachable")


@pytest.mark.parametrize(("random_start", "seed"), [(False, 0), (True, 1), (True, 2)])
def test_shortest_path_ends_with_success(random_start: bool, seed: int) -> None:
    env = gym.make(ENV_ID, random_start=random_start)
    _, info = env.reset(seed=seed)
    start = info["agent_pos"]
    plan = _shortest_actions(env.unwrapped)
    if not random_start:
        assert len(plan) == 11  # 5 forward, turn right, 5 forward
    fresh = gym.make(ENV_ID, random_start=random_start)
    _, info = fresh.reset(seed=seed)
    assert info["agent_pos"] == start
    for t, action in enumerate(plan):
        _, reward, terminated, truncated, info = fresh.step(action)
        last = t == len(plan) - 1
        assert info["is_success"] == last and terminated == last and not truncated
        assert reward == float(last)
    assert info["minigrid_reward"] == pytest.approx(1 - 0.9 * len(plan) / 256)


def test_pixels_goal_image_and_agent_decoding() -> None:
    env = MiniGridEmptyEnv(obs_type="pixels", terminate_on_success=False)
    obs, _ = env.reset(seed=0)
    assert obs["observation"].shape == (64, 64, 3)
    goal_index = env.n_cells - 1
    assert env.agent_cells(obs["desired_goal"]) == goal_index
    assert env.agent_cells(obs["observation"]) == 0
    inner = env.size - 2
    for cell, direction in _all_cell_directions(env):
        _place(env, cell, direction)
        image = env._frame(env.tile_size)
        assert env.agent_cells(image) == (cell[1] - 1) * inner + (cell[0] - 1)
        on_goal = cell == env.goal_cell
        assert bool(env.compute_success(image, obs["desired_goal"])) == on_goal
    # the goal image is the current view with the agent moved, facing east
    _place(env, env.goal_cell, 0)
    np.testing.assert_array_equal(env._frame(env.tile_size), obs["desired_goal"])
    empty = np.zeros_like(obs["observation"])
    assert env.agent_cells(empty) == -1 and not env.compute_success(empty, empty)
