"""``ConvWorldModel``: a small conv encoder with a latent predictor, for pixel observations.

Observations are uint8 images ``[B, H, W, C]`` (HWC, as the envs return them), scaled to
``[0, 1]``. The encoder is ``n_layers`` stride-2 convolutions and a linear map to ``latent_dim``;
the predictor is a residual MLP in latent space; an optional mirrored decoder gives the
reconstruction loss that anchors the latent (:meth:`ConvWorldModel.default_objective`:
reconstruction + one-step latent prediction). Without the decoder, train it with
:class:`~wmplan_agents.objectives.InfoNCE` plus prediction so the latent does not collapse.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import Tensor, nn

from wmplan_agents.contracts import action_dim, step_rollout
from wmplan_agents.models.features import angle_features
from wmplan_agents.models.mlp import (
    action_scaling,
    check_action_repeat,
    make_mlp,
    nonzero_std,
    seeded,
)


def images_to_input(obs: Tensor, obs_shape: tuple[int, int, int]) -> Tensor:
    """uint8-valued HWC images ``[B, H, W, C]`` to float CHW in ``[0, 1]``; a clear error if
    they are not ``obs_shape``."""
    if tuple(obs.shape[1:]) != obs_shape:
        raise ValueError(
            f"expected images [B, {', '.join(map(str, obs_shape))}] (HWC), got {list(obs.shape)}"
        )
    return obs.float().permute(0, 3, 1, 2) / 255.0


def spatial_softmax(logits: Tensor, grid_x: Tensor, grid_y: Tensor) -> tuple[Tensor, Tensor]:
    """Expected ``(x, y)`` of the softmax over each heat map ``logits [B, K, h, w]`` on the
    coordinates ``grid_x [w]`` and ``grid_y [h]``: ``[B, K]`` each."""
    p = torch.softmax(logits.flatten(2), dim=-1).view_as(logits)
    return (p.sum(2) * grid_x).sum(-1), (p.sum(3) * grid_y).sum(-1)


def downsampling_encoder(in_channels: int, channels: int, n_layers: int, n_feat: int, out: int):
    """``n_layers`` stride-2 4x4 convolutions (SiLU), flattened, and a linear map to ``out``."""
    layers: list[nn.Module] = []
    for i in range(n_layers):
        layers += [nn.Conv2d(in_channels if i == 0 else channels, channels, 4, 2, 1), nn.SiLU()]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(n_feat, out))


class ImageWorldModel(nn.Module):
    """What the pixel world models share: uint8 HWC image input, the action scaling, a residual
    latent predictor ``z + predictor([z, a])`` and the constructor config for checkpoints.
    Subclasses call :meth:`_setup_images` first and set ``self._config`` and
    ``self.predictor``."""

    _config: dict[str, Any]
    predictor: nn.Module

    def _setup_images(
        self, obs_shape: Any, action_space: gym.spaces.Space, action_repeat: int
    ) -> tuple[int, int, int]:
        h, w, c = (int(v) for v in obs_shape)
        self.action_space = action_space
        self.action_repeat = check_action_repeat(action_repeat)
        self.obs_shape = (h, w, c)
        mid, half = action_scaling(action_space, self.action_repeat)
        self.register_buffer("action_mid", mid, persistent=False)
        self.register_buffer("action_half", half, persistent=False)
        return h, w, c

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)

    def obs_to_input(self, obs: Tensor) -> Tensor:
        """uint8-valued HWC images ``[B, H, W, C]`` to float CHW in ``[0, 1]``."""
        return images_to_input(obs, self.obs_shape)

    def step(self, z: Tensor, a: Tensor) -> Tensor:
        an = (a - self.action_mid) / self.action_half
        return z + self.predictor(torch.cat([z, an], dim=-1))

    def rollout(self, z0: Tensor, actions: Tensor) -> Tensor:
        return step_rollout(self, z0, actions)


class ConvWorldModel(ImageWorldModel):
    """Conv encoder ``[B, H, W, C] -> [B, latent_size]``, residual latent predictor, decoder.

    ``keypoints=K > 0`` appends ``2 K`` coordinates to the ``latent_dim`` conv features
    (``latent_size = latent_dim + 2 K``): a half-resolution conv branch gives ``K`` heat maps
    and the latent holds the expected ``(x, y)`` in ``[-1, 1]`` of each (a spatial softmax),
    so the position of a small moving object is a few latent coordinates that move linearly
    with it instead of a tiny change spread over features dominated by the background.
    ``keypoint_layers`` adds dilated 3x3 convolutions (dilation 1, 2, 4, ...) to that branch, so
    a heat map can tell parts of a larger object apart; ``keypoint_channels`` sets its width
    (default ``channels``).

    ``backbone=PATH`` replaces the conv encoder by a frozen pretrained vision model loaded from
    a local directory (a ``transformers`` ViT or DINOv2 saved with ``save_pretrained``; nothing
    is downloaded) and a trainable linear map from its features
    (:mod:`wmplan_agents.models.backbone`; needs ``wmplan[vit]``). The checkpoint records the
    path, not the backbone's weights.

    ``H`` and ``W`` must be divisible by ``2 ** n_layers``. Satisfies
    :class:`~wmplan_agents.contracts.WorldModel`.
    """

    def __init__(
        self,
        obs_shape: tuple[int, int, int] | list[int],
        action_space: gym.spaces.Space,
        *,
        latent_dim: int = 32,
        channels: int = 32,
        n_layers: int = 4,
        hidden: int = 256,
        depth: int = 2,
        action_repeat: int = 1,
        decoder: bool = True,
        keypoints: int = 0,
        keypoint_layers: int = 0,
        keypoint_channels: int = 0,
        backbone: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        h, w, c = self._setup_images(obs_shape, action_space, action_repeat)
        if h % 2**n_layers or w % 2**n_layers:
            raise ValueError(
                f"image size {h}x{w} must be divisible by 2**n_layers = {2**n_layers}; "
                "resize the observations or lower n_layers"
            )
        self._config = dict(
            obs_shape=[h, w, c],
            action_space=action_space,
            latent_dim=int(latent_dim),
            channels=int(channels),
            n_layers=int(n_layers),
            hidden=int(hidden),
            depth=int(depth),
            action_repeat=self.action_repeat,
            decoder=bool(decoder),
            seed=int(seed),
        )
        if keypoints:  # only recorded when on, so older checkpoints' configs stay valid
            self._config["keypoints"] = int(keypoints)
        for name, value in (("keypoint_layers", keypoint_layers),
                            ("keypoint_channels", keypoint_channels)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
            if value:
                self._config[name] = int(value)
        if backbone is not None:
            self._config["backbone"] = str(backbone)
        self.latent_size = int(latent_dim) + 2 * int(keypoints)
        self._feat = (channels, h // 2**n_layers, w // 2**n_layers)
        n_feat = channels * self._feat[1] * self._feat[2]
        with seeded(seed):
            if backbone is None:
                self.encoder = downsampling_encoder(c, channels, n_layers, n_feat, latent_dim)
            else:  # a frozen pretrained backbone from a local path, a trainable linear map
                from wmplan_agents.models.backbone import BackboneEncoder

                self.encoder = BackboneEncoder(backbone, latent_dim)
            self.keypoint_net: nn.Module | None = None
            if keypoints:  # half-resolution heat maps -> expected (x, y) of each (spatial softmax)
                kp: list[nn.Module] = [nn.Conv2d(c, keypoint_channels or channels, 4, 2, 1)]
                width = keypoint_channels or channels
                for i in range(keypoint_layers):  # dilations 1, 2, 4, ...: a wider view
                    d = 2**i
                    kp += [nn.SiLU(), nn.Conv2d(width, width, 3, 1, d, dilation=d)]
                kp += [nn.SiLU(), nn.Conv2d(width, keypoints, 3, 1, 1)]
                self.keypoint_net = nn.Sequential(*kp)
            size = self.latent_size
            self.predictor = make_mlp(size + action_dim(self), size, hidden, depth)
            self.decoder: nn.Module | None = None
            if decoder:
                dec: list[nn.Module] = [nn.Linear(size, n_feat), nn.Unflatten(1, self._feat)]
                for i in range(n_layers):
                    last = i == n_layers - 1
                    dec += [
                        nn.SiLU(),
                        nn.ConvTranspose2d(channels, c if last else channels, 4, 2, 1),
                    ]
                self.decoder = nn.Sequential(*dec)
        self.register_buffer("grid_x", torch.linspace(-1, 1, w // 2), persistent=False)
        self.register_buffer("grid_y", torch.linspace(-1, 1, h // 2), persistent=False)

    def encode(self, obs: Tensor) -> Tensor:
        x = self.obs_to_input(obs)
        z = self.encoder(x)
        if self.keypoint_net is None:
            return z
        maps = self.keypoint_net(x)  # [B, K, H / 2, W / 2]
        kx, ky = spatial_softmax(maps, self.grid_x, self.grid_y)  # in [-1, 1]
        return torch.cat([z, kx, ky], dim=-1)

    def decode(self, z: Tensor) -> Tensor:
        """``[B, latent_dim] -> [B, C, H, W]`` in ``[0, 1]`` units (needs ``decoder=True``)."""
        if self.decoder is None:
            raise ValueError("this ConvWorldModel was built with decoder=False")
        return self.decoder(z)

    def default_objective(self) -> Any:
        """Reconstruction + one-step latent prediction (with decoder), else InfoNCE +
        prediction."""
        from wmplan_agents.objectives import InfoNCE, Prediction, Reconstruction

        if self.decoder is not None:
            return Reconstruction() + Prediction(horizon=1)
        return InfoNCE() + Prediction(horizon=1)


class ConvStateWorldModel(ConvWorldModel):
    """A :class:`ConvWorldModel` whose latent is trained to hold the env's state.

    The dataset's true states (``collect`` stores them) anchor the latent during training: a
    linear readout of the latent is trained to equal the standardised state features (each
    entry of ``angle_dims`` as a ``(cos, sin)`` pair, so ``F = state_dim + len(angle_dims)``
    features; ``state_dim``: how many leading entries of the dataset's states, e.g. Push-T's 5
    pose entries without the agent's velocity, which one image does not show), for the encoded
    frames and for the predictor's open-loop latents alike
    (:class:`~wmplan_agents.objectives.StateAnchor`). The state is supervision, never an input:
    the model plans from images alone. With ``keypoints=K`` (recommended for objects a few
    pixels wide) the latent holds the expected image positions of ``K`` learned heat maps, in
    which positions, and the cos/sin of a rigid body's angle, are linear.

    Satisfies :class:`~wmplan_agents.contracts.StateDecoder` (``to_state`` returns the state
    features; ``raw_dim`` and ``angle_dims`` say how to read them back, as for
    :class:`~wmplan_agents.models.AngleFeatureDynamics`) and
    :class:`~wmplan_agents.contracts.Normalized` (the state statistics, fitted by ``train``).
    Other arguments as :class:`ConvWorldModel`; ``latent_size`` must exceed ``F``.
    """

    def __init__(
        self,
        obs_shape: tuple[int, int, int] | list[int],
        action_space: gym.spaces.Space,
        *,
        state_dim: int,
        angle_dims: tuple[int, ...] | list[int] = (),
        **kwargs: Any,
    ) -> None:
        dims = tuple(int(d) for d in angle_dims)
        if isinstance(state_dim, bool) or not isinstance(state_dim, int) or state_dim < 1:
            raise ValueError(f"state_dim must be a positive integer, got {state_dim!r}")
        if any(not 0 <= d < state_dim for d in dims) or len(set(dims)) != len(dims):
            raise ValueError(
                f"angle_dims must be distinct indices in [0, state_dim={state_dim}), "
                f"got {angle_dims!r}"
            )
        n_feat = state_dim + len(dims)
        size = int(kwargs.get("latent_dim", 32)) + 2 * int(kwargs.get("keypoints", 0))
        if size <= n_feat:
            raise ValueError(
                f"the latent (latent_dim + 2 * keypoints = {size}) must exceed the {n_feat} "
                "state features"
            )
        kwargs.setdefault("decoder", False)
        super().__init__(obs_shape, action_space, **kwargs)
        self.raw_dim, self.angle_dims, self.n_state_features = int(state_dim), dims, n_feat
        self._config.update(state_dim=int(state_dim), angle_dims=list(dims))
        with seeded(int(kwargs.get("seed", 0)) + 1):
            self.readout = nn.Linear(self.latent_size, n_feat)
        self.register_buffer("state_mean", torch.zeros(n_feat))
        self.register_buffer("state_std", torch.ones(n_feat))

    @property
    def normalization_window(self) -> int:
        """Env steps per window that :meth:`fit_normalization` needs (one model step)."""
        return self.action_repeat

    def state_features(self, states: Tensor) -> Tensor:
        """True states ``[..., >= state_dim]`` -> features ``[..., F]`` of their first
        ``state_dim`` entries (angles as cos/sin)."""
        if states.shape[-1] < self.raw_dim:
            raise ValueError(
                f"expected states with at least {self.raw_dim} entries, got shape "
                f"{list(states.shape)}"
            )
        return angle_features(
            states[..., : self.raw_dim].to(self.state_mean.dtype), self.angle_dims
        )

    @torch.no_grad()
    def fit_normalization(self, batch: dict[str, Tensor]) -> None:
        """The state features' mean and std from ``batch["states"]`` (``collect`` stores the
        states; a dataset without them raises)."""
        if "states" not in batch:
            raise ValueError(
                "ConvStateWorldModel trains on the true states; the dataset has none "
                "(collect them with wmplan_agents.data.collect)"
            )
        feats = self.state_features(batch["states"]).reshape(-1, self.n_state_features)
        self.state_mean.copy_(feats.mean(0))
        self.state_std.copy_(nonzero_std(feats))

    def anchor_target(self, states: Tensor) -> Tensor:
        """The standardised features ``[..., F]`` the readout of a state's latent should give."""
        return (self.state_features(states) - self.state_mean) / self.state_std

    def anchor(self, z: Tensor) -> Tensor:
        """The readout ``[..., F]`` of latents ``[..., latent_size]`` (standardised units)."""
        return self.readout(z)

    def to_state(self, z: Tensor) -> Tensor:
        """Latents ``[B, latent_size]`` -> state features ``[B, F]`` (angles as cos/sin)."""
        return self.anchor(z) * self.state_std + self.state_mean

    def default_objective(self) -> Any:
        """The state anchor and latent prediction, both over 3 model steps; the prediction
        loss trains the predictor only (``detach_input``): reaching the encoder, it drove the
        unanchored coordinates to constants (a collapsed latent, see docs/notes)."""
        from wmplan_agents.objectives import Prediction, StateAnchor

        return StateAnchor(horizon=3) + Prediction(horizon=3, detach_input=True)
