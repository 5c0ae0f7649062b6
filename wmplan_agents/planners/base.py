"""Small pieces every planner shares: input checks, the seeded generator, batched evaluation of
candidate action sequences with NaN handling, categorical sampling for discrete spaces, and the
``info`` dict.

Randomness convention: every planner draws its noise for *one* problem from its own generator and
broadcasts it over the ``B`` problems of a call (common random numbers). Problem ``b`` therefore
sees exactly the draws it would see alone, so ``B`` problems in one call give the same plans as
``B`` single calls with fresh planners of the same seed.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from wmplan_agents.contracts import (
    BatchedRollout,
    CostFn,
    PlanningError,
    PlanResult,
    WorldModel,
    action_bounds,
    action_dim,
    action_repeat,
    final_latent,
    goal_cost,
    is_discrete,
    rollout,
    squared_distance,
)
from wmplan_envs.core import check_int, check_real


@dataclass
class Problem:
    """A checked planning problem: ``B`` start/goal pairs, horizon and action layout."""

    z0: Tensor  # [B, D]
    z_goal: Tensor  # [B, D]
    horizon: int
    init_actions: Tensor | None  # [B, H, A] or None, already clamped to the bounds
    cost: CostFn
    low: Tensor  # [A]
    high: Tensor  # [A]
    discrete: bool
    n_blocks: int  # action_repeat for discrete spaces (one one-hot block per env action)
    n_categories: int  # n for discrete spaces, 0 for Box
    _repeated: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict, repr=False)

    def repeated(self, n: int) -> tuple[Tensor, Tensor]:
        """``z0`` and ``z_goal`` with each problem's row repeated ``n`` times, ``[B*n, D]`` each.

        Built once per population size and reused across iterations (the model must not write
        into its inputs, which no ``step`` in this library does).
        """
        pair = self._repeated.get(n)
        if pair is None:
            pair = (self.z0.repeat_interleave(n, dim=0), self.z_goal.repeat_interleave(n, dim=0))
            self._repeated[n] = pair
        return pair

    @functools.cached_property
    def sequence_bounds(self) -> tuple[Tensor, Tensor]:
        """``low`` and ``high`` repeated over the horizon, ``[H, A]`` each: broadcasting a whole
        ``[H, A]`` block is much faster than broadcasting the ``A`` bounds over every step."""
        shape = (self.horizon, self.action_size)
        return self.low.expand(shape).contiguous(), self.high.expand(shape).contiguous()

    @property
    def batch(self) -> int:
        return self.z0.shape[0]

    @property
    def action_size(self) -> int:
        return self.low.shape[0]


def make_generator(seed: int, device: Any = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


class RandomStream:
    """A planner's own random stream: one ``torch.Generator`` seeded with ``seed``.

    By default the stream continues across ``plan`` calls (a fresh planner with the same seed
    repeats the same sequence of plans). With ``reseed_every_plan=True`` it restarts from
    ``seed`` at every call, so a plan is a pure function of its inputs: an MPC agent planning a
    VecEnv's envs together then makes exactly the plans it would make for each env alone.
    The generator lives on the device of the problem and is rebuilt if the device changes.
    """

    def __init__(self, seed: int, reseed_every_plan: bool = False) -> None:
        self.seed = check_int("seed", seed)
        if not isinstance(reseed_every_plan, (bool, np.bool_)):
            raise ValueError(f"reseed_every_plan must be a bool, got {reseed_every_plan!r}")
        self.reseed_every_plan = reseed_every_plan
        self.start = self.seed  # where the stream (re)starts; see restart
        self.generator: torch.Generator | None = None

    def restart(self, key: int | None = None) -> None:
        """Restart the stream at the next plan: from ``seed`` (``key=None``) or from a seed mixed
        from ``(seed, key)`` (an episode's seed, so each episode has its own stream and the
        plans of an episode do not depend on the episodes run before it). With
        ``reseed_every_plan`` a plan is a function of its inputs alone, so ``key`` is checked
        and not used."""
        if key is not None:
            key = check_int("seed", key)
        mixed = key is not None and not self.reseed_every_plan
        self.start = mix_seeds(self.seed, key) if mixed else self.seed
        self.generator = None

    def for_plan(self, device: Any) -> torch.Generator:
        """The generator to draw this plan's noise from."""
        gen = self.generator
        if self.reseed_every_plan or gen is None or gen.device != torch.device(device):
            self.generator = make_generator(self.start, device)
        return self.generator


