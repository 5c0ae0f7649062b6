"""A frozen pretrained image backbone as a pixel model's encoder (``backbone=PATH``).

GRASP and DINO-WM plan on DINOv2 patch features. Pretrained weights are never downloaded here:
a user who has a Hugging Face ``transformers`` vision model saved on disk (``save_pretrained``
format, e.g. a DINOv2 or ViT checkpoint) passes its directory, and the model's images go through
it frozen. Only the linear map from its features to the latent trains.

* **Loading**: ``transformers.AutoModel.from_pretrained(path, local_files_only=True,
  use_safetensors=True)``: nothing is fetched from the network and no pickled or remote code is
  run (a directory without ``model.safetensors`` raises). Needs ``pip install wmplan[vit]``.
* **Input**: images in ``[0, 1]`` resized (bilinear) to the backbone's ``config.image_size`` and
  standardised with the ImageNet mean and std (the DINOv2/ViT convention).
* **Features**: the class token and the mean of the patch tokens of the last hidden state,
  concatenated (``2 * hidden_size`` numbers).
* **Checkpoints** record the path, not the backbone's weights: loading a checkpoint needs the
  same directory. The backbone is not a submodule (its weights are not in ``state_dict()`` or
  ``parameters()``); it follows the input's device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_backbone(path: str | Path) -> Any:
    """A frozen ``transformers`` vision model from the local directory ``path`` (eval mode)."""
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(
            f"backbone path {str(path)!r} is not a directory; expected a transformers model "
            "saved with save_pretrained (config.json and model.safetensors)"
        )
    if not (directory / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{directory} has no model.safetensors; only safetensors weights are loaded "
            "(re-save the backbone with save_pretrained(..., safe_serialization=True))"
        )
    try:
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "backbone= needs the transformers package: pip install 'wmplan[vit]'"
        ) from exc
    net = AutoModel.from_pretrained(
        str(directory), local_files_only=True, use_safetensors=True, trust_remote_code=False
    )
    size = getattr(net.config, "image_size", None)
    if not isinstance(size, int) or getattr(net.config, "hidden_size", None) is None:
        raise ValueError(
            f"{directory} is a {type(net).__name__} without an integer config.image_size and a "
            "hidden_size; expected a ViT-like vision model (ViT, DINOv2)"
        )
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class BackboneEncoder(nn.Module):
    """Images ``[B, C, H, W]`` in ``[0, 1]`` -> ``[B, out]``: the frozen backbone's features
    (class token and mean patch token), then a trainable linear map."""

    def __init__(self, path: str | Path, out: int) -> None:
        super().__init__()
        net = load_backbone(path)
        object.__setattr__(self, "backbone", net)  # not a submodule: frozen, not checkpointed
        self.image_size = int(net.config.image_size)
        self.head = nn.Linear(2 * int(net.config.hidden_size), out)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    def features(self, x: Tensor) -> Tensor:
        """The frozen features ``[B, 2 * hidden_size]`` (no gradient)."""
        if x.shape[1] != 3:
            raise ValueError(f"a pretrained backbone takes RGB images, got {x.shape[1]} channels")
        net = self.backbone
        if next(net.parameters()).device != x.device:
            net.to(x.device)
        x = F.interpolate(x, size=(self.image_size,) * 2, mode="bilinear", align_corners=False)
        with torch.no_grad():
            hidden = net(pixel_values=(x - self.mean) / self.std).last_hidden_state
        return torch.cat([hidden[:, 0], hidden[:, 1:].mean(1)], dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
