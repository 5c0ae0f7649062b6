"""Checks every registered ``WMPlan/`` id (and each registry variant) against SPEC section 2."""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env

import wmplan_envs  # noqa: F401  (registers the ids)
from registry import ENVS


def _cases() -> list:
    cases = []
    for entry in ENVS:
        marks = []
        if entry.requires and importlib.util.find_spec(entry.requires) is None:
            marks.append(
                pytest.mark.skip(reason=f"needs {entry.requires} (pip install wmplan[envs])")
            )
        for kwargs in ({}, *entry.variants):
            label = entry.id + "".join(f"[{k}={v}]" for k, v in kwargs.items())
            cases.append(pytest.param(entry.id, kwargs, id=label, marks=marks))
    return cases


CASES = _cases()


def _make(env_id: str, kwargs: dict, **extra) -> gym.Env:
    return gym.make(env_id, **kwargs, **extra)


def _assert_obs_equal(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_obs_equal(a[key], b[key])
    else:
        np.testing.assert_array_equal(a, b)


def _rollout(env: gym.Env, seed: int, n: int = 20) -> list:
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    out = [(obs, info.get("is_success"))]
    for _ in range(n):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        out.append((obs, reward, terminated, truncated, info["is_success"]))
        if terminated or truncated:
            obs, info = env.reset()
            out.append((obs, info["is_success"]))
    return out


def _assert_rollouts_equal(r1: list, r2: list) -> None:
    assert len(r1) == len(r2)
    for t1, t2 in zip(r1, r2):
        _assert_obs_equal(t1[0], t2[0])
        assert t1[1:] == t2[1:]


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_gymnasium_check_env(env_id: str, kwargs: dict) -> None:
    env = _make(env_id, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_sb3_check_env(env_id: str, kwargs: dict) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = _make(env_id, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check_env(env.unwrapped, warn=False)
    env.close()


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_goal_conditioned_contract(env_id: str, kwargs: dict) -> None:
    env = _make(env_id, kwargs)
    space = env.observation_space
    assert isinstance(space, spaces.Dict)
    assert set(space.spaces) == {"observation", "achieved_goal", "desired_goal"}
    assert space["desired_goal"] == space["observation"] == space["achieved_goal"]
    obs, info = env.reset(seed=3)
    for key in ("is_success", "state", "goal_state"):
        assert key in info, f"reset info lacks {key!r}"
    obs2, reward, _, _, info2 = env.step(env.action_space.sample())
    for key in ("is_success", "state", "goal_state"):
        assert key in info2, f"step info lacks {key!r}"
    # compute_reward is vectorised and agrees with the reward step returned
    batch_a = np.stack([obs2["achieved_goal"]] * 3)
    batch_d = np.stack([obs2["desired_goal"]] * 3)
    rewards = env.unwrapped.compute_reward(batch_a, batch_d, [info2] * 3)
    assert np.shape(rewards) == (3,)
    np.testing.assert_allclose(rewards, reward, rtol=1e-5, atol=1e-6)
    env.close()


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_seeded_rollouts_are_identical(env_id: str, kwargs: dict) -> None:
    env1, env2 = _make(env_id, kwargs), _make(env_id, kwargs)
    env2.reset(seed=None)  # a previous unseeded reset must not leak into the seeded one
    _assert_rollouts_equal(_rollout(env1, seed=7), _rollout(env2, seed=7))
    other = _rollout(env1, seed=8)
    assert any(
        not np.array_equal(np.asarray(a[0]["desired_goal"]), np.asarray(b[0]["desired_goal"]))
        or not np.array_equal(np.asarray(a[0]["observation"]), np.asarray(b[0]["observation"]))
        for a, b in zip(_rollout(env2, seed=7), other)
    ), "different seeds gave the same rollout"


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_pickle_round_trip(env_id: str, kwargs: dict) -> None:
    env = _make(env_id, kwargs)
    env.action_space.seed(0)
    env.reset(seed=1)
    env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    actions = [env.action_space.sample() for _ in range(5)]
    for action in actions:
        a = env.step(action)
        b = clone.step(action)
        _assert_obs_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
        if a[2] or a[3]:
            break


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_sync_vector_env(env_id: str, kwargs: dict) -> None:
    venv = gym.vector.SyncVectorEnv([lambda: _make(env_id, kwargs) for _ in range(2)])
    obs, _ = venv.reset(seed=[0, 1])
    assert obs["observation"].shape[0] == 2
    obs, rewards, _, _, infos = venv.step(venv.action_space.sample())
    assert np.all(np.isfinite(rewards))
    assert "is_success" in infos
    venv.close()


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_async_vector_env_with_module_prefix(env_id: str, kwargs: dict) -> None:
    # spawn: the workers are fresh interpreters that have imported nothing of ours
    fns = [lambda: gym.make(f"wmplan_envs:{env_id}", **kwargs) for _ in range(2)]
    venv = gym.vector.AsyncVectorEnv(fns, context="spawn")
    try:
        obs, _ = venv.reset(seed=[0, 1])
        obs, rewards, _, _, _ = venv.step(venv.action_space.sample())
        assert obs["observation"].shape[0] == 2
        assert np.all(np.isfinite(rewards))
    finally:
        venv.close()


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_render_rgb_array(env_id: str, kwargs: dict) -> None:
    env = _make(env_id, kwargs, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert isinstance(frame, np.ndarray)
    assert frame.dtype == np.uint8
    assert frame.shape == env.unwrapped.render_shape
    assert frame.std() > 0, "rendered frame is blank"
    env.close()


def _bad_actions(space: spaces.Space) -> dict[str, object]:
    if isinstance(space, spaces.Discrete):
        return {
            "float": 1.5,
            "nan": float("nan"),
            "shape": np.array([0, 1]),
            "range": space.n + 3,
            "dtype": "left",
        }
    good = np.zeros(space.shape, dtype=space.dtype)
    nan = good.copy()
    nan.flat[0] = np.nan
    inf = good.copy()
    inf.flat[-1] = np.inf
    return {
        "nan": nan,
        "inf": inf,
        "shape": np.zeros((space.shape[0] + 1,), dtype=space.dtype),
        "dtype": np.array(["a"] * space.shape[0]),
        "complex": good.astype(np.complex64),
    }


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_bad_actions_raise_and_env_survives(env_id: str, kwargs: dict) -> None:
    env = _make(env_id, kwargs)
    env.reset(seed=0)
    for name, action in _bad_actions(env.action_space).items():
        with pytest.raises(ValueError) as err:
            env.step(action)
        assert len(str(err.value)) > 10, f"error for {name} does not explain itself"
    obs, reward, *_ = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert np.isfinite(reward)


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_out_of_range_actions_are_clipped(env_id: str, kwargs: dict) -> None:
    space = gym.make(env_id, **kwargs).action_space
    if not isinstance(space, spaces.Box):
        pytest.skip("discrete action space: out-of-range is an error, tested above")
    env1, env2 = _make(env_id, kwargs), _make(env_id, kwargs)
    env1.reset(seed=5)
    env2.reset(seed=5)
    big = space.high + 10.0 * (space.high - space.low)
    small = space.low - 10.0 * (space.high - space.low)
    for far, edge in ((big, space.high), (small, space.low)):
        a = env1.step(far.astype(space.dtype))
        b = env2.step(edge.astype(space.dtype))
        _assert_obs_equal(a[0], b[0])
        assert a[1] == b[1]


def test_module_prefix_in_fresh_interpreter() -> None:
    code = (
        "import gymnasium as gym; "
        "e = gym.make('wmplan_envs:WMPlan/LinearExpansive-v0'); e.reset(seed=0); "
        "print(type(e.unwrapped).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "LinearExpansiveEnv"


def test_every_id_is_in_wmplan_namespace() -> None:
    ids = [e.id for e in ENVS]
    assert len(ids) == len(set(ids))
    for env_id in ids:
        assert env_id.startswith("WMPlan/") and env_id.endswith("-v0")
        assert env_id in gym.registry


@pytest.mark.parametrize(
    "env_id, kwargs, match",
    [
        ("WMPlan/LinearExpansive-v0", {"expansion": float("inf")}, "expansion must be finite"),
        ("WMPlan/LinearExpansive-v0", {"dim": 2.5}, "dim must be an integer"),
        ("WMPlan/LinearExpansive-v0", {"render_size": 0}, "render_size must be an integer in"),
        ("WMPlan/RuggedLandscape-v0", {"omega": float("nan")}, "omega must be finite"),
        ("WMPlan/PushT-v0", {"relative": "no"}, "relative must be True or False"),
        ("WMPlan/PushT-v0", {"goal_steps": 2.5}, "goal_steps must be an integer"),
        ("WMPlan/PushT-v0", {"image_size": 4096}, "image_size must be an integer in"),
        ("WMPlan/PushT-v0", {"max_steps": 0}, "max_steps must be an integer >= 1"),
        ("WMPlan/WallSingle-v0", {"render_size": 0}, "render_size must be an integer in"),
        ("WMPlan/WallSingle-v0", {"terminate_on_success": "yes"}, "must be True or False"),
        ("WMPlan/MiniGridEmpty-v0", {"size": 8.7}, "size must be an integer"),
        ("WMPlan/MiniGridEmpty-v0", {"max_steps": 0}, "max_steps must be an integer >= 1"),
        ("WMPlan/PointMaze-v0", {"image_size": 4096}, "image_size must be an integer in"),
    ],
)
def test_env_kwargs_are_validated_in_init(env_id, kwargs, match):
    entry = next(e for e in ENVS if e.id == env_id)
    if entry.requires is not None:
        pytest.importorskip(entry.requires)
    with pytest.raises(ValueError, match=match):
        gym.make(env_id, **kwargs)


def test_record_video_works_with_the_viz_extra(tmp_path):
    pytest.importorskip("moviepy")
    from gymnasium.wrappers import RecordVideo

    env = RecordVideo(
        gym.make("WMPlan/WallSingle-v0", render_mode="rgb_array"), str(tmp_path / "videos"),
        episode_trigger=lambda e: True, disable_logger=True,
    )  # fmt: skip
    env.reset(seed=0)
    for _ in range(3):
        env.step(env.action_space.sample())
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0