def mix_seeds(*seeds: int) -> int:
    """One 63-bit seed from several integers (NumPy's ``SeedSequence``; negative ones wrap)."""
    words = [int(s) % 2**64 for s in seeds]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _checked(check: Callable[[str, Any], Any], default: Any) -> Any:
    return field(default=default, metadata={"check": check})


def count(default: int | None, low: int | None = 1, *, optional: bool = False) -> Any:
    """A planner field holding an int-like value (Python or NumPy integer) ``>= low``;
    ``optional`` also takes ``None``."""

    def check(name: str, value: Any) -> int | None:
        return None if optional and value is None else check_int(name, value, low)

    return _checked(check, default)


def real(
    default: float | None,
    low: float | None = None,
    high: float | None = None,
    *,
    strict: bool = False,
    optional: bool = False,
) -> Any:
    """A planner field holding a finite number in ``[low, high]`` (``strict``: above ``low``),
    finite in float32 too (a larger value would become inf in a float32 plan); ``optional``
    also takes ``None``."""

    def check(name: str, value: Any) -> float | None:
        if optional and value is None:
            return None
        return check_f32(name, check_real(name, value, low, high, strict=strict))

    return _checked(check, default)


def fraction(default: float) -> Any:
    """A planner field holding a number in ``[0, 1)`` (a momentum, a correlation)."""

    def check(name: str, value: Any) -> float:
        v = check_real(name, value)
        if not 0.0 <= v < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        return v

    return _checked(check, default)


def positive(default: float) -> Any:
    """A planner field holding a finite number ``> 0``."""
    return real(default, 0.0, strict=True)


def choice(default: str, options: tuple[str, ...]) -> Any:
    """A planner field holding one of ``options``."""

    def check(name: str, value: Any) -> str:
        if value not in options:
            raise ValueError(f"{name} must be one of {options}, got {value!r}")
        return value

    return _checked(check, default)


def flag(default: bool) -> Any:
    """A planner field holding a bool (Python or NumPy)."""

    def check(name: str, value: Any) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be a bool, got {value!r}")
        return bool(value)

    return _checked(check, default)


