"""WMPlan/PointMaze-v0: observation layout, agreement with gymnasium-robotics, pixels."""

from __future__ import annotations

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics")

import wmplan_envs  # noqa: F401  (registers the ids)
from wmplan_envs.pointmaze import PointMazeEnv

ENV_ID = "WMPlan/PointMaze-v0"


def _reference_like(env: PointMazeEnv):
    """A fresh gymnasium-robotics PointMaze put into exactly ``env``'s state and goal."""
    from gymnasium_robotics.envs.maze.point_maze import PointMazeEnv as Reference

    ref = Reference(maze_map=env.maze_map, continuing_task=True, reset_target=False)
    os.remove(ref.tmp_xml_file_path)  # the reference leaves its maze XML in the temp folder
    ref.reset(seed=0)
    ref.goal = env.wrapped.goal.copy()
    ref.update_target_site_pos()
    ref.point_env.set_state(env.wrapped.data.qpos.copy(), env.wrapped.data.qvel.copy())
    return ref


def _drive_to_goal(env: gym.Env, obs: dict, steps: int = 200) -> tuple:
    """A PD controller on the true state towards the goal position."""
    for t in range(steps):
        state, goal = obs["observation"], obs["desired_goal"]
        action = np.clip(2.0 * (goal[:2] - state[:2]) - 0.3 * state[2:], -1, 1)
        obs, reward, terminated, truncated, info = env.step(action.astype(np.float32))
        if terminated or truncated:
            return obs, reward, terminated, info, t + 1
    return obs, reward, terminated, info, steps


def test_observation_layout() -> None:
    env = gym.make(ENV_ID)
    obs, info = env.reset(seed=0)
    base = env.unwrapped
    data = base.wrapped.data
    for key in ("observation", "achieved_goal", "desired_goal"):
        assert obs[key].shape == (4,) and obs[key].dtype == np.float32
    # observation = achieved_goal = [qpos x, qpos y, qvel x, qvel y], at rest after reset
    expected = np.concatenate([data.qpos, data.qvel]).astype(np.float32)
    np.testing.assert_array_equal(obs["observation"], expected)
    np.testing.assert_array_equal(obs["achieved_goal"], expected)
    np.testing.assert_array_equal(obs["observation"][2:], 0.0)
    goal = np.array([*base.wrapped.goal, 0.0, 0.0], dtype=np.float32)
    np.testing.assert_array_equal(obs["desired_goal"], goal)
    np.testing.assert_array_equal(info["goal_state"], goal)
    # a push along +x moves the point and shows up as positive x velocity
    for _ in range(5):
        obs, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
    np.testing.assert_array_equal(
        obs["observation"], np.concatenate([data.qpos, data.qvel]).astype(np.float32)
    )
    assert obs["observation"][2] > 0.1 and abs(obs["observation"][3]) < 1e-6
    assert obs["observation"][0] > expected[0]


def test_success_agrees_with_gymnasium_robotics_on_random_rollouts() -> None:
    env = PointMazeEnv(continuing_task=True)
    successes = 0
    for episode in range(6):
        # start and goal in neighbouring cells, so random pushes reach the goal now and then
        env.reset(seed=episode, options={"reset_cell": (1, 1), "goal_cell": (1, 2)})
        ref = _reference_like(env)
        env.action_space.seed(episode)
        for _ in range(150):
            action = env.action_space.sample()
            obs, reward, terminated, _, info = env.step(action)
            ref_obs, ref_reward, ref_terminated, _, ref_info = ref.step(action.astype(np.float64))
            # same physics: the states agree exactly, and so does the success test
            np.testing.assert_array_equal(info["state"], ref_obs["observation"].astype(np.float32))
            assert info["is_success"] == ref_info["success"]
            assert reward == ref_reward == float(info["is_success"])
            assert not terminated and not ref_terminated
            successes += info["is_success"]
    assert 5 <= successes <= 6 * 150 - 5, f"random rollouts gave {successes} successes"


def test_terminates_on_success_unless_continuing() -> None:
    options = {"reset_cell": (1, 1), "goal_cell": (1, 3)}
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=0, options=options)
    obs, reward, terminated, info, steps = _drive_to_goal(env, obs)
    assert terminated and info["is_success"] and reward == 1.0 and steps < 200
    dist = np.linalg.norm(obs["achieved_goal"][:2] - obs["desired_goal"][:2])
    assert dist <= 0.45
    env = gym.make(ENV_ID, continuing_task=True, reward_type="dense")
    obs, _ = env.reset(seed=0, options=options)
    obs, reward, terminated, info, steps = _drive_to_goal(env, obs, steps=120)
    assert not terminated and steps == 120 and info["is_success"]
    dist = np.linalg.norm(obs["achieved_goal"][:2].astype(np.float64) - obs["desired_goal"][:2])
    assert reward == pytest.approx(np.exp(-dist))


def test_bad_keywords_and_options_are_explained() -> None:
    with pytest.raises(ValueError, match="obs_type"):
        PointMazeEnv(obs_type="rgb")
    with pytest.raises(ValueError, match="reward_type"):
        PointMazeEnv(reward_type="shaped")
    env = PointMazeEnv()
    with pytest.raises(ValueError, match="free cell"):
        env.reset(seed=0, options={"goal_cell": (0, 0)})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(seed=0, options={"goal": (1, 1)})
    obs, _ = env.reset(seed=0)  # still usable
    assert env.observation_space.contains(obs)


