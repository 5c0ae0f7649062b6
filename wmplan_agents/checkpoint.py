"""Checkpoints: safetensors weights plus a JSON config that rebuilds the model.

``save(model, "dir/name")`` writes ``dir/name.safetensors`` (every parameter and buffer) and
``dir/name.json``::

    {"format": "wmplan-model", "version": 1, "class": "MLPDynamics",
     "module": "wmplan_agents.models.mlp", "kwargs": {...constructor keyword arguments...},
     "weights": "name.safetensors", "sha256": "<hash of the weights file>",
     "tensors": {"net.0.weight": [256, 10], ...},
     "env": {"id": "WMPlan/PushT-v0", "kwargs": {"obs_type": "state", "relative": true}},
     "metadata": {...free-form, e.g. training...}}

``"env"`` (optional, ``null`` when the model does not say) is the env the model was trained on:
``load`` sets ``model.env_id`` and ``model.env_kwargs`` from it, ``save`` writes them back, and
the MPC agent uses them for its presets and to check the env it is given.

A model is checkpointable if it is an ``nn.Module`` with ``get_config() -> dict`` returning its
constructor keyword arguments (JSON values, or Gymnasium ``Box``/``Discrete`` spaces, which are
encoded here). ``load(path)`` verifies the weights' hash, looks the class name up among the
registered model classes (:func:`model_classes`; the caller may add its own with
``classes={"Name": cls}``), builds it from the kwargs and loads the weights. Nothing named in
the JSON is imported or called unless it is such a class.

Errors (all name the offending file):

* ``FileNotFoundError``: the ``.json`` or the ``.safetensors`` file is missing.
* :class:`CheckpointError` (a ``ValueError``): the JSON is not valid or not a wmplan config; the
  weights file is truncated or corrupt (hash mismatch or unreadable); the weights do not match
  the model the config builds (missing, unexpected or wrongly shaped tensors).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from wmplan_agents.contracts import Checkpointable, WorldModel

_FORMAT = "wmplan-model"
_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint or dataset file is corrupt, truncated or does not match its model."""


# -- spaces as JSON --------------------------------------------------------------------------


