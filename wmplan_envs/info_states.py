"""Read true states out of the ``info`` argument of ``compute_reward`` (pixel observations).

For pixel observations ``achieved_goal`` and ``desired_goal`` are images, from which no reward can
be computed exactly. The WMPlan envs then read ``info["state"]`` and ``info["goal_state"]``
instead. ``info`` arrives in the shapes SB3 and HER use: one dict, a list of dicts, or a NumPy
object array of dicts whose shape is the leading (batch) shape of the goals.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def states_from_info(info: Any, leading_shape: tuple[int, ...], dim: int) -> np.ndarray:
    """Return ``(state, goal_state)`` arrays of shape ``[*leading_shape, dim]`` from ``info``."""
    if info is None:
        raise ValueError(
            "pixel observations carry no exact state: pass the step's info dict (with 'state' "
            "and 'goal_state') as the third argument of compute_reward/compute_success"
        )
    if isinstance(info, dict):
        infos = [info] * int(np.prod(leading_shape, dtype=int))
    else:
        infos = list(np.asarray(info, dtype=object).reshape(-1))
        n = int(np.prod(leading_shape, dtype=int))
        if len(infos) == 1 and n != 1:
            infos = infos * n
        if len(infos) != n:
            raise ValueError(
                f"got {len(infos)} info dicts for goals of leading shape {leading_shape}"
            )
    out = []
    for key in ("state", "goal_state"):
        try:
            rows = [np.asarray(d[key], dtype=np.float64).reshape(dim) for d in infos]
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"info must be a dict (or dicts) holding 'state' and 'goal_state' of size {dim}; "
                f"{key!r} is missing or malformed in {info!r:.200}"
            ) from err
        out.append(np.stack(rows).reshape(*leading_shape, dim))
    return out[0], out[1]
