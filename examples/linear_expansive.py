"""Quickstart on the spectral-cliff system: the true dynamics, and why long rollouts are hard.

Run: python examples/linear_expansive.py
"""

import gymnasium as gym
import numpy as np

import wmplan_envs  # noqa: F401  (registers the WMPlan/ ids)

env = gym.make("WMPlan/LinearExpansive-v0")
system = env.unwrapped
print(f"spectral radius of W: {np.max(np.abs(np.linalg.eigvals(system.W))):.3f}")
for horizon in (10, 25, 50):
    jac = np.linalg.matrix_power(system.W, horizon - 1) @ system.B
    print(f"|| d s_T / d a_0 || at T={horizon:2d}: {np.linalg.norm(jac, 2):10.1f}")

# A one-step inverse controller with the true (W, B) reaches the goal.
obs, info = env.reset(seed=0)
for t in range(50):  # noqa: B007  (t is reported below)
    s, g = obs["observation"].astype(np.float64), obs["desired_goal"].astype(np.float64)
    action = np.clip(np.linalg.solve(system.B, g - system.W @ s), -1.0, 1.0)
    obs, reward, terminated, truncated, info = env.step(action.astype(np.float32))
    if terminated or truncated:
        break
print(f"inverse control: success={info['is_success']} after {t + 1} steps")