@dataclass(frozen=True, kw_only=True)
class PlannerConfig:
    """Base of the library's planners: a frozen, keyword-only dataclass of settings.

    Every field is checked in ``__post_init__`` by the validator it was declared with
    (:func:`count`, :func:`real`, :func:`fraction`, :func:`positive`, :func:`choice`,
    :func:`flag`), then by the
    class's :meth:`check` for rules across fields; a bad value raises ``ValueError`` naming the
    field. Settings cannot change after construction: ``dataclasses.replace(planner, x=...)``
    makes a new planner (with a fresh random stream), which is how sweeps vary one setting.

    Randomness (every planner): ``seed`` seeds the planner's own random stream (``rng``, a
    :class:`RandomStream`). By default it continues across ``plan`` calls, so a fresh planner
    with the same seed repeats the same sequence of plans; ``reseed_every_plan=True`` restarts
    it at every call, making each plan a pure function of its inputs (an MPC agent planning a
    vector env's envs together then makes exactly the plans it would make for each env alone).
    :meth:`reset` restarts the stream, from ``seed`` or from ``seed`` mixed with an episode's
    seed. All ``B`` problems of a call share the same draws (common random numbers), so a
    batched call equals ``B`` single calls.

    Sampled start (every planner but PaD; Box actions): with ``init_samples = N > 0``, a plan
    first draws ``N`` smooth random sequences around the warm start (coloured noise, exponent
    ``init_beta``, one half-range of the box in standard deviation, clamped into the bounds),
    scores them together with the warm start itself in one batched rollout, and starts the
    planner from the cheapest (:func:`sampled_start`). A local method (GD, GRASP, LatCo, a
    narrow CEM) then refines a route that a random search found, e.g. through a door that the
    cost's gradient cannot see. ``0`` (the default) starts from ``init_actions`` as given. The
    draws come from the planner's stream, so plans stay seeded.

    Action box (every planner but PaD; Box actions): ``action_scale = s < 1`` plans within the
    model's action box shrunk about its centre to ``s`` of its size (:func:`shrunk_box`); the
    warm start is clamped into it. A learned model is only right on actions like those it was
    trained on, and a planner that follows its gradient finds the edges of the box where it is
    wrong (the shipped Push-T model saw moves of at most 20 px, a fifth of the box).

    Subclasses implement ``_plan(model, prob, gen, carry)`` (and ``_check`` if their inputs are
    not a dynamics model's: PaD) and return a :class:`PlanResult`
    whose ``info`` has no ``time_s`` (:meth:`plan` adds it). ``noise_device`` says where the
    generator lives: ``None`` on the problem's device, or a fixed one (``"cpu"``: the lifted
    planners draw their noise there so a plan does not depend on the device).
    """

    seed: int = count(0, low=None)  # type: ignore[assignment]
    reseed_every_plan: bool = flag(False)
    init_samples: int = count(0, low=0)  # type: ignore[assignment]
    init_beta: float = real(2.0, 0.0)  # type: ignore[assignment]
    action_scale: float = real(1.0, 0.0, 1.0, strict=True)  # type: ignore[assignment]
    rng: RandomStream = field(init=False, repr=False, compare=False)
    noise_device: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        for f in fields(self):
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(f.name, getattr(self, f.name)))
        self.check()
        object.__setattr__(self, "rng", RandomStream(self.seed, self.reseed_every_plan))

    def check(self) -> None:
        """Rules across fields (``ValueError``); each field was checked on its own before."""

    def reset(self, seed: int | None = None) -> None:
        """Restart the random stream (see :meth:`RandomStream.restart`)."""
        self.rng.restart(seed)

    def plan(
        self,
        model: WorldModel,
        z0: Tensor,
        z_goal: Tensor,
        horizon: int,
        init_actions: Tensor | None = None,
        cost: CostFn | None = None,
        carry: Tensor | None = None,
    ) -> PlanResult:
        """Plan ``horizon`` model actions for each of the ``B`` problems ``(z0[b], z_goal[b])``
        (see :class:`~wmplan_agents.contracts.Planner` and the class docstring)."""
        start = time.perf_counter()
        prob = self._check(model, z0, z_goal, horizon, init_actions, cost)
        gen = self.rng.for_plan(self.noise_device or prob.z0.device)
        if self.action_scale != 1.0:
            prob = shrunk_box(prob, self.action_scale)
        if self.init_samples:
            prob = sampled_start(model, prob, gen, self.init_samples, self.init_beta)
        result = self._plan(model, prob, gen, carry)
        result.info["time_s"] = time.perf_counter() - start
        return result

    def _check(self, *args: Any) -> Problem:
        """:func:`check_problem` (a planner whose inputs are not a dynamics model's overrides
        it: PaD)."""
        return check_problem(*args)

    def _plan(
        self, model: WorldModel, prob: Problem, gen: torch.Generator, carry: Tensor | None
    ) -> PlanResult:
        raise NotImplementedError


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_positive(**values: float) -> None:
    """Raise ``ValueError`` for any keyword argument that is not a finite number > 0 (finite in
    float32 too: a larger value becomes inf in a float32 plan)."""
    for name, value in values.items():
        if not check_real(name, value) > 0:
            raise ValueError(f"{name} must be positive (> 0), got {value!r}")
        check_f32(name, value)


def check_f32(name: str, value: float) -> float:
    """``value`` if it is finite in float32 (|value| <= 3.4e38), else ``ValueError``."""
    if abs(float(value)) > FLOAT32_MAX:
        raise ValueError(
            f"{name} must be finite in float32 (|{name}| <= {FLOAT32_MAX:.3g}), got {value!r}"
        )
    return value


def check_elites(n_elites: int, n_samples: int) -> None:
    """``ValueError`` unless ``n_elites <= n_samples``."""
    if n_elites > n_samples:
        raise ValueError(f"n_elites ({n_elites}) must be <= n_samples ({n_samples})")


