"""``KeypointWorldModel``: pixels to a few image coordinates plus a small global code.

Made for scenes with a small moving object on a background that changes only between episodes
(WallSingle: a dot, and a wall whose door height is drawn per episode). A plain conv autoencoder
spends its latent on the background and moves by a tiny amount when the object moves, so a
latent predictor cannot beat "no change" (docs/results.md). Here the object's position *is* a
pair of latent coordinates:

* keypoint branch: two convolutions give ``K`` heat maps at half resolution; a spatial softmax
  turns each into its expected ``(x, y)`` in ``[-1, 1]``. The maps are trained by
  :class:`~wmplan_agents.objectives.MotionKeypoints` to peak where the frame differs from both
  its neighbours in time (double-difference motion detection, no labels), so the keypoint sits
  on the moving object and moves linearly with it;
* global branch: ``n_layers`` stride-2 convolutions and a linear map to ``global_dim`` numbers,
  trained by reconstruction to carry the rest of the image (the door);
* decoder (a spatial-broadcast decoder): the global code broadcast over a quarter-resolution
  grid, the grid's coordinates and a Gaussian blob at each (detached) keypoint, through
  convolutions and two upsampling steps, with the blobs drawn again at half resolution;
* predictor: a residual MLP on the latent ``[global, x_1..x_K, y_1..y_K]`` and the action.

The latent is ``global_dim + 2 K`` numbers; :meth:`KeypointWorldModel.default_objective` learns
WallSingle's dot and door from 16k frames without labels (docs/notes/wall-pixel-model.md; the
shipped WallSingle pixel model reads the state instead: ``StateReaderModel``). Satisfies
:class:`~wmplan_agents.contracts.WorldModel`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import Tensor, nn

from wmplan_agents.contracts import action_dim
from wmplan_agents.models.conv import ImageWorldModel, downsampling_encoder, spatial_softmax
from wmplan_agents.models.mlp import make_mlp, seeded


class KeypointWorldModel(ImageWorldModel):
    """Keypoint + global-code encoder, spatial-broadcast decoder, residual latent predictor.

    ``obs_shape`` is ``(H, W, C)`` (uint8 HWC images, as the envs return them); ``H`` and ``W``
    must be divisible by ``2 ** n_layers`` and by 4. ``blob_std`` is the std of the drawn
    Gaussians in the ``[-1, 1]`` image coordinates. ``sharpness > 0`` standardises each heat map
    over its pixels and multiplies it by ``sharpness`` before the softmax, so the map's peak
    dominates from the start (without it, a nearly flat map gives a keypoint that hardly moves);
    ``0`` uses the raw maps. ``detach_keypoints`` stops the reconstruction loss from moving the
    keypoints: :meth:`decode` draws them but only the global code learns from it, and the
    keypoints learn from :class:`~wmplan_agents.objectives.MotionKeypoints`, which trains the heat
    maps to find what moves. ``full_res_heat`` computes the heat maps at the image's resolution
    instead of half of it (finer keypoints, twice the keypoint branch's cost).
    """

    def __init__(
        self,
        obs_shape: tuple[int, int, int] | list[int],
        action_space: gym.spaces.Space,
        *,
        keypoints: int = 1,
        global_dim: int = 2,
        channels: int = 16,
        n_layers: int = 4,
        hidden: int = 128,
        depth: int = 2,
        blob_std: float = 0.15,
        detach_keypoints: bool = True,
        sharpness: float = 0.0,
        full_res_heat: bool = False,
        action_repeat: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        h, w, c = self._setup_images(obs_shape, action_space, action_repeat)
        if h % max(4, 2**n_layers) or w % max(4, 2**n_layers):
            raise ValueError(
                f"image size {h}x{w} must be divisible by 4 and by 2**n_layers = {2**n_layers}"
            )
        if keypoints < 1 or global_dim < 0:
            raise ValueError(
                f"need keypoints >= 1 and global_dim >= 0, got {keypoints} and {global_dim}"
            )
        if not blob_std > 0:
            raise ValueError(f"blob_std must be positive, got {blob_std}")
        self.n_keypoints, self.global_dim, self.blob_std = int(keypoints), int(global_dim), blob_std
        self.detach_keypoints = bool(detach_keypoints)
        self.sharpness = float(sharpness)
        self._config = dict(
            obs_shape=[h, w, c],
            action_space=action_space,
            keypoints=self.n_keypoints,
            global_dim=self.global_dim,
            channels=int(channels),
            n_layers=int(n_layers),
            hidden=int(hidden),
            depth=int(depth),
            blob_std=float(blob_std),
            detach_keypoints=bool(detach_keypoints),
            sharpness=float(sharpness),
            full_res_heat=bool(full_res_heat),
            action_repeat=self.action_repeat,
            seed=int(seed),
        )
        self.latent_size = self.global_dim + 2 * self.n_keypoints
        k, ch = self.n_keypoints, int(channels)
        with seeded(seed):
            self.keypoint_net = nn.Sequential(
                nn.Conv2d(c, ch, 3, 1, 1),
                nn.SiLU(),
                nn.Conv2d(ch, ch, 3, 1, 1) if full_res_heat else nn.Conv2d(ch, ch, 4, 2, 1),
                nn.SiLU(),
                nn.Conv2d(ch, k, 3, 1, 1),
            )
            self.global_net: nn.Module | None = None
            if self.global_dim:
                n_feat = ch * (h // 2**n_layers) * (w // 2**n_layers)
                self.global_net = downsampling_encoder(c, ch, n_layers, n_feat, self.global_dim)
            low_in = self.global_dim + 2 + k  # global code, grid coordinates, blobs
            self.decode_low = nn.Sequential(
                nn.Conv2d(low_in, 2 * ch, 3, 1, 1),
                nn.SiLU(),
                nn.Conv2d(2 * ch, 2 * ch, 3, 1, 1),
                nn.SiLU(),
                nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1),
            )
            self.decode_high = nn.Sequential(
                nn.SiLU(),
                nn.Conv2d(ch + k, ch, 3, 1, 1),
                nn.SiLU(),
                nn.ConvTranspose2d(ch, c, 4, 2, 1),
            )
            self.predictor = make_mlp(
                self.latent_size + action_dim(self), self.latent_size, hidden, depth
            )
        heat = 1 if full_res_heat else 2
        for name, size in (
            ("heat_x", w // heat),
            ("heat_y", h // heat),
            ("mid_x", w // 2),
            ("mid_y", h // 2),
            ("low_x", w // 4),
            ("low_y", h // 4),
        ):
            self.register_buffer(name, torch.linspace(-1, 1, size), persistent=False)

    def heat_logits(self, x: Tensor) -> Tensor:
        """The raw heat maps ``[B, K, H / 2, W / 2]`` (``[B, K, H, W]`` with ``full_res_heat``)
        of float images ``[B, C, H, W]``."""
        return self.keypoint_net(x)

    def keypoints(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Expected ``(x, y)`` in ``[-1, 1]`` of each heat map, ``[B, K]`` each."""
        maps = self.heat_logits(x)  # [B, K, H / 2, W / 2] (or [B, K, H, W])
        if self.sharpness:  # standardised heat maps: a peak always dominates the softmax
            flat = maps.flatten(2)
            flat = (flat - flat.mean(-1, keepdim=True)) / (flat.std(-1, keepdim=True) + 1e-6)
            maps = (flat * self.sharpness).view_as(maps)
        return spatial_softmax(maps, self.heat_x, self.heat_y)

    def encode(self, obs: Tensor) -> Tensor:
        x = self.obs_to_input(obs)
        kx, ky = self.keypoints(x)
        if self.global_net is None:
            return torch.cat([kx, ky], dim=-1)
        return torch.cat([self.global_net(x), kx, ky], dim=-1)

    def _blobs(self, kx: Tensor, ky: Tensor, grid_x: Tensor, grid_y: Tensor) -> Tensor:
        """Gaussians of std ``blob_std`` at the keypoints on a grid, ``[B, K, len(y), len(x)]``."""
        gx = torch.exp(-((grid_x - kx[..., None]) ** 2) / (2 * self.blob_std**2))  # [B, K, W']
        gy = torch.exp(-((grid_y - ky[..., None]) ** 2) / (2 * self.blob_std**2))  # [B, K, H']
        return gy[..., :, None] * gx[..., None, :]

    def decode(self, z: Tensor) -> Tensor:
        """``[B, latent_size] -> [B, C, H, W]`` in ``[0, 1]`` units."""
        g, k = self.global_dim, self.n_keypoints
        kx, ky = z[:, g : g + k], z[:, g + k :]
        if self.detach_keypoints:
            kx, ky = kx.detach(), ky.detach()
        b, hl, wl = z.shape[0], self.low_y.shape[0], self.low_x.shape[0]
        coords = torch.stack(torch.meshgrid(self.low_y, self.low_x, indexing="ij"))  # [2, H', W']
        parts = [coords.expand(b, -1, -1, -1), self._blobs(kx, ky, self.low_x, self.low_y)]
        if g:
            parts.insert(0, z[:, :g, None, None].expand(-1, -1, hl, wl))
        mid = self.decode_low(torch.cat(parts, dim=1))  # [B, ch, H / 2, W / 2]
        blobs = self._blobs(kx, ky, self.mid_x, self.mid_y)
        return self.decode_high(torch.cat([mid, blobs], dim=1))

    def default_objective(self) -> Any:
        """``MotionKeypoints(steps=2)`` (keypoints on what moves) ``+ Reconstruction(20)``
        (the global code; change-weighted) ``+ LatentVariance(0.1)`` (keeps the global code's
        scale from drifting to ~1e-4, where the predictor's noise swamps it) ``+ Prediction(1)``
        on the detached latent, each dimension's error divided by its batch variance (the
        predictor learns the dynamics; it cannot move the encoder towards a latent that is
        easy to predict because it does not change)."""
        from wmplan_agents.objectives import (
            LatentVariance,
            MotionKeypoints,
            Prediction,
            Reconstruction,
        )

        return (
            MotionKeypoints(steps=2)
            + Reconstruction(change_weight=20.0)
            + LatentVariance(target=0.1)
            + Prediction(horizon=1, detach_input=True, normalize=True)
        )
