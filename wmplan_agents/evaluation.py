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
    predict_times_s: list[float]  # per episode, wall time spent in agent.predict
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def predict_time_s(self) -> float:
        """Total wall time spent in ``agent.predict``."""
        return float(sum(self.predict_times_s))

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
    workers: int = 1,
    address: str | None = None,
    options: dict[str, Any] | None = None,
    **env_kwargs: Any,
) -> EvalResult:
    """Run ``n_episodes`` episodes of ``env`` (an env id, made with ``gym.make(env,
    **env_kwargs)``, or an env instance, used as it is and left open) with ``agent``.

    Before any step, an agent with ``check_env`` (an :class:`~wmplan_agents.MPCAgent`) checks
    that the env fits its model and raises ``ValueError`` otherwise. Episode ``j`` starts with
    ``reset(seed=seed + j)``; an :class:`~wmplan_agents.MPCAgent` is then ``reset(seed=seed +
    j)`` (its queue and warm start are cleared and its planner's random stream restarts from
    the planner's seed mixed with the episode's), so every episode is a function of its own
    seed. Other agents get ``episode_start=True`` on the first step, as SB3 passes it. Success
    is ``info["is_success"]`` at the end of an episode (terminated or truncated). Any object
    with SB3's ``predict(observation, state, episode_start, deterministic)`` works as
    ``agent``. ``progress``: show a tqdm bar over episodes. ``options``: passed to every
    ``reset`` (e.g. ``{"task_id": 3}`` for one of OGBench's cube tasks).

    ``workers > 1`` (or a Ray ``address``) runs the episodes in shards on Ray workers
    (:mod:`wmplan_agents.parallel`; ``pip install "wmplan[ray]"``), each rebuilding the agent
    from its model's checkpoint and its constructor arguments and the env from its id (an env
    instance must come from ``gym.make``: it is rebuilt from its ``spec``). The result equals
    the serial run's episode by episode; only ``predict_time_s`` (summed over workers) differs.
    """
    from wmplan_agents import parallel

    n_episodes = check_int("n_episodes", n_episodes, 1)
    workers = parallel.check_workers(workers, address)
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
    seeds = [seed + j for j in range(n_episodes)]
    try:
        if callable(getattr(agent, "check_env", None)):
            agent.check_env(env)
        if parallel.uses_ray(workers, address):
            if env.spec is None:
                raise ValueError(
                    f"workers={workers} rebuild the env from its spec, and this "
                    f"{type(env.unwrapped).__name__} has none: pass an env id or an env made "
                    "with gym.make"
                )
            recipe = parallel.agent_recipe(agent)
            pieces = parallel.shards(n_episodes, workers)
            tasks = [(recipe, env.spec, [seeds[i] for i in piece], options) for piece in pieces]
            outs = parallel.run_tasks(
                _episodes_task, tasks, workers=workers, address=address, progress=progress,
                desc=f"eval {env_id}", weights=[len(p) for p in pieces],
            )  # fmt: skip
            parts = ("seeds", "successes", "returns", "lengths", "predict_times_s")
            return EvalResult(env_id, *([x for o in outs for x in getattr(o, k)] for k in parts))
        return _run_episodes(agent, env, seeds, progress, env_id, options)
    finally:
        if owns_env:
            env.close()


def _run_episodes(
    agent: Any,
    env: gym.Env,
    seeds: list[int],
    progress: bool = False,
    env_id: str = "",
    options: dict[str, Any] | None = None,
) -> EvalResult:
    from wmplan_agents.agent import MPCAgent

    out = EvalResult(env_id, [], [], [], [], [])
    bar = tqdm(seeds, desc=f"eval {env_id}", unit="ep", disable=not progress, leave=False)
    for s in bar:
        obs, info = env.reset(seed=s, options=options)
        if isinstance(agent, MPCAgent):
            agent.reset(seed=s)
        state, start, done = None, True, False
        total, length, predict_s = 0.0, 0, 0.0
        while not done:
            t0 = time.perf_counter()
            action, state = agent.predict(
                obs, state=state, episode_start=np.array([start]), deterministic=True
            )
            predict_s += time.perf_counter() - t0
            obs, reward, terminated, truncated, info = env.step(action)
            start, done = False, terminated or truncated
            total += float(reward)
            length += 1
        out.successes.append(bool(info.get("is_success", False)))
        out.returns.append(total)
        out.seeds.append(s)
        out.lengths.append(length)
        out.predict_times_s.append(predict_s)
        bar.set_postfix(success=f"{np.mean(out.successes):.2f}")
    return out


def _episodes_task(task: tuple[Any, Any, list[int], dict[str, Any] | None]) -> EvalResult:
    """One shard on a worker: rebuild the agent and the env, run the episodes."""
    from wmplan_agents import parallel

    recipe, spec, seeds, options = task
    agent = parallel.build_agent(recipe)
    env = gym.make(spec)
    try:
        return _run_episodes(agent, env, seeds, options=options)
    finally:
        env.close()


__all__ = ["EvalResult", "evaluate"]