_PROBED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def probe_step(model: WorldModel, z0: Tensor, low: Tensor, high: Tensor) -> None:
    """One ``model.step`` on the first start and the middle action: it must give a tensor of
    ``z0``'s width and dtype, else a ``ValueError`` naming the model (instead of an error deep
    inside torch, or a silently broadcast result). Done once per model, latent width, dtype and
    device."""
    key = (z0.shape[1], z0.dtype, z0.device.type)
    try:
        if key in _PROBED.get(model, ()):
            return
    except TypeError:  # not weak-referenceable: probe every time
        pass
    name = type(model).__name__
    with torch.no_grad():
        try:
            z1 = model.step(z0[:1], ((low + high) / 2)[None])
        except (RuntimeError, ValueError, TypeError, IndexError) as err:
            raise ValueError(
                f"{name}.step failed on a latent of shape [1, {z0.shape[1]}] ({z0.dtype}) and an "
                f"action of shape [1, {low.shape[0]}]: {err}; is z0 the model's own latent "
                "(model.encode of an observation)?"
            ) from err
    if not isinstance(z1, Tensor) or tuple(z1.shape) != (1, z0.shape[1]) or z1.dtype != z0.dtype:
        raise ValueError(
            f"{name}.step must map a latent [B, {z0.shape[1]}] ({z0.dtype}) to the same shape "
            f"and dtype, got {_describe(z1)}" + (f" ({z1.dtype})" if isinstance(z1, Tensor) else "")
        )
    try:
        _PROBED.setdefault(model, set()).add(key)
    except TypeError:
        pass


def check_problem(
    model: WorldModel,
    z0: Tensor,
    z_goal: Tensor,
    horizon: int,
    init_actions: Tensor | None,
    cost: CostFn | None,
) -> Problem:
    """Validate the arguments of ``plan`` and bundle them; every error is a clear ``ValueError``."""
    if not isinstance(z0, Tensor) or z0.ndim != 2:
        raise ValueError(f"z0 must be a tensor of shape [B, D], got {_describe(z0)}")
    if not isinstance(z_goal, Tensor) or z_goal.shape != z0.shape:
        raise ValueError(
            f"z_goal must be a tensor of the same shape as z0 {tuple(z0.shape)}, "
            f"got {_describe(z_goal)}"
        )
    if z0.shape[0] < 1:
        raise ValueError("z0 must hold at least one problem (B >= 1), got B = 0")
    if not torch.isfinite(z0).all() or not torch.isfinite(z_goal).all():
        raise ValueError("z0 and z_goal must be finite; got NaN or inf entries")
    horizon = check_int("horizon", horizon, 1)
    space = getattr(model, "action_space", None)
    if not isinstance(space, (gym.spaces.Box, gym.spaces.Discrete)):
        raise ValueError(f"model.action_space must be a Box or Discrete space, got {space!r}")
    dtype = z0.dtype if z0.is_floating_point() else torch.float32
    low, high = action_bounds(model, device=z0.device, dtype=dtype)
    a_dim = action_dim(model)
    b = z0.shape[0]
    if init_actions is not None:
        expected = (b, horizon, a_dim)
        if not isinstance(init_actions, Tensor) or tuple(init_actions.shape) != expected:
            raise ValueError(
                f"init_actions must have shape [B, H, A] = {list(expected)}, "
                f"got {_describe(init_actions)}"
            )
        if not torch.isfinite(init_actions).all():
            raise ValueError("init_actions must be finite; got NaN or inf entries")
        init_actions = torch.maximum(torch.minimum(init_actions.to(z0.device, dtype), high), low)
    if cost is not None and not callable(cost):
        raise ValueError(
            f"cost must be callable cost(z_traj, actions, z_goal) -> [B], got {cost!r}"
        )
    probe_step(model, z0.to(dtype), low, high)
    discrete = is_discrete(model)
    return Problem(
        z0=z0.detach().to(dtype),  # a plan never differentiates into its inputs
        z_goal=z_goal.detach().to(dtype),
        horizon=horizon,
        init_actions=init_actions,
        cost=cost or goal_cost,
        low=low,
        high=high,
        discrete=discrete,
        n_blocks=action_repeat(model) if discrete else 0,
        n_categories=int(space.n) if discrete else 0,
    )


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"a tensor of shape {list(x.shape)}"
    return f"{type(x).__name__}"


