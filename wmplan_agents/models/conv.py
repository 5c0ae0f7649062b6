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
from wmplan_agents.models.mlp import action_scaling, check_action_repeat, make_mlp, seeded


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
        self.latent_size = int(latent_dim) + 2 * int(keypoints)
        self._feat = (channels, h // 2**n_layers, w // 2**n_layers)
        n_feat = channels * self._feat[1] * self._feat[2]
        with seeded(seed):
            self.encoder = downsampling_encoder(c, channels, n_layers, n_feat, latent_dim)
            self.keypoint_net: nn.Module | None = None
            if keypoints:  # half-resolution heat maps -> expected (x, y) of each (spatial softmax)
                self.keypoint_net = nn.Sequential(
                    nn.Conv2d(c, channels, 4, 2, 1),
                    nn.SiLU(),
                    nn.Conv2d(channels, keypoints, 3, 1, 1),
                )
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