def space_to_dict(space: gym.spaces.Space) -> dict[str, Any]:
    """A JSON-able description of a ``Box`` or ``Discrete`` space."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "low": np.asarray(space.low, dtype=np.float64).tolist(),
            "high": np.asarray(space.high, dtype=np.float64).tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    raise TypeError(f"cannot serialise action space {space}: expected Box or Discrete")


def space_from_dict(d: dict[str, Any]) -> gym.spaces.Space:
    """The inverse of :func:`space_to_dict`; a malformed description is a ``CheckpointError``
    naming the missing or bad field."""
    if not isinstance(d, dict):
        raise CheckpointError(f"a space description must be an object, got {d!r}")
    kind = d.get("type")
    fields = {"Discrete": ("n",), "Box": ("low", "high", "shape", "dtype")}.get(kind)
    if fields is None:
        raise CheckpointError(f"unknown space description {d!r}: expected type Box or Discrete")
    missing = [f for f in fields if f not in d]
    if missing:
        raise CheckpointError(f"the {kind} space description lacks the fields {missing}")
    try:
        if kind == "Discrete":
            return gym.spaces.Discrete(int(d["n"]), start=int(d.get("start", 0)))
        dtype = np.dtype(d["dtype"])
        low = np.asarray(d["low"], dtype=np.float64).reshape(d["shape"]).astype(dtype)
        high = np.asarray(d["high"], dtype=np.float64).reshape(d["shape"]).astype(dtype)
        return gym.spaces.Box(low, high, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"bad {kind} space description {d!r}: {err}") from err


def _encode(value: Any) -> Any:
    if isinstance(value, gym.spaces.Space):
        return {"__space__": space_to_dict(value)}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__space__"}:
            return space_from_dict(value["__space__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


# -- save / load -------------------------------------------------------------------------------


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".json"), path.with_name(path.name + ".safetensors")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save(
    model: torch.nn.Module, path: str | Path, metadata: dict[str, Any] | None = None
) -> tuple[Path, Path]:
    """Write ``path.json`` and ``path.safetensors`` (``path`` may carry either suffix).

    Returns the two paths. ``metadata`` (JSON values) is stored in the config as is.
    """
    from safetensors.torch import save_file

    if not isinstance(model, Checkpointable):
        raise TypeError(
            f"{type(model).__name__} has no get_config(); a checkpointable model returns its "
            "constructor keyword arguments from get_config()"
        )
    json_path, weights_path = _paths(path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(weights_path))
    # safetensors creates the file 0600; give it the mode any other new file gets (the umask's)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(weights_path, 0o666 & ~umask)
    config = {
        "format": _FORMAT,
        "version": _VERSION,
        "class": type(model).__name__,
        "module": type(model).__module__,
        "kwargs": _encode(model.get_config()),
        "weights": weights_path.name,
        "sha256": _sha256(weights_path),
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
        "env": _env_entry(model),
        "metadata": _encode(metadata or {}),
    }
    try:
        text = json.dumps(config, indent=1, allow_nan=False)
    except ValueError as err:  # NaN or inf in the metadata: JSON has no such numbers
        weights_path.unlink(missing_ok=True)
        raise CheckpointError(f"cannot save {json_path}: the metadata holds NaN or inf") from err
    json_path.write_text(text)
    return json_path, weights_path


def _env_entry(model: WorldModel) -> dict[str, Any] | None:
    """The ``"env"`` field: the env id and kwargs the model was made for, if it says."""
    from wmplan_agents.contracts import model_env

    env_id, env_kwargs = model_env(model)
    if env_id is None and not env_kwargs:
        return None
    return {"id": env_id, "kwargs": _encode(env_kwargs)}


def model_classes() -> dict[str, type]:
    """The model classes ``load`` may build, by class name: every ``nn.Module`` exported by
    :mod:`wmplan_agents.models` that has ``get_config`` (nothing else is imported or called)."""
    models = importlib.import_module("wmplan_agents.models")
    out = {}
    for attr in getattr(models, "__all__", []):
        obj = getattr(models, attr, None)
        if (
            isinstance(obj, type)
            and issubclass(obj, torch.nn.Module)
            and issubclass(obj, Checkpointable)
        ):
            out[obj.__name__] = obj
    return out


def read_config(path: str | Path) -> dict[str, Any]:
    """The parsed JSON config of a checkpoint (kwargs decoded back to spaces)."""
    json_path, _ = _paths(path)
    if not json_path.is_file():
        raise FileNotFoundError(f"checkpoint config not found: {json_path}")
    try:
        config = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint config {json_path} is not valid JSON: {err}") from err
    if not isinstance(config, dict) or config.get("format") != _FORMAT:
        raise CheckpointError(
            f'{json_path} is not a wmplan model config (expected "format": "{_FORMAT}")'
        )
    for key in ("class", "module", "kwargs", "sha256", "tensors"):
        if key not in config:
            raise CheckpointError(f"checkpoint config {json_path} lacks the field {key!r}")
    try:
        config["kwargs"] = _decode(config["kwargs"])
    except CheckpointError as err:
        raise CheckpointError(f"{json_path}: field 'kwargs': {err}") from err
    return config


def load(
    path: str | Path,
    *,
    classes: dict[str, type] | None = None,
    map_location: str | torch.device = "cpu",
) -> torch.nn.Module:
    """Rebuild the model saved at ``path`` (see the module docstring for the errors).

    ``classes`` maps class names to classes for models defined outside ``wmplan_agents``.
    The model is returned in eval mode.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    json_path, weights_path = _paths(path)
    config = read_config(json_path)
    if not weights_path.is_file():
        raise FileNotFoundError(
            f"checkpoint weights not found: {weights_path} (config {json_path})"
        )
    if _sha256(weights_path) != config["sha256"]:
        raise CheckpointError(
            f"weights file {weights_path} does not match its config {json_path} (sha256 differs): "
            "the file is truncated, corrupt, or from another save"
        )
    name, module = config["class"], config["module"]
    known = {**model_classes(), **(classes or {})}
    cls = known.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CheckpointError(
            f"{json_path}: class {name!r} (module {module!r}) is not a registered model class; "
            f"expected one of {sorted(model_classes())}, or pass classes={{{name!r}: YourClass}}"
        )
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise CheckpointError(f"{json_path}: {name!r} is not a torch.nn.Module class")
    if not (classes and name in classes) and module != cls.__module__:
        raise CheckpointError(
            f"{json_path}: class {name!r} is registered from {cls.__module__}, not {module!r}"
        )
    if not isinstance(config["kwargs"], dict):
        raise CheckpointError(f'{json_path}: "kwargs" must be an object, got {config["kwargs"]!r}')
    try:
        model = cls(**config["kwargs"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{json_path}: cannot build {name} from its kwargs: {err}") from err
    try:
        tensors = load_file(str(weights_path), device=str(map_location))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"weights file {weights_path} is unreadable: {err}") from err
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != got:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        shapes = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
        raise CheckpointError(
            f"weights {weights_path} do not match the {name} built from {json_path}: "
            f"missing {missing}, unexpected {extra}, wrong shape {shapes}"
        )
    model.load_state_dict(tensors)
    env = config.get("env") or {}
    if not isinstance(env, dict) or not isinstance(env.get("kwargs", {}), dict):
        raise CheckpointError(f'{json_path}: "env" must be {{"id": ..., "kwargs": {{...}}}}')
    if env:
        from wmplan_agents.contracts import set_model_env

        env_id = env.get("id")
        if env_id is not None and not isinstance(env_id, str):
            raise CheckpointError(f'{json_path}: "env" id must be a string, got {env_id!r}')
        set_model_env(model, env_id, env.get("kwargs"))
    return model.to(map_location).eval()
