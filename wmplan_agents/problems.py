"""Exactly solvable planning problems with known dynamics, for testing and comparing planners.

Each function returns a :class:`ProblemSet`: a world model (``encode`` is the identity), ``n``
start states, ``n`` goals (float64) and the horizon. Every goal is the end of a rollout of in-bounds
actions from its start, so a plan that reaches it exactly exists; a planner's quality is its
final distance as a fraction of the starting distance (:func:`relative_error`).

``seed`` draws the start/goal pairs, ``system_seed`` the system itself (matrices, network
weights), so held-out problems can differ in either.

* :func:`double_integrator`: a 2-D point mass (position, velocity), ``dt = 0.1``.
* :func:`linear_system`: ``s' = W s + B a`` with given eigenvalues (e.g. spectral radius 1.2:
  ``d s_T / d a_0`` grows like ``1.2^T``); the goals come from a trajectory kept bounded by a
  stabilising feedback, so start and goal are of order one while the plan must place the
  unstable direction precisely.
* :func:`linear_expansive`: the ``WMPlan/LinearExpansive-v0`` system, same construction.
* :func:`tanh_mlp`: a random residual network ``z' = z + c * W2 tanh(W1 [z, a] + b1)``.

The tensors are float64 because float32 cannot represent some of these plans: at spectral
radius 1.2 and ``H = 100``, ``d s_T / d a_0`` is about ``1.2^99 = 7e7``, so rounding ``a_0`` to
float32 (relative error ``6e-8``) alone moves the final state by about one unit, as far as the
start is from the goal. Cast with ``.float()`` to plan in float32 where that is not an issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from wmplan_agents.contracts import WorldModel, final_latent


@dataclass(frozen=True)
class ProblemSet:
    """``n`` problems ``(z0[i], goal[i])`` under ``model`` at ``horizon`` model steps."""

    name: str
    model: WorldModel
    z0: Tensor
    goal: Tensor
    horizon: int
    actions: Tensor  # [n, horizon, A]: the in-bounds actions that generated each goal


def relative_error(problems: ProblemSet, actions: Tensor) -> Tensor:
    """``[n]``: ``||rollout(actions)[-1] - goal|| / ||z0 - goal||`` (float64 rollout)."""
    with torch.no_grad():
        z = final_latent(problems.model, problems.z0.double(), actions.double())
        goal = problems.goal.double()
        start = (problems.z0.double() - goal).norm(dim=-1).clamp_min(1e-12)
        return (z - goal).norm(dim=-1) / start


class LinearModel:
    """``s' = W s + B clamp(a, -1, 1)``; ``W [D, D]``, ``B [D, A]`` (float64 NumPy)."""

    def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
        self.w, self.b = np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.b.shape[1],), dtype=np.float32)

    def encode(self, obs: Tensor) -> Tensor:
        return obs

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        w = torch.as_tensor(self.w, dtype=z.dtype, device=z.device)
        b = torch.as_tensor(self.b, dtype=z.dtype, device=z.device)
        return z @ w.T + a.clamp(-1.0, 1.0) @ b.T


class TanhMLPModel(torch.nn.Module):
    """``z' = z + scale * W2 tanh(W1 [z, a] + b1)`` with random weights from ``system_seed``."""

    def __init__(self, dim: int, action_dim: int, hidden: int, scale: float, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.w1 = torch.nn.Parameter(
            torch.randn(hidden, dim + action_dim, generator=gen) / (dim + action_dim) ** 0.5,
            requires_grad=False,
        )
        self.b1 = torch.nn.Parameter(0.1 * torch.randn(hidden, generator=gen), requires_grad=False)
        self.w2 = torch.nn.Parameter(
            torch.randn(dim, hidden, generator=gen) / hidden**0.5, requires_grad=False
        )
        self.scale = float(scale)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (action_dim,), dtype=np.float32)

    def encode(self, obs: Tensor) -> Tensor:
        return obs

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        x = torch.cat([z, a.clamp(-1.0, 1.0)], dim=-1)
        h = torch.tanh(x @ self.w1.to(x.dtype).T + self.b1.to(x.dtype))
        return z + self.scale * h @ self.w2.to(x.dtype).T


def _stack(
    name: str, model: WorldModel, z0: np.ndarray, acts: np.ndarray, horizon: int
) -> ProblemSet:
    """The goals are the end of the model's own float64 rollout of ``acts``, the computation
    :func:`relative_error` makes, so the stored actions reach them exactly: on an expansive
    system a rollout by another library's arithmetic would differ by rounding times ``1.2^H``."""
    f64 = lambda x: torch.tensor(np.asarray(x), dtype=torch.float64)  # noqa: E731
    z0_t, acts_t = f64(z0), f64(acts)
    with torch.no_grad():
        goal = final_latent(model, z0_t, acts_t)
    return ProblemSet(name, model, z0_t, goal, horizon, acts_t)