def test_pixels_goal_image_is_the_point_at_the_goal() -> None:
    env = PointMazeEnv(obs_type="pixels", image_size=48, continuing_task=True)
    obs, info = env.reset(seed=0, options={"reset_cell": (1, 1), "goal_cell": (3, 1)})
    assert obs["observation"].shape == (48, 48, 3) and obs["observation"].dtype == np.uint8
    state_before = env.wrapped.data.qpos.copy()
    goal_image = env._image_of(info["goal_state"][:2].astype(np.float64))
    np.testing.assert_array_equal(obs["desired_goal"], goal_image)
    np.testing.assert_array_equal(env.wrapped.data.qpos, state_before)  # rendering moved nothing
    assert not np.array_equal(obs["observation"], obs["desired_goal"])
    # the image changes when the point moves, and not otherwise
    obs2, *_ = env.step(np.zeros(2, dtype=np.float32))
    np.testing.assert_array_equal(obs2["observation"], obs["observation"])
    for _ in range(10):
        obs2, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
    assert not np.array_equal(obs2["observation"], obs["observation"])
    # rewards for images come from the true states in info, batched the way HER calls it
    obs3, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    achieved = np.stack([obs3["achieved_goal"]] * 3)
    desired = np.stack([obs3["desired_goal"]] * 3)
    rewards = env.compute_reward(achieved, desired, np.array([info] * 3))
    np.testing.assert_array_equal(rewards, [reward] * 3)
    np.testing.assert_array_equal(env.compute_reward(achieved, desired, info), [reward] * 3)
    with pytest.raises(ValueError, match="relabelled goals"):  # HER's relabelling: refused
        env.compute_reward(achieved, achieved, info)
    with pytest.raises(ValueError, match="goal_state"):
        env.compute_reward(achieved, desired, [{}] * 3)
    with pytest.raises(ValueError, match="2 info dicts"):
        env.compute_reward(achieved, desired, [info] * 2)


def test_missing_headless_opengl_error_says_what_to_install() -> None:
    code = (
        "import gymnasium as gym, wmplan_envs\n"
        "env = gym.make('WMPlan/PointMaze-v0', obs_type='pixels')\n"
        "try:\n    env.reset(seed=0)\nexcept RuntimeError as err:\n    print(err)\n"
    )
    environ = {**os.environ, "MUJOCO_GL": "disable"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=True
    )
    assert "apt-get install" in out.stdout and "MUJOCO_GL=egl" in out.stdout


def test_making_pointmaze_prints_no_adroit_notice():
    import subprocess
    import sys

    code = "import gymnasium as gym, wmplan_envs; gym.make('WMPlan/PointMaze-v0').reset(seed=0)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Adroit" not in out.stderr + out.stdout


@pytest.mark.parametrize(
    "maze_map, match",
    [
        ("1111", "list of rows"),
        ([], "non-empty rectangle"),
        ([[1, 1, 1], [1, 0, 1], [1, 1, 1]], "at least two cells"),
        ([[1, 1, 1], [1, 1, 1]], "at least two cells"),
        ([[1, 0, 0], [1, 0]], "rectangle"),
        ([[1, 0, 2]], "holds 2"),
        ([[1, True, 0]], "holds True"),
    ],
)
def test_bad_maze_maps_are_refused_before_reset_can_hang(maze_map, match):
    with pytest.raises(ValueError, match=match):
        gym.make("WMPlan/PointMaze-v0", maze_map=maze_map)


def test_pixels_survive_a_pygame_window_closed_in_the_same_process(tmp_path):
    # SDL's offscreen driver draws with EGL and terminates the process's EGL display when
    # pygame closes its window, under MuJoCo's feet; the env initialises the display again
    import subprocess
    import sys

    pytest.importorskip("pygame")
    script = tmp_path / "run.py"
    script.write_text(
        "import os\n"
        "os.environ['SDL_VIDEODRIVER'] = 'offscreen'\n"
        "import gymnasium as gym, numpy as np, wmplan_envs\n"
        "maze = gym.make('WMPlan/PointMaze-v0', obs_type='pixels')\n"
        "before, _ = maze.reset(seed=0)\n"
        "pole = gym.make('CartPole-v1', render_mode='human')\n"
        "pole.reset(seed=0)\n"
        "pole.step(0)\n"
        "pole.close()\n"
        "after, _ = maze.reset(seed=0)\n"  # the open env renders again
        "assert np.array_equal(before['observation'], after['observation'])\n"
        "fresh = gym.make('WMPlan/PointMaze-v0', obs_type='pixels')\n"  # so does a new one
        "again, _ = fresh.reset(seed=0)\n"
        "assert np.array_equal(before['observation'], again['observation'])\n"
        "maze.close(); fresh.close()\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    if "x11 not available" in run.stderr or "offscreen not available" in run.stderr:
        pytest.skip("SDL has no offscreen video driver here")
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
    assert "Exception ignored" not in run.stderr