def evaluate(
    model: WorldModel, prob: Problem, actions: Tensor
) -> tuple[Tensor, Callable[[], Tensor]]:
    """Roll out and score candidates ``actions [B, N, H, A]`` in one batched rollout.

    Returns ``(cost [B, N], trajectory)``: non-finite costs (NaN, +-inf) become ``+inf`` so they
    are never selected (:meth:`BestSoFar.update` raises if a problem has no finite one), and
    ``trajectory()`` gives the predicted latents ``[B*N, H, D]`` (for error messages). With the
    default cost (:func:`~wmplan_agents.contracts.goal_cost`, which reads only the final latent)
    and a model without its own ``rollout``, the intermediate latents are not kept, and
    ``trajectory()`` recomputes them if it is ever called.
    """
    b, n, h, a = actions.shape
    flat = actions.reshape(b * n, h, a)
    z0, goal = prob.repeated(n)
    if prob.cost is goal_cost and not isinstance(model, BatchedRollout):
        cost = squared_distance(final_latent(model, z0, flat), goal)

        def trajectory() -> Tensor:
            return rollout(model, z0, flat)
    else:
        z_traj = rollout(model, z0, flat)
        cost = call_cost(prob.cost, z_traj, flat, goal)

        def trajectory() -> Tensor:
            return z_traj

    if cost.shape != (b * n,):
        raise ValueError(
            f"cost function returned shape {list(cost.shape)}, expected [{b * n}] "
            "(one scalar per trajectory)"
        )
    inf = float("inf")
    return cost.reshape(b, n).nan_to_num(nan=inf, posinf=inf, neginf=inf), trajectory


def call_cost(cost: CostFn, z_traj: Tensor, actions: Tensor, z_goal: Tensor) -> Tensor:
    """``cost(z_traj, actions, z_goal)``, checked to be a tensor of shape ``[N]`` (one scalar
    per trajectory; ``N = actions.shape[0]``), else a ``ValueError`` saying what came back."""
    c = cost(z_traj, actions, z_goal)
    n = actions.shape[0]
    if not isinstance(c, Tensor) or tuple(c.shape) != (n,):
        raise ValueError(
            f"cost function returned {_describe(c)}, expected shape [{n}] (one scalar per "
            "trajectory)"
        )
    return c


def raise_nonfinite(cost: Tensor, z_traj: Tensor, iteration: int, planner: str) -> None:
    """Raise ``PlanningError`` for the first problem whose candidates (``cost [B, N]``) all have
    a non-finite cost, naming the time step at which the model output first went non-finite."""
    ok = torch.isfinite(cost).any(dim=1)
    b = int((~ok).nonzero()[0, 0])
    n = cost.shape[1]
    traj = z_traj.reshape(cost.shape[0], n, *z_traj.shape[1:])[b]  # [N, H, D]
    bad_t = (~torch.isfinite(traj)).flatten(2).any(-1).any(0).nonzero()
    where = (
        f"the model output first went non-finite at time step {int(bad_t[0, 0])} (0-based)"
        if len(bad_t)
        else "the model outputs were finite but the cost was non-finite"
    )
    raise PlanningError(
        f"{planner}: every candidate of problem {b} had a non-finite cost at iteration "
        f"{iteration}; {where}"
    )


def clamp(actions: Tensor, prob: Problem) -> Tensor:
    """Clamp action sequences ``[..., H, A]`` into the bounds."""
    low, high = prob.sequence_bounds
    return actions.clamp(low, high)


def clamp_(actions: Tensor, prob: Problem) -> Tensor:
    """Clamp action sequences ``[..., H, A]`` into the bounds in place (for fresh samples)."""
    low, high = prob.sequence_bounds
    return actions.clamp_(low, high)


def midpoint(prob: Problem) -> Tensor:
    """The centre of the action box, ``[B, H, A]``."""
    mid = (prob.low + prob.high) / 2
    return mid.expand(prob.batch, prob.horizon, -1).clone()


def start_mean(prob: Problem) -> Tensor:
    """The first mean of a sampling planner, ``[B, H, A]``: a copy of ``init_actions``, else the
    centre of the box."""
    return prob.init_actions.clone() if prob.init_actions is not None else midpoint(prob)


