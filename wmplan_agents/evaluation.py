"""Evaluate an agent on a registered env: success rate, returns, lengths, planning time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

import wmplan_envs  # noqa: F401  (registers the WMPlan/ ids)
from wmplan_envs.core import check_int


@dataclass
class EvalResult:
    """Per-episode outcomes of :func:`evaluate` (episode ``j`` was reset with ``seeds[j]``)."""

    env_id: str
    seeds: list[int]
    successes: list[bool]
    returns: list[float]
    lengths: list[int]
    predict_time_s: float  # total time spent in agent.predict
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n_episodes(self) -> int:
        return len(self.seeds)

    @property
    def success_rate(self) -> float:
        """Fraction of episodes with ``info["is_success"]`` at their last step."""
        return float(np.mean(self.successes)) if self.successes else float("nan")

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else float("nan")

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths)) if self.lengths else float("nan")

    @property
    def plan_time_per_step_s(self) -> float:
        """Mean wall time of ``agent.predict`` per env step (planning amortised over steps)."""
        steps = int(np.sum(self.lengths))
        return self.predict_time_s / steps if steps else float("nan")


def evaluate(
    agent: Any,
    env: str | gym.Env,
    n_episodes: int = 10,
    seed: int = 0,
    *,
    progress: bool = True,
    max_episode_steps: int | None = None,
    **env_kwargs: Any,
) -> EvalResult:
    """Run ``n_episodes`` episodes of ``env`` (an env id, made with ``gym.make(env,
    **env_kwargs)``, or an env instance, used as it is and left open) with ``agent``.

    Before any step, an agent with ``check_env`` (an :class:`~wmplan_agents.MPCAgent`) checks
    that the env fits its model and raises ``ValueError`` otherwise. Episode ``j`` starts with
    ``reset(seed=seed + j)``; the agent gets ``episode_start=True`` on its first step (so an
    :class:`~wmplan_agents.MPCAgent` forgets the previous episode). Success is
    ``info["is_success"]`` at the end of an episode (terminated or truncated). Any object with
    SB3's ``predict(observation, state, episode_start, deterministic)`` works as ``agent``.
    ``progress``: show a tqdm bar over episodes.
    """
    n_episodes = check_int("n_episodes", n_episodes, 1)
    if not callable(getattr(agent, "predict", None)):
        raise ValueError(f"agent must have a predict method (SB3's protocol), got {agent!r}")
    owns_env = isinstance(env, str)
    if owns_env:
        make_kwargs: dict[str, Any] = dict(env_kwargs)
        if max_episode_steps is not None:
            make_kwargs["max_episode_steps"] = max_episode_steps
        env = gym.make(env, **make_kwargs)
    elif not isinstance(env, gym.Env):
        raise ValueError(f"env must be an env id or a gymnasium Env, got {type(env).__name__}")
    elif env_kwargs or max_episode_steps is not None:
        raise ValueError("env keyword arguments and max_episode_steps only apply to an env id")
    env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    try:
        if callable(getattr(agent, "check_env", None)):
            agent.check_env(env)
    except BaseException:
        if owns_env:
            env.close()
        raise
    seeds = [seed + j for j in range(n_episodes)]
    successes: list[bool] = []
    returns: list[float] = []
    lengths: list[int] = []
    predict_time = 0.0
    try:
        bar = tqdm(seeds, desc=f"eval {env_id}", unit="ep", disable=not progress, leave=False)
        for s in bar:
            obs, info = env.reset(seed=s)
            state, start, done = None, True, False
            total, length = 0.0, 0
            while not done:
                t0 = time.perf_counter()
                action, state = agent.predict(
                    obs, state=state, episode_start=np.array([start]), deterministic=True
                )
                predict_time += time.perf_counter() - t0
                obs, reward, terminated, truncated, info = env.step(action)
                start, done = False, terminated or truncated
                total += float(reward)
                length += 1
            successes.append(bool(info.get("is_success", False)))
            returns.append(total)
            lengths.append(length)
            bar.set_postfix(success=f"{np.mean(successes):.2f}")
    finally:
        if owns_env:
            env.close()
    return EvalResult(env_id, seeds, successes, returns, lengths, predict_time)


__all__ = ["EvalResult", "evaluate"]