def _feedback_problems(
    name: str, w: np.ndarray, b: np.ndarray, n: int, horizon: int, seed: int, init: float
) -> ProblemSet:
    """Starts uniform in ``[-init, init]^D``; goals at the end of ``a_t = clip(u_t - K s_t)``
    with ``u_t ~ U(-0.5, 0.5)`` and ``K = B^+ (W - 0.9 I)`` (the closed loop contracts)."""
    rng = np.random.default_rng(seed)
    d = w.shape[0]
    k = np.linalg.pinv(b) @ (w - 0.9 * np.eye(d))
    z0 = rng.uniform(-init, init, (n, d))
    z, acts = z0.copy(), []
    for _ in range(horizon):
        a = np.clip(rng.uniform(-0.5, 0.5, (n, b.shape[1])) - z @ k.T, -1.0, 1.0)
        z = z @ w.T + a @ b.T
        acts.append(a)
    return _stack(name, LinearModel(w, b), z0, np.stack(acts, 1), horizon)


def double_integrator(n: int, horizon: int = 20, seed: int = 0) -> ProblemSet:
    """A 2-D point mass: state ``(x, y, vx, vy)``, ``v' = v + 0.1 a``, ``x' = x + 0.1 v'``;
    starts ``N(0, 0.5^2)``, goals from actions ``U(-1, 1)``."""
    dt = 0.1
    w = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float64)
    b = np.array([[dt * dt, 0], [0, dt * dt], [dt, 0], [0, dt]], dtype=np.float64)
    rng = np.random.default_rng(seed)
    z0 = rng.normal(0.0, 0.5, (n, 4))
    acts = rng.uniform(-1.0, 1.0, (n, horizon, 2))
    return _stack(f"double integrator H={horizon}", LinearModel(w, b), z0, acts, horizon)


def linear_system(
    n: int,
    horizon: int,
    eigenvalues: tuple[float, ...] = (1.2, 1.05, 0.9),
    input_gain: float = 0.5,
    seed: int = 0,
    system_seed: int = 0,
) -> ProblemSet:
    """``s' = W s + B a``, ``W = Q diag(eigenvalues) Q^T``, ``B = input_gain * R`` (``Q``, ``R``
    random orthogonal from ``system_seed``); starts ``U(-1, 1)``, goals from a stabilised
    random trajectory (module docstring)."""
    rng = np.random.default_rng(system_seed)
    d = len(eigenvalues)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    r, _ = np.linalg.qr(rng.standard_normal((d, d)))
    w = (q * np.asarray(eigenvalues, dtype=np.float64)) @ q.T
    name = f"linear {d}-d, radius {max(abs(e) for e in eigenvalues):g}, H={horizon}"
    return _feedback_problems(name, w, input_gain * r, n, horizon, seed, 1.0)


def linear_expansive(n: int, horizon: int, seed: int = 0, **env_kwargs: Any) -> ProblemSet:
    """The ``WMPlan/LinearExpansive-v0`` system (its env kwargs), same goal construction."""
    env = gym.make("WMPlan/LinearExpansive-v0", **env_kwargs)
    w, b = env.unwrapped.W, env.unwrapped.B
    init = float(env.unwrapped.init_range)
    env.close()
    name = f"LinearExpansive {env_kwargs or ''} H={horizon}".replace("  ", " ")
    return _feedback_problems(name, w, b, n, horizon, seed, init)


def tanh_mlp(
    n: int,
    horizon: int = 40,
    dim: int = 8,
    action_dim: int = 3,
    hidden: int = 64,
    scale: float = 0.2,
    seed: int = 0,
    system_seed: int = 0,
) -> ProblemSet:
    """A random residual tanh network (``TanhMLPModel``); starts ``N(0, 1)``, goals from
    time-correlated actions (a random walk with steps ``U(-0.3, 0.3)``, clipped to the box)."""
    model = TanhMLPModel(dim, action_dim, hidden, scale, system_seed)
    rng = np.random.default_rng(seed)
    z0 = rng.normal(0.0, 1.0, (n, dim))
    a = rng.uniform(-1.0, 1.0, (n, action_dim))
    acts = []
    for _ in range(horizon):
        a = np.clip(a + rng.uniform(-0.3, 0.3, a.shape), -1.0, 1.0)
        acts.append(a)
    return _stack(f"tanh MLP {dim}-d, H={horizon}", model, z0, np.stack(acts, 1), horizon)
