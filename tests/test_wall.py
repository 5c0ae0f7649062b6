"""WallSingle: the reference's collisions, the torch dynamics, sampling and pictures."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import wmplan_envs  # noqa: F401
from wmplan_envs.policies import WallRandomWalkPolicy
from wmplan_envs.wall import WallSingleEnv


def _env(**kw) -> WallSingleEnv:
    env = WallSingleEnv(**kw)
    env.reset(seed=0)
    return env


def _place(env: WallSingleEnv, x: float, y: float, door_y: float = 32.0) -> None:
    env._pos = np.array([x, y])
    env._door_y = door_y


def test_straight_move_into_the_wall_stops_at_the_wall() -> None:
    env = _env()
    _place(env, 27.5, 10.0)  # left of the wall (x = 29), far below the door (28..36)
    obs, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))  # would reach x = 29.5
    x, y = obs["observation"][:2]
    assert x < 29.0, "the point went into the wall"
    assert x == pytest.approx(29.0 - 0.5)  # stopped at the crossing, pushed back 0.5
    for _ in range(10):  # pushing on does not get it through
        obs, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
        assert obs["observation"][0] < 29.0
    # from the right side as well
    _place(env, 36.5, 50.0)
    obs, *_ = env.step(np.array([-1.0, 0.0], dtype=np.float32))
    assert obs["observation"][0] == pytest.approx(35.0 + 0.5)


def test_move_through_the_door_passes() -> None:
    env = _env()
    _place(env, 26.0, 32.0, door_y=32.0)
    xs = []
    for _ in range(8):
        obs, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
        xs.append(float(obs["observation"][0]))
    np.testing.assert_allclose(xs, 26.0 + 2.0 * np.arange(1, 9), rtol=0, atol=1e-5)
    assert xs[-1] > 35.0  # through the wall
    # the same move with the door elsewhere is blocked
    _place(env, 26.0, 32.0, door_y=48.0)
    for _ in range(8):
        obs, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
    assert obs["observation"][0] < 29.0


def test_leaving_the_door_sideways_inside_the_wall_is_stopped() -> None:
    env = _env()
    _place(env, 32.0, 35.0, door_y=32.0)  # in the door, near its upper edge (36)
    obs, *_ = env.step(np.array([0.0, 1.0], dtype=np.float32))
    assert obs["observation"][1] == pytest.approx(36.0 - 0.5)


def test_borders_hold() -> None:
    env = _env()
    _place(env, 10.0, 10.0)
    for _ in range(20):
        obs, *_ = env.step(np.array([-1.0, -1.0], dtype=np.float32))
        x, y = obs["observation"][:2]
        assert 4.0 < x < 29.0 and 4.0 < y < 60.0


def _random_batch(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # many starts near the walls and in the door, so crossings are frequent
    x = np.concatenate([rng.uniform(4.5, 59.5, n // 2), rng.uniform(26.0, 38.0, n - n // 2)])
    door = rng.uniform(11.4, 52.6, n)
    y = np.where(rng.random(n) < 0.5, rng.uniform(4.5, 59.5, n), door + rng.uniform(-6, 6, n))
    actions = rng.uniform(-1.2, 1.2, (n, 2))
    return np.stack([x, y, door], axis=1), actions


def test_torch_dynamics_equal_env_step_on_random_batches() -> None:
    rng = np.random.default_rng(0)
    states, actions = _random_batch(600, rng)
    env = _env()
    expected = []
    for s, a in zip(states, actions):
        _place(env, s[0], s[1], door_y=s[2])
        env.step(a.astype(np.float32))
        expected.append([*env._pos, env._door_y])
    a32 = torch.tensor(actions.astype(np.float32), dtype=torch.float64)
    got = env.transition_torch(torch.tensor(states, dtype=torch.float64), a32).numpy()
    np.testing.assert_array_equal(got, np.array(expected))
    # the batch really exercises the collision rule
    free = states[:, :2] + 2 * np.clip(actions.astype(np.float32), -1, 1)
    blocked = np.any(np.abs(got[:, :2] - free) > 1e-9, axis=1)
    assert blocked.sum() > 50


def test_torch_dynamics_are_differentiable() -> None:
    env = _env()
    state = torch.tensor([[20.0, 20.0, 32.0], [27.5, 10.0, 32.0]], dtype=torch.float64)
    action = torch.tensor([[0.3, -0.2], [1.0, 0.1]], dtype=torch.float64, requires_grad=True)
    env.transition_torch(state, action)[:, :2].sum().backward()
    assert torch.all(torch.isfinite(action.grad))
    assert action.grad[0].tolist() == [2.0, 2.0]  # free move: d(pos + 2a)/da = 2


def test_reset_sampling_matches_the_reference_ranges() -> None:
    env = WallSingleEnv()
    swapped = 0
    for seed in range(200):
        _, info = env.reset(seed=seed)
        s, g = info["state"], info["goal_state"]
        assert 11.4 <= s[2] <= 52.6 and s[2] == g[2]
        left, right = (s, g) if s[0] < 32 else (g, s)
        swapped += s[0] > 32
        assert 7.4 <= left[0] <= 25.6 and 38.4 <= right[0] <= 56.6
        assert 7.4 <= s[1] <= 56.6 and 7.4 <= g[1] <= 56.6
        assert not info["is_success"]
    assert 60 < swapped < 140


def test_pixels_show_the_dot_where_the_state_says() -> None:
    env = gym.make("WMPlan/WallSingle-v0", obs_type="pixels", image_size=65).unwrapped
    obs, info = env.reset(seed=3)
    img = obs["observation"].astype(np.float64)
    redness = img[..., 0] - img[..., 1]  # the dot is red, walls black, background white
    rows, cols = np.indices(redness.shape)
    cy = (redness * rows).sum() / redness.sum()
    cx = (redness * cols).sum() / redness.sum()
    assert abs(cx - info["state"][0]) < 0.5 and abs(cy - info["state"][1]) < 0.5
    goal = obs["desired_goal"].astype(np.float64)
    gred = goal[..., 0] - goal[..., 1]
    assert abs((gred * cols).sum() / gred.sum() - info["goal_state"][0]) < 0.5
    # the wall is black outside the door, the door is open
    door = int(round(info["state"][2]))
    assert np.all(img[door - 10 if door > 20 else door + 10, 30:35] < 10)
    assert np.all(img[door, 30:35, 1] > 200)


def test_pixel_reward_reads_info_and_rejects_missing_info() -> None:
    env = WallSingleEnv(obs_type="pixels")
    env.reset(seed=0)
    obs, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info) == reward
    with pytest.raises(ValueError, match="info"):
        env.compute_reward(obs["achieved_goal"], obs["desired_goal"], None)


def test_random_walk_policy_steps_and_turns() -> None:
    policy = WallRandomWalkPolicy()
    rng = np.random.default_rng(0)
    policy.reset()
    actions = np.array([policy(np.zeros(3), rng) for _ in range(2000)])
    lengths = 2 * np.linalg.norm(actions, axis=1)  # in units of the 2a move
    assert lengths.min() >= 0.2 and lengths.max() <= 1.8
    assert abs(lengths.mean() - 1.0) < 0.05
    turns = np.diff(np.unwrap(np.arctan2(actions[:, 1], actions[:, 0])))
    assert 0.05 < np.abs(turns).mean() < 1.0  # a random walk of the direction, not i.i.d.
    again = WallRandomWalkPolicy()
    again.reset()
    rng2 = np.random.default_rng(0)
    np.testing.assert_array_equal(actions[:5], [again(np.zeros(3), rng2) for _ in range(5)])


def _her_buffer(obs_type: str, steps: int = 130, copy_info_dict: bool = False):
    from stable_baselines3 import HerReplayBuffer
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec = DummyVecEnv([lambda: gym.make("WMPlan/WallSingle-v0", obs_type=obs_type)])
    buf = HerReplayBuffer(
        200, vec.observation_space, vec.action_space, env=vec, n_sampled_goal=4,
        goal_selection_strategy="future", copy_info_dict=copy_info_dict,
    )  # fmt: skip
    vec.seed(0)
    obs = vec.reset()
    rng = np.random.default_rng(0)
    for _ in range(steps):
        action = rng.uniform(-1, 1, (1, 2)).astype(np.float32)
        nxt, reward, done, infos = vec.step(action)
        stored = nxt
        if done[0]:  # the vec env has reset: store the episode's last observation, as SB3 does
            stored = {k: v.copy() for k, v in nxt.items()}
            for k in stored:
                stored[k][0] = infos[0]["terminal_observation"][k]
        buf.add(obs, stored, action, reward, done, infos)
        obs = nxt
    return buf


def test_her_relabels_state_goals_with_the_rewards_of_the_goals_it_passes():
    buf = _her_buffer("state")
    np.random.seed(0)  # noqa: NPY002  (HerReplayBuffer samples from the global generator)
    batch = buf.sample(64)
    ag = batch.next_observations["achieved_goal"].numpy()
    dg = batch.observations["desired_goal"].numpy()
    expected = -np.linalg.norm(ag[:, :2] - dg[:, :2], axis=-1)
    np.testing.assert_allclose(batch.rewards.numpy().ravel(), expected, rtol=1e-5, atol=1e-5)
    env = gym.make("WMPlan/WallSingle-v0").unwrapped
    same = env.compute_reward(ag, ag, None)  # a goal reached: the success reward
    np.testing.assert_array_equal(same, np.zeros(len(ag)))


@pytest.mark.parametrize(
    "copy_info_dict, match", [(True, "relabelled goals"), (False, "'state' is missing")]
)
def test_her_with_pixel_goals_is_refused_instead_of_scoring_the_old_goal(copy_info_dict, match):
    """With the infos kept, relabelled goal images are caught by their digests; without them
    (SB3's default), there is no state to score at all. Either way: an error, never a reward for
    the goal the transition had before relabelling."""
    buf = _her_buffer("pixels", copy_info_dict=copy_info_dict)
    with pytest.raises(ValueError, match=match):
        for _ in range(5):  # some samples are relabelled (4 of 5 on average)
            buf.sample(64)