def noise_mixing(time_matrix: Tensor, scale: Tensor) -> Tensor:
    """``kron(time_matrix.T, diag(scale))``, ``[R*A, H*A]``: the matrix that maps ``R`` white
    Gaussians per action dimension to ``H`` time steps by ``time_matrix [H, R]`` and scales
    action dimension ``a`` by ``scale[a]`` (``[A]``), for :func:`correlated_noise`."""
    return torch.kron(time_matrix.T.contiguous(), torch.diag(scale))  # kron needs contiguous


def colored_noise_matrix(horizon: int, beta: float, dtype: torch.dtype, device: Any) -> Tensor:
    """The linear map ``C [H, R]`` that turns ``R`` white Gaussians into one sequence of ``H``
    Gaussians with power spectral density ``~ 1/f^beta`` along time and unit variance.

    In the frequency domain, white complex Gaussians are scaled by ``f^(-beta/2)`` (the lowest
    frequency ``1/H`` stands in for ``f = 0``) and transformed back with ``irfft``; the imaginary
    parts of the DC term (and of the Nyquist term for even ``H``) are dropped, as a real signal
    needs, leaving ``R = H`` real coefficients. Since ``irfft`` is linear, its action on each
    coefficient is one column of ``C``, so sampling is one matrix product. ``beta = 0`` is
    white noise. Computed once per plan.
    """
    nf = horizon // 2 + 1
    freqs = torch.fft.rfftfreq(horizon, dtype=torch.float64)
    freqs[0] = 1.0 / horizon
    scale = freqs ** (-beta / 2)
    # Var x_t = (s_0^2 + 4 sum_k s_k^2 + s_nyq^2) / H^2 (Re and Im each of variance s_k^2)
    weight = torch.full_like(scale, 4.0)
    weight[0] = 1.0
    if horizon % 2 == 0:
        weight[-1] = 1.0
    scale = scale / ((weight * scale**2).sum() / horizon**2).sqrt()
    basis = torch.eye(2 * nf, dtype=torch.float64).view(2 * nf, nf, 2) * scale[None, :, None]
    cols = torch.fft.irfft(torch.view_as_complex(basis), n=horizon, dim=-1)  # [2F, H]
    keep = torch.ones(2 * nf, dtype=torch.bool)
    keep[1] = False  # Im of the DC term
    if horizon % 2 == 0:
        keep[-1] = False  # Im of the Nyquist term
    return cols[keep].T.contiguous().to(device=device, dtype=dtype)


def shrunk_box(prob: Problem, scale: float) -> Problem:
    """``prob`` with its action bounds shrunk about their centre to ``scale`` of the box's size
    and its ``init_actions`` clamped into them. Box actions only (``ValueError`` otherwise)."""
    if prob.discrete:
        raise ValueError(
            "action_scale needs a Box action space (it shrinks the bounds); the model's action "
            f"space is Discrete({prob.n_categories}): use action_scale=1"
        )
    centre, half = (prob.high + prob.low) / 2, (prob.high - prob.low) / 2 * scale
    low, high = centre - half, centre + half
    init = prob.init_actions
    if init is not None:
        init = torch.maximum(torch.minimum(init, high), low)
    return replace(prob, low=low, high=high, init_actions=init)


def sampled_start(
    model: WorldModel, prob: Problem, gen: torch.Generator, n: int, beta: float
) -> Problem:
    """``prob`` with ``init_actions`` replaced by the cheapest of ``n`` smooth random sequences
    and the warm start (``init_actions``, or the centre of the box): the noise is coloured
    (exponent ``beta``) with one half-range of standard deviation, added to the warm start and
    clamped into the bounds; all ``n + 1`` are scored in one batched rollout. Box actions only
    (``ValueError`` otherwise); non-finite costs are never chosen (the warm start is kept if
    every sample's cost is non-finite)."""
    if prob.discrete:
        raise ValueError(
            "init_samples needs a Box action space (it draws continuous sequences); the model's "
            f"action space is Discrete({prob.n_categories}): use init_samples=0"
        )
    dev = prob.z0.device
    noise = colored_noise(n + 1, prob.horizon, prob.action_size, beta, gen, prob.z0.dtype)
    noise = noise.to(dev)
    noise[0] = 0.0  # candidate 0 is the warm start itself
    start = start_mean(prob)
    half = (prob.high - prob.low) / 2
    with torch.no_grad():
        cand = clamp_(start[:, None] + half * noise, prob)  # [B, n + 1, H, A]
        c, _ = evaluate(model, prob, cand)
    chosen = cand[torch.arange(prob.batch, device=dev), c.argmin(dim=1)]
    return replace(prob, init_actions=chosen)


