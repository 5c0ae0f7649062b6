"""Push-T: reference geometry and physics, placement, pictures, reachable goals, pickling."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pymunk
import pytest
from shapely.geometry import Polygon
from shapely.ops import unary_union

from wmplan_envs import pusht_render as pr
from wmplan_envs.pusht import GOAL_POSE, PushTEnv, _build, t_moment

FAR_AGENT = (40.0, 40.0)  # a corner, away from blocks placed near the middle


def _placed(block_pose: tuple, agent: tuple = FAR_AGENT, **kw) -> PushTEnv:
    env = PushTEnv(**kw)
    env.reset(seed=0)
    env.set_state(np.array([*agent, *block_pose]))
    return env


def _area_centroid(pose: tuple) -> np.ndarray:
    t = unary_union([Polygon(p) for p in pr.t_pieces(*pose)])
    return np.array([t.centroid.x, t.centroid.y])


def test_t_area_moment_and_centre_of_gravity_match_the_reference() -> None:
    assert t_moment() == pytest.approx(3000.0, abs=1e-9)
    space, _, block = _build(np.array([0, 0, 256, 256, 0.3, 0, 0, 0, 0, 0], dtype=float))
    assert block.moment == pytest.approx(3000.0) and block.mass == 1.0
    assert tuple(block.center_of_gravity) == (0.0, 45.0)
    assert sum(s.area for s in block.shapes) == pytest.approx(6300.0)
    assert pr.T_AREA == 6300.0
    assert all(s.friction == 0.0 for s in space.shapes)  # frictionless, as the references
    assert space.damping == 0.0 and tuple(space.gravity) == (0.0, 0.0)


def test_coverage_is_one_at_the_goal_and_zero_far_away() -> None:
    assert pr.coverage(GOAL_POSE, GOAL_POSE) == pytest.approx(1.0, abs=1e-12)
    assert pr.coverage((100.0, 400.0, 0.0), GOAL_POSE) == 0.0
    rng = np.random.default_rng(0)
    goal = unary_union([Polygon(p) for p in pr.t_pieces(*GOAL_POSE)])
    for _ in range(30):  # partial overlaps agree with shapely
        pose = (256 + rng.uniform(-60, 60), 256 + rng.uniform(-60, 60), rng.uniform(-np.pi, np.pi))
        block = unary_union([Polygon(p) for p in pr.t_pieces(*pose)])
        expected = goal.intersection(block).area / goal.area
        assert pr.coverage(pose, GOAL_POSE) == pytest.approx(expected, abs=1e-9)


def test_fixed_goal_reward_and_success_at_the_goal_pose() -> None:
    env = _placed(GOAL_POSE)
    obs, reward, terminated, _, info = env.step(np.array(FAR_AGENT, dtype=np.float32))
    assert reward == pytest.approx(1.0) and info["is_success"] and terminated
    assert info["coverage"] == pytest.approx(1.0, abs=1e-6)
    env = _placed((GOAL_POSE[0] + 25.0, GOAL_POSE[1], GOAL_POSE[2]))
    _, reward, terminated, _, info = env.step(np.array(FAR_AGENT, dtype=np.float32))
    assert 0.3 < reward < 1.0 and not info["is_success"] and not terminated


def test_placement_sets_angle_then_position() -> None:
    pose = (300.0, 220.0, 2.0)
    env = _placed(pose)
    np.testing.assert_allclose(env.physics_state[2:5], pose, atol=1e-9)
    _, _, block = env._sim
    world = [tuple(block.local_to_world(v)) for s in block.shapes for v in s.get_vertices()]
    np.testing.assert_allclose(sorted(world), sorted(map(tuple, pr.keypoints(*pose).reshape(8, 2))))
    # the other order (position, then angle) would rotate about the centre of gravity and move it
    wrong = pymunk.Body(1, 3000)
    wrong.center_of_gravity = (0, 45)
    wrong.position = pose[:2]
    wrong.angle = pose[2]
    assert np.linalg.norm(np.array(wrong.position) - pose[:2]) > 10


def test_untouched_block_stays_where_it_is() -> None:
    env = _placed((300.0, 250.0, 1.0))
    before = env.physics_state[2:5]
    for _ in range(20):  # the agent wanders in a corner, far from the block
        env.step(np.array([60.0, 80.0], dtype=np.float32))
    np.testing.assert_allclose(env.physics_state[2:5], before, rtol=0, atol=1e-9)


def test_agent_reaches_a_commanded_target_within_ten_steps() -> None:
    env = _placed((400.0, 150.0, 0.0), agent=(60.0, 450.0))
    target = np.array([250.0, 420.0], dtype=np.float32)
    for _ in range(10):  # 1 s of the critically damped PD law
        obs, *_ = env.step(target)
    assert np.linalg.norm(obs["observation"][:2] - target) < 1.0
    assert np.linalg.norm(obs["observation"][5:7]) < 5.0  # and nearly at rest


def test_pushing_moves_the_block() -> None:
    env = _placed((256.0, 200.0, 0.0), agent=(256.0, 120.0))  # agent above the bar
    for _ in range(10):
        env.step(np.array([256.0, 260.0], dtype=np.float32))  # push straight down
    assert env.physics_state[3] > 230.0
    assert abs(env.physics_state[2] - 256.0) < 5.0


def test_keypoints_invert_to_the_pose() -> None:
    pose = (123.0, 321.0, -2.5)
    np.testing.assert_allclose(pr.pose_from_keypoints(pr.keypoints(*pose)), pose, atol=1e-9)
    env = _placed(pose, obs_type="keypoints")
    obs = env._goal_obs(env._observe(env._phys), env._observe(env._goal_phys))
    np.testing.assert_allclose(obs["observation"][:16], pr.keypoints(*pose), atol=1e-3)


@pytest.mark.parametrize("size", [96, 224])
def test_pixels_show_the_block_where_the_state_says(size: int) -> None:
    pose = (280.0, 230.0, 0.7)
    env = _placed(pose, obs_type="pixels", image_size=size)
    img = env._observe(env._phys).astype(float)
    px = 512.0 / size
    centres = (np.arange(size) + 0.5) * px
    xx, yy = np.meshgrid(centres, centres)
    inner = (np.minimum(xx, yy) > 20) & (np.maximum(xx, yy) < 492)
    inner &= np.hypot(xx - FAR_AGENT[0], yy - FAR_AGENT[1]) > 30  # leave out walls and agent
    alpha = np.where(inner, (255.0 - img[..., 1]) / (255.0 - pr.BLOCK_COLOR[1]), 0.0)
    assert alpha.sum() * px**2 == pytest.approx(6300.0, rel=0.01)  # anti-aliased area
    centroid = np.array([(alpha * xx).sum(), (alpha * yy).sum()]) / alpha.sum()
    assert np.linalg.norm(centroid - _area_centroid(pose)) < 0.1 * px
    img = img.astype(int)
    agent = np.all(np.abs(img - np.array(pr.AGENT_COLOR)) < 30, axis=-1)
    rows, cols = np.nonzero(agent)
    assert (
        np.linalg.norm(np.array([cols.mean() + 0.5, rows.mean() + 0.5]) * 512 / size - FAR_AGENT)
        < 4
    )


def test_render_draws_the_goal_in_force() -> None:
    env = PushTEnv(goal="reachable", relative=True, render_mode="rgb_array", render_size=128)
    env.reset(seed=4)
    goal_pose = tuple(env._goal_phys[2:5])
    frame = env.render().astype(int)
    green = np.all(np.abs(frame - np.array(pr.GOAL_COLOR)) < 10, axis=-1)
    assert green.sum() > 50
    rows, cols = np.nonzero(green)
    centroid = np.array([cols.mean() + 0.5, rows.mean() + 0.5]) * 512 / 128
    assert np.linalg.norm(centroid - _area_centroid(goal_pose)) < 40  # partly hidden by the block
    fixed = PushTEnv(render_mode="rgb_array", render_size=128)
    fixed.reset(seed=4)
    assert not np.array_equal(fixed.render(), frame)


@pytest.mark.parametrize("relative", [True, False])
def test_reachable_goal_is_reached_by_replaying_its_actions(relative: bool) -> None:
    env = PushTEnv(goal="reachable", relative=relative, terminate_on_success=False)
    for seed in range(3):
        _, info0 = env.reset(seed=seed)
        assert env.goal_actions.shape == (25, 2)
        for action in env.goal_actions:
            obs, reward, _, _, info = env.step(action)
        np.testing.assert_array_equal(env.physics_state, env._goal_phys)
        np.testing.assert_array_equal(obs["achieved_goal"], obs["desired_goal"])
        assert info["is_success"] and reward == 0.0


def test_reachable_success_fires_at_the_goal_not_at_the_start() -> None:
    env = PushTEnv(goal="reachable", relative=True)
    at_start, block_moved = [], []
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        at_start.append(info["is_success"])
        assert env.compute_success(obs["desired_goal"], obs["desired_goal"])
        block_moved.append(np.linalg.norm(info["goal_state"][2:4] - info["state"][2:4]) > 1.0)
    assert sum(at_start) <= 4, "the reachable goal is mostly the start itself"
    assert sum(block_moved) >= 10, "the pushing policy rarely touches the block"


def test_pixel_rewards_read_info_and_need_it() -> None:
    env = PushTEnv(obs_type="pixels", goal="reachable", relative=True, image_size=64)
    env.reset(seed=0)
    obs, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert obs["desired_goal"].shape == (64, 64, 3) and obs["desired_goal"].std() > 0
    assert env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info) == reward
    batch = np.stack([obs["achieved_goal"]] * 2)
    infos = np.array([info, info])
    assert np.all(env.compute_reward(batch, np.stack([obs["desired_goal"]] * 2), infos) == reward)
    with pytest.raises(ValueError, match="info"):
        env.compute_reward(obs["achieved_goal"], obs["desired_goal"], None)


def test_pickle_in_contact_continues_identically() -> None:
    env = _placed((256.0, 200.0, 0.3), agent=(256.0, 120.0))
    for _ in range(3):
        env.step(np.array([256.0, 300.0], dtype=np.float32))  # pushing: contacts are active
    clone = pickle.loads(pickle.dumps(env))
    for k in range(8):
        target = np.array([256.0 + 10 * k, 300.0], dtype=np.float32)
        a, b = env.step(target), clone.step(target)
        np.testing.assert_array_equal(a[0]["observation"], b[0]["observation"])
    np.testing.assert_array_equal(env.physics_state, clone.physics_state)


def test_bad_arguments_raise() -> None:
    for kw in ({"obs_type": "rgb"}, {"goal": "random"}, {"goal_steps": 0}, {"image_size": 2}):
        with pytest.raises(ValueError):
            PushTEnv(**kw)
    env = PushTEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.set_state(np.array([1.0, math.nan, 3.0, 4.0, 5.0]))
    env.step(env.action_space.sample())  # still usable
