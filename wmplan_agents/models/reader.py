"""``StateReaderModel``: a world model for images made of a state reader and a state model.

Where the env's state can be seen in an image (WallSingle's dot and door), a pixel world model
need not learn its dynamics from images: a reader maps an image to the state, and a world model
of the state (trained on cheap state data) plans from there. The reader is any model with
``encode`` and ``to_state`` (:class:`~wmplan_agents.models.ConvStateWorldModel` trained with
``StateAnchor(horizon=0)`` reads the state from one frame); the state model is any model with
``from_state``, ``step`` and ``action_space`` (:class:`~wmplan_agents.models.MLPDynamics`,
:class:`~wmplan_agents.models.AngleFeatureDynamics`). The reader's state features (angles as
cos/sin pairs, last) must be the state model's features. The model plans from images alone;
the true state is only the reader's training label. Train the parts, then put them together.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from wmplan_agents.contracts import action_repeat, rollout


def _part(name: str, value: Any) -> nn.Module:
    """A part given as a module, or as ``{"class": name, "kwargs": {...}}`` (a checkpoint's
    description; only the classes ``checkpoint.load`` may build)."""
    if isinstance(value, nn.Module):
        return value
    if not isinstance(value, dict) or set(value) != {"class", "kwargs"}:
        raise ValueError(
            f"{name} must be a model or {{'class': ..., 'kwargs': {{...}}}}, got {value!r}"
        )
    from wmplan_agents.checkpoint import model_classes

    classes = model_classes()
    cls = classes.get(value["class"])
    if cls is None or cls is StateReaderModel:
        raise ValueError(
            f"{name}: {value['class']!r} is not a model class; expected one of "
            f"{sorted(n for n in classes if n != 'StateReaderModel')}"
        )
    if not isinstance(value["kwargs"], dict):
        raise ValueError(f"{name}: kwargs must be a dict, got {value['kwargs']!r}")
    return cls(**value["kwargs"])


class StateReaderModel(nn.Module):
    """``encode(obs) = dynamics.from_state(reader.to_state(reader.encode(obs)))``; ``step``,
    ``rollout``, ``action_space`` and ``action_repeat`` are the state model's.

    Args:
        reader: a model with ``encode`` and ``to_state`` that reads the state from an
            observation (e.g. a :class:`~wmplan_agents.models.ConvStateWorldModel`), or its
            checkpoint description ``{"class": ..., "kwargs": ...}``.
        dynamics: a state world model with ``from_state`` (e.g. an
            :class:`~wmplan_agents.models.MLPDynamics`), or its description.

    Both parts' weights are this module's (``reader.*``, ``dynamics.*``), so
    :func:`~wmplan_agents.checkpoint.save` and ``load`` handle the whole. Satisfies
    :class:`~wmplan_agents.contracts.WorldModel` and ``StateDecoder`` (``to_state`` is the
    state model's).
    """

    def __init__(self, reader: Any, dynamics: Any) -> None:
        super().__init__()
        self.reader = _part("reader", reader)
        self.dynamics = _part("dynamics", dynamics)
        for part, members in (
            ("reader", ("encode", "to_state", "get_config")),
            ("dynamics", ("from_state", "to_state", "step", "action_space", "get_config")),
        ):
            module = getattr(self, part)
            missing = [m for m in members if not hasattr(module, m)]
            if missing:
                raise ValueError(
                    f"the {part} ({type(module).__name__}) has no {', '.join(missing)}"
                )
        n_read = getattr(self.reader, "n_state_features", None)
        n_dyn = getattr(self.dynamics, "obs_dim", None)
        if n_read is not None and n_dyn is not None and n_read != n_dyn:
            raise ValueError(
                f"the reader gives {n_read} state features, the state model takes {n_dyn}"
            )
        self.action_space = self.dynamics.action_space
        self.action_repeat = action_repeat(self.dynamics)
        self.obs_shape = getattr(self.reader, "obs_shape", None)

    def get_config(self) -> dict[str, Any]:
        return {
            part: {"class": type(module).__name__, "kwargs": module.get_config()}
            for part, module in (("reader", self.reader), ("dynamics", self.dynamics))
        }

    def read_state(self, obs: Tensor) -> Tensor:
        """Observations -> the reader's state features ``[B, F]``."""
        return self.reader.to_state(self.reader.encode(obs))

    def encode(self, obs: Tensor) -> Tensor:
        return self.dynamics.from_state(self.read_state(obs))

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        return self.dynamics.step(z, a)

    def rollout(self, z0: Tensor, actions: Tensor) -> Tensor:
        return rollout(self.dynamics, z0, actions)

    def to_state(self, z: Tensor) -> Tensor:
        """Latents -> state features (the state model's)."""
        return self.dynamics.to_state(z)

    def state_features(self, states: Tensor) -> Tensor:
        """True states -> the features the reader reads (for
        :func:`~wmplan_agents.training.state_readout_error`); needs a reader with
        ``state_features`` (a :class:`~wmplan_agents.models.ConvStateWorldModel`)."""
        features = getattr(self.reader, "state_features", None)
        if features is None:
            raise ValueError(f"the reader ({type(self.reader).__name__}) has no state_features")
        return features(states)
