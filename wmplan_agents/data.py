"""Data for world models: collect transitions from an env, window them, save and load them.

A :class:`Dataset` holds flat per-step arrays in collection order (``observations``, ``actions``,
``next_observations``, ``episodes``, optionally ``states``/``next_states``, the true states from
``info``). Steps of one episode are contiguous, so a window of ``L`` consecutive env steps
starting at row ``i`` is valid when ``episodes[i] == episodes[i + L - 1]``.

Batches are in *env-step units*: ``{"obs": [B, L + 1, *obs_shape], "actions": [B, L, a]}``, where
``obs[:, 0]`` is the observation before the first action and ``obs[:, t + 1]`` the one after env
action ``t``. Observations are float32, except uint8 images ``[H, W, C]``, which stay uint8 as
the envs return them (and as ``MPCAgent`` passes them to ``encode``; a quarter of the memory).
Box actions are float vectors; Discrete actions are one-hot vectors of ``n``. An
objective groups ``k = action_repeat`` env actions into one model action itself (see
:mod:`wmplan_agents.contracts`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

Policy = Callable[[Any, np.random.Generator], Any]
"""``policy(obs, rng) -> env action``: draws only from ``rng``."""

_FORMAT = "wmplan-dataset"
_VERSION = 1


# -- policies ------------------------------------------------------------------------------------


def uniform_policy(action_space: gym.spaces.Space) -> Policy:
    """Uniform random actions over a Box (``low..high``) or Discrete space, drawn from ``rng``."""
    if isinstance(action_space, gym.spaces.Discrete):
        n, start = int(action_space.n), int(action_space.start)
        return lambda obs, rng: np.int64(start + rng.integers(n))
    if isinstance(action_space, gym.spaces.Box):
        low = np.asarray(action_space.low, dtype=np.float64)
        high = np.asarray(action_space.high, dtype=np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError(f"uniform_policy needs a bounded Box action space, got {action_space}")
        dtype = action_space.dtype
        return lambda obs, rng: rng.uniform(low, high).astype(dtype)
    raise TypeError(f"unsupported action space {action_space}: expected Box or Discrete")


class StatePolicy:
    """Adapts a data-like policy of :mod:`wmplan_envs.policies` (``reset()``, ``policy(state,
    rng)``) to :func:`collect`: it is fed ``info["state"]``, the true state, so it also works when
    the observations are pixels, and is reset at every episode start."""

    wants_state = True

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def reset(self) -> None:
        if hasattr(self.inner, "reset"):
            self.inner.reset()

    def __call__(self, state: Any, rng: np.random.Generator) -> Any:
        return self.inner(state, rng)


def default_policy(env: gym.Env) -> Policy:
    """The data-like policy of an env.

    Push-T: the scripted pushing policy (relative actions if the env uses them); WallSingle: the
    von-Mises random walk (both from :mod:`wmplan_envs.policies`, fed the true state); the cube
    envs made with ``mode="data_collection"``: OGBench's "play" oracle; every other env (the
    analytic envs, PointMaze, MiniGrid, the cube envs in task mode): :func:`uniform_policy`.
    """
    spec_id = env.spec.id if env.spec is not None else ""
    name = spec_id.split("/")[-1].rsplit("-v", 1)[0]
    if name in ("CubeSingle", "CubeDouble") and getattr(env.unwrapped, "mode", "") == (
        "data_collection"
    ):
        from wmplan_envs.policies import CubeOraclePolicy

        return CubeOraclePolicy(env, "play")
    if name in ("PushT", "WallSingle"):
        from wmplan_envs import policies

        if name == "PushT":
            relative = bool(getattr(env.unwrapped, "relative", False))
            return StatePolicy(policies.PushTPushingPolicy(relative=relative))
        return StatePolicy(policies.WallRandomWalkPolicy())
    return uniform_policy(env.action_space)


# -- the dataset ---------------------------------------------------------------------------------


@dataclass
class Dataset:
    """Transitions in collection order; see the module docstring for the layout."""

    observations: np.ndarray
    actions: np.ndarray
    next_observations: np.ndarray
    episodes: np.ndarray
    action_space: gym.spaces.Space
    states: np.ndarray | None = None
    next_states: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.observations)
        for name in ("actions", "next_observations", "episodes", "states", "next_states"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise ValueError(f"{name} has {len(arr)} rows, observations has {n}")
        if not isinstance(self.action_space, gym.spaces.Box | gym.spaces.Discrete):
            raise TypeError(f"unsupported action space {self.action_space}")
        for name in ("observations", "actions", "next_observations", "states", "next_states"):
            check_finite_rows(name, getattr(self, name))
        space = self.action_space
        acts = np.asarray(self.actions)
        if isinstance(space, gym.spaces.Box):
            if acts.shape[1:] != space.shape:
                raise ValueError(
                    f"actions have shape {acts.shape[1:]} per row, but the action space {space} "
                    f"has shape {space.shape}"
                )
        else:
            flat = acts.reshape(len(acts), -1)
            bad = (flat.shape[1] != 1) or not np.all(np.mod(flat, 1) == 0)
            if bad:
                raise ValueError(
                    f"actions of a {space} must be one integer per row, got shape {acts.shape}"
                )
            out = np.flatnonzero((flat[:, 0] < space.start) | (flat[:, 0] >= space.start + space.n))
            if len(out):
                raise ValueError(
                    f"actions in rows {_rows(out)} lie outside {space} (values "
                    f"{flat[out[:3], 0].tolist()})"
                )

    def __len__(self) -> int:
        return len(self.observations)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return tuple(self.observations.shape[1:])

    @property
    def action_size(self) -> int:
        """Size of one env action in batches (``n`` for Discrete: one-hot)."""
        if isinstance(self.action_space, gym.spaces.Discrete):
            return int(self.action_space.n)
        return int(np.prod(self.action_space.shape))

    def window_starts(self, length: int) -> np.ndarray:
        """Rows where a window of ``length`` consecutive env steps of one episode starts."""
        if length < 1:
            raise ValueError(f"window length must be >= 1, got {length}")
        n = len(self) - length + 1
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        idx = np.arange(n)
        return idx[self.episodes[idx] == self.episodes[idx + length - 1]]

    def split_keys(self, starts: np.ndarray) -> np.ndarray:
        """Group label of each start for the validation split (the episode: no leakage)."""
        return self.episodes[starts]

    def batch(self, starts: np.ndarray, length: int, device: Any = None) -> dict[str, Tensor]:
        """``{"obs": [B, L+1, *obs], "actions": [B, L, a]}`` for windows at ``starts`` (float32;
        uint8 images ``[H, W, C]`` stay uint8, a quarter of the memory, and the pixel models
        scale them), plus ``"states"`` ``[B, L+1, s]`` when the dataset has them."""
        rows = np.asarray(starts)[:, None] + np.arange(length)[None, :]
        obs = np.concatenate([self.observations[rows[:, :1]], self.next_observations[rows]], 1)
        acts = self.actions[rows]
        images = obs.dtype == np.uint8 and obs.ndim == 5
        obs_dtype = torch.uint8 if images else torch.float32
        if isinstance(self.action_space, gym.spaces.Discrete):
            n, start = int(self.action_space.n), int(self.action_space.start)
            acts = np.eye(n, dtype=np.float32)[acts.astype(np.int64) - start]
        acts = acts.reshape(len(rows), length, -1)
        out = {
            "obs": torch.as_tensor(obs, dtype=obs_dtype, device=device),
            "actions": torch.as_tensor(acts, dtype=torch.float32, device=device),
        }
        if self.states is not None and self.next_states is not None:
            st = np.concatenate([self.states[rows[:, :1]], self.next_states[rows]], 1)
            out["states"] = torch.as_tensor(st, dtype=torch.float32, device=device)
        return out

    # -- files ---------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write a compressed ``.npz`` (arrays plus a JSON header with the action space)."""
        from wmplan_agents.checkpoint import space_to_dict

        path = Path(path)
        if path.suffix != ".npz":
            path = (
                path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": _FORMAT,
            "version": _VERSION,
            "action_space": space_to_dict(self.action_space),
            "meta": self.meta,
        }
        arrays = {
            "observations": self.observations,
            "actions": self.actions,
            "next_observations": self.next_observations,
            "episodes": self.episodes,
        }
        if self.states is not None and self.next_states is not None:
            arrays["states"], arrays["next_states"] = self.states, self.next_states
        np.savez_compressed(path, header=np.array(json.dumps(header)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Dataset:
        """Read a file written by :meth:`save`; a missing or foreign file is a clear error."""
        from wmplan_agents.checkpoint import CheckpointError, space_from_dict

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"dataset file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except Exception as err:
            raise CheckpointError(f"{path} is not a readable .npz dataset: {err}") from err
        if "header" not in data:
            raise CheckpointError(f"{path} has no wmplan header; was it written by Dataset.save?")
        try:
            header = json.loads(str(data.pop("header")))
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{path}: the header is not valid JSON: {err}") from err
        if not isinstance(header, dict):
            raise CheckpointError(f"{path}: the header must be a JSON object")
        if header.get("format") != _FORMAT:
            raise CheckpointError(f"{path}: format {header.get('format')!r}, expected {_FORMAT!r}")
        missing = {"observations", "actions", "next_observations", "episodes"} - set(data)
        if missing:
            raise CheckpointError(f"{path} lacks the arrays {sorted(missing)}")
        if "action_space" not in header:
            raise CheckpointError(f"{path}: the header lacks the field 'action_space'")
        if not isinstance(header.get("meta", {}), dict):
            raise CheckpointError(f"{path}: the header's 'meta' must be an object")
        try:
            return cls(
                action_space=space_from_dict(header["action_space"]),
                meta=header.get("meta", {}),
                **data,
            )
        except CheckpointError as err:
            raise CheckpointError(f"{path}: {err}") from err
        except (ValueError, TypeError) as err:
            raise CheckpointError(f"{path}: {err}") from err


def _json_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The env keyword arguments that JSON can hold (for the dataset header and checkpoints)."""
    out = {}
    for key, value in (kwargs or {}).items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            continue
        out[str(key)] = value
    return out


def _rows(rows: np.ndarray) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:10])
    return f"[{shown}{', ...' if len(rows) > 10 else ''}] ({len(rows)} rows)"


def check_finite_rows(name: str, array: Any) -> None:
    """``ValueError`` naming the rows of ``array`` that hold NaN or inf (None passes)."""
    if array is None:
        return
    arr = np.asarray(array)
    if arr.dtype.kind not in "fc":
        return
    bad = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))
    if len(bad):
        raise ValueError(f"{name} has NaN or inf in rows {_rows(bad)}")


@dataclass
class ArrayDataset:
    """Independent rows (no time structure), e.g. ``x`` and ``energy`` for an energy model.

    Batches are ``{name: [B, ...]}``; the window length is ignored.
    """

    arrays: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        sizes = {k: len(v) for k, v in self.arrays.items()}
        if not sizes or len(set(sizes.values())) != 1:
            raise ValueError(f"ArrayDataset needs equally long arrays, got sizes {sizes}")
        for name, array in self.arrays.items():
            check_finite_rows(name, array)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def window_starts(self, length: int) -> np.ndarray:
        return np.arange(len(self))

    def split_keys(self, starts: np.ndarray) -> np.ndarray:
        return starts

    def batch(self, starts: np.ndarray, length: int, device: Any = None) -> dict[str, Tensor]:
        return {
            k: torch.as_tensor(v[starts], dtype=torch.float32, device=device)
            for k, v in self.arrays.items()
        }


# -- collection ----------------------------------------------------------------------------------


def collect(
    env: gym.Env | str,
    policy: Policy | str | None = None,
    n_steps: int = 10_000,
    seed: int = 0,
    *,
    obs_key: str = "observation",
    progress: bool = True,
    env_kwargs: dict[str, Any] | None = None,
) -> Dataset:
    """Run ``policy`` in ``env`` for ``n_steps`` env steps and return the transitions.

    ``env``: an env or an id for ``gym.make`` (with ``env_kwargs``). ``policy``: a callable
    ``policy(obs, rng)``, ``"uniform"``, ``"play"`` / ``"noisy"`` (OGBench's cube oracles, for
    the cube envs made with ``mode="data_collection"``), or ``None`` for
    :func:`default_policy`; a policy with ``wants_state = True`` gets ``info["state"]`` instead
    of the observation, and one with a ``reset()`` method is reset at every episode start.
    Episodes are
    reset with seeds ``seed, seed + 1, ...``; the policy draws from ``numpy.random.default_rng(
    seed)``, so the same seed gives the same data. Dict observations are reduced to
    ``obs[obs_key]``; ``info["state"]`` is stored too when the env reports it.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps}")
    owns_env = isinstance(env, str)
    env_id = env if isinstance(env, str) else (env.spec.id if env.spec else type(env).__name__)
    if isinstance(env, str):
        import wmplan_envs  # noqa: F401  (registers the WMPlan/ ids)

        env = gym.make(env, **(env_kwargs or {}))
    if policy is None:
        policy = default_policy(env)
    elif policy == "uniform":
        policy = uniform_policy(env.action_space)
    elif policy in ("play", "noisy"):  # OGBench's cube oracles
        from wmplan_envs.policies import CubeOraclePolicy

        policy = CubeOraclePolicy(env, policy)
    elif isinstance(policy, str):
        raise ValueError(
            f"policy must be a callable, 'uniform', 'play', 'noisy' or None, got {policy!r}"
        )
    rng = np.random.default_rng(seed)

    def pick(o: Any) -> np.ndarray:
        return np.asarray(o[obs_key] if isinstance(o, dict) else o)

    from tqdm.auto import tqdm

    obs_l, act_l, nxt_l, ep_l, st_l, nst_l = [], [], [], [], [], []
    episode = 0
    wants_state = bool(getattr(policy, "wants_state", False))
    reset_policy = getattr(policy, "reset", None)
    obs, info = env.reset(seed=seed)
    if reset_policy is not None:
        reset_policy()
    try:
        for _ in tqdm(range(n_steps), desc=f"collect {env_id}", disable=not progress):
            action = policy(info["state"] if wants_state else obs, rng)
            nxt, _, terminated, truncated, nxt_info = env.step(action)
            obs_l.append(pick(obs))
            act_l.append(np.asarray(action))
            nxt_l.append(pick(nxt))
            ep_l.append(episode)
            st_l.append(info.get("state"))
            nst_l.append(nxt_info.get("state"))
            obs, info = nxt, nxt_info
            if terminated or truncated:
                episode += 1
                obs, info = env.reset(seed=seed + episode)
                if reset_policy is not None:
                    reset_policy()
    finally:
        if owns_env:
            env.close()
    has_states = all(s is not None for s in st_l) and all(s is not None for s in nst_l)
    return Dataset(
        observations=np.stack(obs_l),
        actions=np.stack(act_l),
        next_observations=np.stack(nxt_l),
        episodes=np.asarray(ep_l, dtype=np.int64),
        action_space=env.action_space,
        states=np.stack(st_l).astype(np.float32) if has_states else None,
        next_states=np.stack(nst_l).astype(np.float32) if has_states else None,
        meta={
            "env_id": env_id,
            "env_kwargs": _json_kwargs(env.spec.kwargs if env.spec is not None else {}),
            "n_steps": n_steps,
            "seed": seed,
            "obs_key": obs_key,
        },
    )
