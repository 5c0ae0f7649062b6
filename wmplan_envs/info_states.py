"""Read true states out of the ``info`` argument of ``compute_reward`` (pixel observations).

For pixel observations ``achieved_goal`` and ``desired_goal`` are images, from which no reward can
be computed exactly. The WMPlan envs then read ``info["state"]`` and ``info["goal_state"]``
instead. ``info`` arrives in the shapes SB3 and HER use: one dict, a list of dicts, or a NumPy
object array of dicts whose shape is the leading (batch) shape of the goals.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def image_digest(image: np.ndarray) -> str:
    """A short fingerprint of one observation image (what ``info`` records for pixel goals)."""
    arr = np.ascontiguousarray(image)
    return hashlib.blake2b(arr.tobytes() + str(arr.shape).encode(), digest_size=8).hexdigest()


def goal_digests(achieved: np.ndarray, desired: np.ndarray) -> dict[str, str]:
    """The ``info`` entries that tie a pixel observation's goal images to its states."""
    return {"achieved_digest": image_digest(achieved), "desired_digest": image_digest(desired)}


def _infos(info: Any, n: int) -> list[Any]:
    """``info`` as a list of ``n`` dicts (one dict or a single-entry array is repeated)."""
    if isinstance(info, dict):
        return [info] * n
    infos = list(np.asarray(info, dtype=object).reshape(-1))
    return infos * n if len(infos) == 1 and n != 1 else infos


def check_goal_images(info: Any, achieved: Any = None, desired: Any = None) -> None:
    """Refuse goal images that are not the ones ``info`` describes.

    A pixel env can only score the states in ``info``; goal images that differ from the images
    of those states (HER's relabelled goals, whose ``info`` is the original transition's) would
    be scored as if they had not changed. Each image is compared with the digest the env
    recorded (``info["achieved_digest"]``, ``info["desired_digest"]``); infos without digests
    (built by hand) are not checked.
    """
    for key, images in (("achieved_digest", achieved), ("desired_digest", desired)):
        if images is None or info is None:
            continue
        arr = np.asarray(images)
        lead = arr.shape[:-3]
        flat = arr.reshape(-1, *arr.shape[-3:])
        infos = _infos(info, len(flat))
        if len(infos) != len(flat):
            continue  # states_from_info reports the count mismatch
        for i, (img, d) in enumerate(zip(flat, infos)):
            want = d.get(key) if isinstance(d, dict) else None
            if want is not None and image_digest(img) != want:
                where = f" (entry {np.unravel_index(i, lead)})" if lead else ""
                raise ValueError(
                    f"the {key.split('_')[0]} goal image{where} is not the one this info "
                    "describes: pixel goals are scored from info['state'] and "
                    "info['goal_state'], so relabelled goals (e.g. HER) cannot be scored; "
                    "relabel with obs_type='state' goals"
                )


def states_from_info(info: Any, leading_shape: tuple[int, ...], dim: int) -> np.ndarray:
    """Return ``(state, goal_state)`` arrays of shape ``[*leading_shape, dim]`` from ``info``."""
    if info is None:
        raise ValueError(
            "pixel observations carry no exact state: pass the step's info dict (with 'state' "
            "and 'goal_state') as the third argument of compute_reward/compute_success"
        )
    infos = _infos(info, int(np.prod(leading_shape, dtype=int)))
    if len(infos) != int(np.prod(leading_shape, dtype=int)):
        raise ValueError(f"got {len(infos)} info dicts for goals of leading shape {leading_shape}")
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