def colored_noise(
    n: int, horizon: int, a: int, beta: float, gen: torch.Generator, dtype: torch.dtype
) -> Tensor:
    """``n`` sequences ``[n, H, A]`` of unit-variance noise with PSD ``~ 1/f^beta`` along time,
    independent across the ``A`` action dimensions, drawn from ``gen`` on its device."""
    dev = gen.device
    mixing = noise_mixing(
        colored_noise_matrix(horizon, beta, dtype, dev), torch.ones(a, dtype=dtype, device=dev)
    )
    return correlated_noise(n, mixing, a, gen)


def correlated_noise(n: int, mixing: Tensor, a: int, gen: torch.Generator) -> Tensor:
    """``n`` noise sequences ``[n, H, A]`` (contiguous) from white Gaussians and a matrix of
    :func:`noise_mixing`: one draw and one matrix product."""
    white = torch.randn(n, mixing.shape[0], generator=gen, device=mixing.device, dtype=mixing.dtype)
    return (white @ mixing).view(n, -1, a)


# -- elites (CEM, iCEM) ------------------------------------------------------------------------


def elite_weights(cost: Tensor, n_elites: int) -> tuple[Tensor, Tensor | None, Tensor]:
    """The ``K`` cheapest candidates of ``cost [B, N]``: their indices ``[B, K]`` and costs
    ``[B, K]`` (both sorted, cheapest first), and 0/1 weights ``[B, K]`` that drop the non-finite
    elites, or ``None`` when every elite is finite (the common case). Returns
    ``(idx, weights, elite_cost)``."""
    elite_cost, idx = cost.topk(n_elites, dim=1, largest=False)  # sorted: the last is the worst
    if float(elite_cost[:, -1].max()) != float("inf"):  # costs are finite or +inf here
        return idx, None, elite_cost
    return idx, elite_cost.isfinite().to(cost.dtype), elite_cost


def gather(x: Tensor, idx: Tensor, rows: Tensor | None = None) -> Tensor:
    """``x [B, N, ...]`` rows ``idx [B, K]`` -> ``[B, K, ...]`` (``rows``: ``arange(B)``, if the
    caller has it)."""
    rows = torch.arange(x.shape[0], device=x.device) if rows is None else rows
    return x[rows[:, None], idx]


def weighted_fit(elites: Tensor, w: Tensor | None) -> tuple[Tensor, Tensor]:
    """Mean and std over dim 1 of ``elites [B, K, ...]`` with 0/1 weights ``w [B, K]``
    (``None``: all weights 1)."""
    if w is None:
        k = elites.shape[1]
        mean = elites.sum(1) / k
        return mean, ((elites - mean[:, None]) ** 2).sum(1).div_(k).sqrt_()
    w = w.reshape(*w.shape, *([1] * (elites.ndim - 2)))
    total = w.sum(1).clamp_min(1.0)
    mean = (w * elites).sum(1) / total
    var = (w * (elites - mean[:, None]) ** 2).sum(1) / total
    return mean, var.sqrt()


# -- discrete spaces: a model action is n_blocks one-hot blocks of n_categories ----------------


def to_blocks(x: Tensor, prob: Problem) -> Tensor:
    """``[..., A] -> [..., k, n]``."""
    return x.reshape(*x.shape[:-1], prob.n_blocks, prob.n_categories)


def initial_probs(prob: Problem, init_weight: float) -> Tensor:
    """Categorical probabilities ``[B, H, k, n]``: uniform, mixed with ``init_actions`` if given."""
    shape = (prob.batch, prob.horizon, prob.n_blocks, prob.n_categories)
    uniform = torch.full(
        shape, 1.0 / prob.n_categories, dtype=prob.low.dtype, device=prob.low.device
    )
    if prob.init_actions is None:
        return uniform
    init = to_blocks(prob.init_actions, prob)
    init = init / init.sum(-1, keepdim=True).clamp_min(1e-12)
    return init_weight * init + (1 - init_weight) * uniform


