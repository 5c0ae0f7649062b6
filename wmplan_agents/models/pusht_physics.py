"""Push-T's physics written out in torch: a hand-made model that is accurate far ahead.

The Push-T env steps a pymunk space, which torch cannot differentiate through.
:class:`PushTPhysicsModel` writes the same physics out, batched and differentiable, for
relative actions (``target = agent + 100 * a``, clipped to the canvas; ``wmplan_envs.pusht``):

* **Agent**: a kinematic circle of radius 15, moved by the env's 10 PD substeps of ``dt =
  0.01`` per env step: ``v += (K_P (target - p) - K_V v) dt``, then ``p += v dt``. Exact.
* **Block**: the T as two boxes (bar and stem, as the env's two pymunk polygons), mass 1 and
  the references' moment (3000). With no gravity and ``space.damping = 0`` the block has no
  velocity of its own: it moves by the velocity the previous contact solve gave it.
  Contacts are frictionless. Each box the agent touches (circle centre within 15 of the box)
  is one contact: normal ``n`` from the agent to the box's closest point, lever ``r`` from the
  centre of gravity to that point. The normal impulses ``j >= 0`` solve the contact problem
  exactly (both contacts, one or none: the 2x2 linear complementarity problem that pymunk's
  iterative solver converges to), so that the block's velocity at each contact matches the
  agent's along ``n``. A second solve of the same kind gives pymunk's position correction
  (bias velocity ``0.0612 * (depth - 0.1) / dt``, from pymunk's default collision bias and
  slop).
* **Contact every ``contact_every`` substeps** (default 10: once per env step): the contact is
  solved with the agent's mean velocity over those substeps and the block moves for all of
  them, the position correction compounded. With ``contact_every=1`` the scheme is pymunk's.
* Not modelled: the canvas walls for the block (pymunk stops the block at them; the agent
  passes through them as in the env) and the warm start of pymunk's solver. The block's
  velocities start from zero at each model step (the env does not observe them).

The latent is the 7-d state observation in the units of the env's success test (agent and
block positions in ``POS_TOL`` = 20 px, the angle as a cos/sin pair scaled by
``1 / ANGLE_TOL``, the agent velocity in ``VELOCITY_UNIT`` px/s), so a squared distance of 1
is about the success test's bound: 8 numbers.

Measured (``tests/test_pusht_physics.py`` checks other seeds):

* **One model step** (5 env steps) of the pushing policy's data, where the T cannot reach a
  canvas wall (seeds 901-903, 164-241 windows with a pushed block each): the block's position
  error has a median of 0.02-0.03 px and a 90th percentile of 0.08-0.11 px with
  ``contact_every=1``, and 1.1 px and 3.2-3.8 px with the default 10 (angle, 90th percentile:
  0.001 and 0.03 rad); the block moved 15-20 px in the median. Next to a wall the error
  reaches 90 px (the walls are not modelled).
* **Round the block**: on the ``pusht-around`` problems of :mod:`wmplan_agents.compare` (the
  agent goes round the T, then pushes it 40-100 px; 50-67 env steps; 100 problems with H = 75
  at problem seed 320,000 and with H = 100 at 330,000) the scripted routes, which reach every
  goal in the simulator, reach 100 and 99 of them under this model, with ``contact_every`` 1
  and 10 alike; 10 is 9x faster.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from wmplan_agents.models.mlp import check_action_repeat

VELOCITY_UNIT = 200.0  # px/s: the agent velocity's unit in the latent
SLOP = 0.1  # pymunk's default collision slop, px


def _geometry() -> tuple[tuple[tuple[float, float, float, float], ...], tuple[float, float], float]:
    """The T's boxes ``(cx, cy, hx, hy)`` relative to its centre of gravity, the centre of
    gravity in the body frame, and the references' moment of inertia (both terms from the
    bar, about the body's origin, mass 1: their copy bug, kept by the env)."""
    from wmplan_envs.pusht_render import BAR, STEM

    boxes = []
    for poly in (BAR, STEM):
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        boxes.append(((max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2,
                      (max(xs) - min(xs)) / 2, (max(ys) - min(ys)) / 2))  # fmt: skip
    cog = (0.5 * (boxes[0][0] + boxes[1][0]), 0.5 * (boxes[0][1] + boxes[1][1]))
    bx, by, hx, hy = boxes[0]
    # a box of mass 1 about the origin: (w^2 + h^2) / 12 + |centre|^2; the stem copies the bar
    moment = 2.0 * ((4 * hx * hx + 4 * hy * hy) / 12.0 + bx * bx + by * by)
    relative = tuple((cx - cog[0], cy - cog[1], hx, hy) for cx, cy, hx, hy in boxes)
    return relative, cog, moment


def _bias_coef() -> float:
    """``1 - collision_bias ** dt``: the share of an overlap pymunk's position correction
    removes per substep, with its default bias (0.9 ** 60)."""
    from wmplan_envs.pusht import SIM_DT

    return 1.0 - (0.9**60) ** SIM_DT


BOXES, COG, MOMENT = _geometry()
BIAS_COEF = _bias_coef()


def _cross(r: Tensor, n: Tensor) -> Tensor:
    return r[..., 0] * n[..., 1] - r[..., 1] * n[..., 0]


def _rotate(c: Tensor, s: Tensor, x: Tensor, y: Tensor) -> Tensor:
    return torch.stack([c * x - s * y, s * x + c * y], dim=-1)


def _cog_offset(c: Tensor, s: Tensor) -> Tensor:
    """``[B, 2]``: the centre of gravity from the block's origin, at the angle ``(cos, sin)``."""
    return _rotate(c, s, torch.full_like(c, COG[0]), torch.full_like(c, COG[1]))


def _contact(
    agent: Tensor, cog: Tensor, c: Tensor, s: Tensor, box: tuple[float, float, float, float]
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The agent's contact with one box: ``(touching [B], n [B, 2] from the agent into the
    box, r [B, 2] from the centre of gravity to the box's closest point, depth [B])``."""
    from wmplan_envs.pusht_render import AGENT_RADIUS

    bx, by, hx, hy = box
    d = agent - cog
    qx = c * d[:, 0] + s * d[:, 1] - bx  # the agent in the box's frame
    qy = -s * d[:, 0] + c * d[:, 1] - by
    ox, oy = qx.abs() - hx, qy.abs() - hy
    outside = (ox > 0) | (oy > 0)
    px, py = qx.clamp(-hx, hx), qy.clamp(-hy, hy)  # closest point, centre outside
    gx, gy = qx - px, qy - py
    gap = torch.sqrt(gx * gx + gy * gy + 1e-12)
    # centre inside: the nearest face
    on_x = ox > oy
    zero = torch.zeros_like(qx)
    fx = torch.where(on_x, torch.sign(qx), zero)
    fy = torch.where(on_x, zero, torch.sign(qy))
    out_x = torch.where(outside, gx / gap, fx)  # from the box towards the agent
    out_y = torch.where(outside, gy / gap, fy)
    point_x = torch.where(outside, px, torch.where(on_x, torch.sign(qx) * hx, qx)) + bx
    point_y = torch.where(outside, py, torch.where(on_x, qy, torch.sign(qy) * hy)) + by
    depth = AGENT_RADIUS - torch.where(outside, gap, -torch.maximum(ox, oy))
    return depth > 0, -_rotate(c, s, out_x, out_y), _rotate(c, s, point_x, point_y), depth


def _impulses(
    a11: Tensor, a12: Tensor, a22: Tensor, b1: Tensor, b2: Tensor, on1: Tensor, on2: Tensor
) -> tuple[Tensor, Tensor]:
    """``j >= 0`` with ``A j >= b`` and ``j (A j - b) = 0`` for the contacts that are on."""
    zero = torch.zeros_like(b1)
    b1 = torch.where(on1, b1, zero - 1.0)  # an absent contact wants no impulse
    b2 = torch.where(on2, b2, zero - 1.0)
    a12 = torch.where(on1 & on2, a12, zero)
    # det >= 0; it is 0 for two contacts with opposite normals (the agent inside both boxes,
    # which only a planner's lifted states reach): then at most one contact acts
    det = a11 * a22 - a12 * a12
    solvable = det > 1e-6 * a11 * a22
    det = torch.where(solvable, det, torch.ones_like(det))
    both1, both2 = (a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det
    both = solvable & (both1 >= 0) & (both2 >= 0)
    one1 = (b1 / a11).clamp(min=0.0)
    first = (one1 > 0) & (a12 * one1 >= b2)
    one2 = (b2 / a22).clamp(min=0.0)
    j1 = torch.where(both, both1, torch.where(first, one1, zero))
    j2 = torch.where(both, both2, torch.where(first, zero, one2))
    return j1, j2


class PushTPhysicsModel:
    """Push-T's agent, T block and frictionless contact as a world model (module docstring:
    the physics, the latent and how accurate it is).

    ``encode`` maps 7-d state observations (agent xy, block xy, angle, agent velocity) to the
    8-d latent; ``step`` applies ``action_repeat`` env steps of relative actions per model
    action (``[B, 2 * action_repeat]``, clipped to ``[-1, 1]`` as the env's box); ``to_state``
    reads the 7-d state back. Differentiable almost everywhere (not where the agent starts or
    stops touching a box).

    Args:
        action_repeat: env steps per model step (5: DINO-WM's frameskip, as the shipped model).
        contact_every: env substeps per contact solve (a divisor of 10; module docstring).
    """

    angle_dims = ()  # to_state returns the angle itself

    def __init__(self, action_repeat: int = 5, contact_every: int = 10) -> None:
        from wmplan_envs.pusht import ANGLE_TOL, POS_TOL

        self.action_repeat = check_action_repeat(action_repeat)
        from wmplan_envs.pusht import SUBSTEPS

        if contact_every not in [k for k in range(1, SUBSTEPS + 1) if SUBSTEPS % k == 0]:
            raise ValueError(
                f"contact_every must divide the env's {SUBSTEPS} substeps, got {contact_every!r}"
            )
        self.contact_every = int(contact_every)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(7,), dtype=np.float32)
        self.env_id: str | None = "WMPlan/PushT-v0"
        self.env_kwargs: dict[str, Any] = {"obs_type": "state", "relative": True}
        self.pos_unit, self.angle_unit = float(POS_TOL), float(ANGLE_TOL)

    def encode(self, obs: Tensor) -> Tensor:
        """``[B, 7] -> [B, 8]`` (cast to float32 unless floating point)."""
        x = torch.as_tensor(obs)
        if not torch.is_floating_point(x):
            x = x.float()
        if x.ndim != 2 or x.shape[1] != 7:
            raise ValueError(f"expected state observations [B, 7], got shape {tuple(x.shape)}")
        return torch.cat(
            [
                x[:, :4] / self.pos_unit,
                torch.cos(x[:, 4:5]) / self.angle_unit,
                torch.sin(x[:, 4:5]) / self.angle_unit,
                x[:, 5:7] / VELOCITY_UNIT,
            ],
            dim=-1,
        )

    def to_state(self, z: Tensor) -> Tensor:
        """``[B, 8] -> [B, 7]``: the env state of a latent (angle in ``[0, 2 pi)``)."""
        angle = torch.atan2(z[:, 5], z[:, 4]) % (2 * math.pi)
        return torch.cat(
            [z[:, :4] * self.pos_unit, angle[:, None], z[:, 6:8] * VELOCITY_UNIT], dim=-1
        )

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        """``[B, 8], [B, 2 * action_repeat] -> [B, 8]``: ``action_repeat`` env steps."""
        from wmplan_envs.pusht import K_P, K_V, RELATIVE_REACH, SIM_DT, SUBSTEPS
        from wmplan_envs.pusht_render import CANVAS

        width = 2 * self.action_repeat
        if z.ndim != 2 or z.shape[1] != 8 or a.ndim != 2 or a.shape != (len(z), width):
            raise ValueError(
                f"expected latents [B, 8] and actions [B, {width}] (action_repeat "
                f"{self.action_repeat} env actions of 2), got {tuple(z.shape)} and "
                f"{tuple(a.shape)}"
            )
        a = a.to(z.dtype).reshape(len(z), self.action_repeat, 2).clamp(-1.0, 1.0)
        agent, angle = z[:, 0:2] * self.pos_unit, torch.atan2(z[:, 5], z[:, 4])
        velocity = z[:, 6:8] * VELOCITY_UNIT
        c, s = torch.cos(angle), torch.sin(angle)
        cog = z[:, 2:4] * self.pos_unit + _cog_offset(c, s)
        move, spin = torch.zeros_like(agent), torch.zeros_like(angle)  # the block's, per second
        every = self.contact_every
        dt = SIM_DT * every
        bias = 1.0 - (1.0 - BIAS_COEF) ** every
        for t in range(self.action_repeat):
            target = (agent + RELATIVE_REACH * a[:, t]).clamp(0.0, CANVAS)
            for _ in range(SUBSTEPS // every):
                before = agent
                for _ in range(every):  # the agent's PD substeps, exact
                    velocity = velocity + (K_P * (target - agent) - K_V * velocity) * SIM_DT
                    agent = agent + velocity * SIM_DT
                mean_velocity = (agent - before) / dt
                cog = cog + move * dt
                angle = angle + spin * dt
                c, s = torch.cos(angle), torch.sin(angle)
                (on1, n1, r1, d1), (on2, n2, r2, d2) = (
                    _contact(agent, cog, c, s, box) for box in BOXES
                )
                k1, k2 = _cross(r1, n1), _cross(r2, n2)
                a11, a22 = 1.0 + k1 * k1 / MOMENT, 1.0 + k2 * k2 / MOMENT  # mass 1
                a12 = (n1 * n2).sum(-1) + k1 * k2 / MOMENT
                j1, j2 = _impulses(
                    a11, a12, a22,
                    (mean_velocity * n1).sum(-1), (mean_velocity * n2).sum(-1),
                    on1, on2,
                )  # fmt: skip
                g1, g2 = _impulses(
                    a11, a12, a22,
                    bias * (d1 - SLOP).clamp(min=0.0) / dt,
                    bias * (d2 - SLOP).clamp(min=0.0) / dt,
                    on1, on2,
                )  # fmt: skip
                move = (j1 + g1)[:, None] * n1 + (j2 + g2)[:, None] * n2
                spin = ((j1 + g1) * k1 + (j2 + g2) * k2) / MOMENT
        c, s = torch.cos(angle), torch.sin(angle)
        origin = cog - _cog_offset(c, s)
        return torch.cat(
            [
                agent / self.pos_unit,
                origin / self.pos_unit,
                c[:, None] / self.angle_unit,
                s[:, None] / self.angle_unit,
                velocity / VELOCITY_UNIT,
            ],
            dim=-1,
        )

    def __repr__(self) -> str:
        return f"PushTPhysicsModel(action_repeat={self.action_repeat})"


__all__ = ["PushTPhysicsModel"]