def sample_categorical(probs: Tensor, u: Tensor) -> Tensor:
    """One-hot samples ``[B, N, H, k*n]`` from ``probs [B, H, k, n]`` and uniforms ``u [N, H, k]``.

    Inverse-CDF sampling with shared uniforms keeps every problem's draws independent of ``B``.
    """
    cdf = probs.cumsum(-1)  # [B, H, k, n]
    cdf[..., -1] = 1.0
    idx = (cdf[:, None] < u[None, ..., None]).sum(-1)  # [B, N, H, k]
    idx = idx.clamp_max(probs.shape[-1] - 1)
    one_hot = torch.nn.functional.one_hot(idx, probs.shape[-1]).to(probs.dtype)
    return one_hot.flatten(-2)


def mode_one_hot(probs: Tensor) -> Tensor:
    """The most likely category of each block as a hard one-hot, ``[..., k, n] -> [..., k*n]``."""
    one_hot = torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype)
    return one_hot.flatten(-2)


# -- bookkeeping ------------------------------------------------------------------------------


class BestSoFar:
    """The best evaluated action sequence per problem (what sampling planners return).

    Each iteration only records its cheapest candidate per problem; the running best
    (``cost``, ``actions``, ``history``) is worked out once, when first read after an update.
    Ties go to the earliest iteration.
    """

    def __init__(self, prob: Problem, planner: str) -> None:
        self.planner = planner
        self.rows = torch.arange(prob.batch, device=prob.low.device)
        self._costs: list[Tensor] = []  # per iteration, [B]
        self._actions: list[Tensor] = []  # per iteration, [B, H, A]
        self._final: tuple[Tensor, Tensor, Tensor] | None = None

    def update(
        self,
        actions: Tensor,
        cost: Tensor,
        trajectory: Callable[[], Tensor],
        iteration: int,
        cheapest: tuple[Tensor, Tensor] | None = None,
        finite: bool = False,
    ) -> None:
        """Record candidates ``actions [B, N, H, A]`` with ``cost [B, N]`` (from
        :func:`evaluate`, so non-finite costs are ``+inf``); ``cheapest`` is ``cost.min(1)``
        if the caller already has it (e.g. from ``topk``), and ``finite=True`` says the caller
        already knows every problem has a finite candidate (e.g. its worst elite is finite).

        Raises ``PlanningError`` (see :func:`raise_nonfinite`) if every candidate of some
        problem has a non-finite cost; ``trajectory`` (from :func:`evaluate`) and ``iteration``
        are only used for that message.
        """
        best_cost, best_idx = cost.min(dim=1) if cheapest is None else cheapest
        if not finite and float(best_cost.max()) == float("inf"):  # costs: finite or +inf
            raise_nonfinite(cost, trajectory(), iteration, self.planner)
        self._costs.append(best_cost)
        self._actions.append(actions[self.rows, best_idx])
        self._final = None

    def _finish(self) -> tuple[Tensor, Tensor, Tensor]:
        if self._final is None:
            costs = torch.stack(self._costs)  # [I, B]
            it = costs.argmin(dim=0)  # the first iteration reaching the minimum
            actions = torch.stack(self._actions)[it, self.rows]
            self._final = (costs[it, self.rows], actions, costs.cummin(dim=0).values)
        return self._final

    @property
    def cost(self) -> Tensor:
        """The lowest cost seen per problem, ``[B]``."""
        return self._finish()[0]

    @property
    def actions(self) -> Tensor:
        """The action sequences of those costs, ``[B, H, A]``."""
        return self._finish()[1]

    @property
    def history(self) -> Tensor:
        """The lowest cost seen up to each iteration, ``[iterations, B]``."""
        return self._finish()[2]


def make_info(history: Tensor | list[Tensor], **extras: Any) -> dict[str, Any]:
    """The ``info`` dict: ``cost_history [iterations, B]``, ``iterations``, extras
    (:meth:`PlannerConfig.plan` adds ``time_s``).

    ``history`` is a ``[iterations, B]`` tensor or a list of ``[B]`` tensors, one per iteration.
    """
    if isinstance(history, list):
        history = torch.stack(history) if history else torch.empty(0)
    return {
        "cost_history": history.cpu(),
        "iterations": len(history),
        **extras,
    }
