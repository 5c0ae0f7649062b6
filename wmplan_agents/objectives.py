"""Training objectives, combinable with ``+`` and scalar ``*``.

An objective is called as ``objective(model, batch, generator) -> {"loss": Tensor, part: Tensor}``
on a batch in env-step units (``{"obs": [B, L + 1, ...], "actions": [B, L, a]}``, see
:mod:`wmplan_agents.data`), and says through ``window(model)`` how many env steps ``L`` it needs.
Every random draw comes from the ``torch.Generator`` passed in by the training loop.

* :class:`Prediction`: one- or multi-step latent prediction MSE (open-loop rollout of ``step``).
* :class:`SpectralReg`: HELM's Jacobian penalty ``||d f/d z||_F^2 + ||d f/d a||_F^2``.
* :class:`HFInvariance`: high-frequency invariance ``|E(x) - E(x + delta)|^2`` of an energy.
* :class:`EnergyRegression`: MSE of a model's energy to a target energy.
* :class:`InfoNCE`: contrastive metric alignment between ``z_t`` and ``z_{t+1}``.
* :class:`Reconstruction`: pixel reconstruction for models with a decoder.
* :class:`StateAnchor`: ties a model's first latent coordinates to the true state.
* :class:`LatentVariance`: VICReg's variance hinge, keeps every latent dimension's spread at 1.
* :class:`MotionKeypoints`: puts a keypoint model's keypoints on what moves between frames.

``objective.on("coarse")`` applies an objective to ``model.coarse`` (e.g. HELM's k-step level).

Example: ``Prediction(horizon=5) + 0.01 * SpectralReg()``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from wmplan_agents.contracts import WorldModel, action_repeat

Losses = dict[str, Tensor]


def model_actions(model: WorldModel, env_actions: Tensor, steps: int) -> Tensor:
    """The first ``steps`` model actions ``[B, steps, k * a]`` of env actions ``[B, L, a]``."""
    k = action_repeat(model)
    b, length, a = env_actions.shape
    if length < steps * k:
        raise ValueError(f"need {steps * k} env actions per window, got {length}")
    return env_actions[:, : steps * k].reshape(b, steps, k * a)


class Objective:
    """Base class: a weighted sum of terms with a name."""

    name = "objective"

    def window(self, model: WorldModel) -> int:
        """Env steps per batch window this objective needs."""
        return action_repeat(model)

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        raise NotImplementedError

    def __add__(self, other: Objective) -> Objective:
        return Sum([(1.0, self), (1.0, other)])

    def __mul__(self, weight: float) -> Objective:
        return Sum([(float(weight), self)])

    __rmul__ = __mul__

    def on(self, attribute: str) -> Objective:
        """This objective applied to ``model.<attribute>`` (called first if it is a method)."""
        return OnSubmodel(self, attribute)


class Sum(Objective):
    """``sum_i w_i * term_i``; the parts of every term are reported under their names."""

    name = "sum"

    def __init__(self, terms: list[tuple[float, Objective]]) -> None:
        flat: list[tuple[float, Objective]] = []
        for w, t in terms:
            if isinstance(t, Sum):
                flat += [(w * w2, t2) for w2, t2 in t.terms]
            else:
                flat.append((w, t))
        self.terms = flat

    def __add__(self, other: Objective) -> Objective:
        return Sum([*self.terms, (1.0, other)])

    def window(self, model: WorldModel) -> int:
        return max(t.window(model) for _, t in self.terms)

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        out: Losses = {}
        total: Tensor | None = None
        for w, term in self.terms:
            parts = term(model, batch, generator)
            total = w * parts["loss"] if total is None else total + w * parts["loss"]
            name = term.name
            while name in out:
                name += "'"
            out[name] = parts["loss"].detach()
        assert total is not None
        out["loss"] = total
        return out

    def __repr__(self) -> str:
        return " + ".join(f"{w:g} * {t!r}" for w, t in self.terms)


class OnSubmodel(Objective):
    def __init__(self, objective: Objective, attribute: str) -> None:
        self.objective, self.attribute = objective, attribute
        self.name = f"{objective.name}@{attribute}"

    def _sub(self, model: WorldModel) -> Any:
        sub = getattr(model, self.attribute)
        return sub() if callable(sub) and not isinstance(sub, torch.nn.Module) else sub

    def window(self, model: WorldModel) -> int:
        return self.objective.window(self._sub(model))

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        return self.objective(self._sub(model), batch, generator)

    def __repr__(self) -> str:
        return f"{self.objective!r}.on({self.attribute!r})"


def _scale(model: WorldModel, like: Tensor) -> Tensor:
    scale = getattr(model, "loss_scale", None)
    return torch.ones_like(like[0]) if scale is None else scale


class Prediction(Objective):
    """Open-loop ``horizon``-step prediction MSE in latent space, averaged over steps.

    Targets are ``encode(obs)`` every ``action_repeat`` env steps, detached when
    ``detach_target`` (needed for learned encoders, harmless for fixed ones). Errors are divided
    by ``model.loss_scale`` when the model has one (per-dimension state std for state models).
    """

    name = "prediction"

    def __init__(
        self,
        horizon: int = 1,
        detach_target: bool = True,
        detach_input: bool = False,
        normalize: bool = False,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon}")
        self.horizon, self.detach_target = int(horizon), detach_target
        self.detach_input = detach_input  # True: train only the predictor, not the encoder
        self.normalize = normalize  # True: each dimension's error over its batch variance

    def window(self, model: WorldModel) -> int:
        return self.horizon * action_repeat(model)

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        k, h = action_repeat(model), self.horizon
        obs = batch["obs"]
        acts = model_actions(model, batch["actions"], h)
        z0 = model.encode(obs[:, 0])
        if self.detach_input:
            z0 = z0.detach()
        targets = obs[:, k : h * k + 1 : k]
        zt = model.encode(targets.reshape(-1, *targets.shape[2:])).reshape(len(obs), h, -1)
        if self.detach_target:
            zt = zt.detach()
        z, loss = z0, torch.zeros((), device=obs.device)
        scale = _scale(model, z0)
        if self.normalize:
            var = zt.detach().reshape(-1, zt.shape[-1]).var(0)
            scale = scale * torch.sqrt(var + 1e-8 * var.mean() + 1e-12)
        for t in range(h):
            z = model.step(z, acts[:, t])
            loss = loss + (((z - zt[:, t]) / scale) ** 2).mean()
        return {"loss": loss / h}

    def __repr__(self) -> str:
        extra = ", detach_input=True" if self.detach_input else ""
        extra += ", normalize=True" if self.normalize else ""
        return f"Prediction(horizon={self.horizon}{extra})"


class SpectralReg(Objective):
    """HELM's spectral regularisation: ``E ||d step/d z||_F^2 + ||d step/d a||_F^2``.

    The report computes the gradient of ``sum(step(z, a))``, which measures ``||J^T 1||``; here
    the Frobenius norms are estimated without bias by Hutchinson's trick,
    ``E_v ||J^T v||^2 = ||J||_F^2`` with ``v ~ N(0, I)`` (``n_probes`` draws), at the batch's
    first latents and model actions. Jacobians are in latent units divided by ``loss_scale``.
    """

    name = "spectral"

    def __init__(self, n_probes: int = 1) -> None:
        self.n_probes = int(n_probes)

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        z = model.encode(batch["obs"][:, 0]).detach().requires_grad_(True)
        a = model_actions(model, batch["actions"], 1)[:, 0].detach().requires_grad_(True)
        out = model.step(z, a) / _scale(model, z)
        total = torch.zeros((), device=z.device)
        for _ in range(self.n_probes):
            v = torch.randn(out.shape, generator=generator, device="cpu").to(out)
            gz, ga = torch.autograd.grad((out * v).sum(), (z, a), create_graph=True)
            gz = gz * _scale(model, z)
            total = total + gz.pow(2).sum(-1).mean() + ga.pow(2).sum(-1).mean()
        return {"loss": total / self.n_probes}

    def __repr__(self) -> str:
        return "SpectralReg()"


class HFInvariance(Objective):
    """High-frequency invariance ``E |E(x) - E(x + delta)|^2``, ``delta ~ N(0, sigma^2 I)``.

    For models with ``energy(x) -> [B]``; ``x`` is ``batch[key]``.
    """

    name = "hf_invariance"

    def __init__(self, sigma: float = 0.1, key: str = "x") -> None:
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.sigma, self.key = float(sigma), key

    def window(self, model: WorldModel) -> int:
        return 1

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        x = batch[self.key]
        delta = torch.randn(x.shape, generator=generator, device="cpu").to(x) * self.sigma
        return {"loss": ((model.energy(x) - model.energy(x + delta)) ** 2).mean()}

    def __repr__(self) -> str:
        return f"HFInvariance(sigma={self.sigma})"


class EnergyRegression(Objective):
    """``E |E(x) - target|^2`` for batches ``{x_key: [B, d], target_key: [B]}``."""

    name = "energy"

    def __init__(self, x_key: str = "x", target_key: str = "energy") -> None:
        self.x_key, self.target_key = x_key, target_key

    def window(self, model: WorldModel) -> int:
        return 1

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        return {"loss": ((model.energy(batch[self.x_key]) - batch[self.target_key]) ** 2).mean()}

    def __repr__(self) -> str:
        return "EnergyRegression()"


class InfoNCE(Objective):
    """Contrastive metric alignment: InfoNCE between ``z_t`` and ``z_{t+1}`` (one model step).

    ``sim = normalize(z_t) @ normalize(z_{t+1})^T / tau``; cross-entropy with the matching row as
    the positive and the other rows of the batch as negatives, averaged over both directions
    (``t -> t+1`` and ``t+1 -> t``). Gradients reach the encoder through both sides, which keeps a
    latent model trained without reconstruction from collapsing.
    """

    name = "infonce"

    def __init__(self, tau: float = 0.1, symmetric: bool = True) -> None:
        if not tau > 0:
            raise ValueError(f"tau must be positive, got {tau}")
        self.tau, self.symmetric = float(tau), symmetric

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        k = action_repeat(model)
        z0 = F.normalize(model.encode(batch["obs"][:, 0]), dim=-1)
        z1 = F.normalize(model.encode(batch["obs"][:, k]), dim=-1)
        logits = z0 @ z1.T / self.tau
        labels = torch.arange(len(z0), device=z0.device)
        loss = F.cross_entropy(logits, labels)
        if self.symmetric:
            loss = 0.5 * (loss + F.cross_entropy(logits.T, labels))
        return {"loss": loss}

    def __repr__(self) -> str:
        return f"InfoNCE(tau={self.tau})"


class Reconstruction(Objective):
    """``E w * |decode(encode(o)) - o|^2`` over the window's first observation (model needs
    ``decode``; pixel observations are compared in ``[0, 1]``).

    Options (both off by default, which is the plain unweighted MSE):

    * ``change_weight``: per-pixel weight ``w = 1 + change_weight * |o_{t+k} - o_t|`` (the
      largest channel difference between the first observation and the one a model step
      later). Small moving objects (the WallSingle dot) otherwise count for almost nothing
      against a static background that fills the image, and the latent ignores them.
    * ``predict_steps``: also decode the open-loop latent predictions ``step^j(encode(o_t))``
      for ``j = 1..predict_steps`` and compare them with the true frames (same weighting,
      with the mask of that step's change), so the predicted latents must carry the motion.
    """

    name = "reconstruction"

    def __init__(self, change_weight: float = 0.0, predict_steps: int = 0) -> None:
        if not change_weight >= 0:
            raise ValueError(f"change_weight must be >= 0, got {change_weight}")
        if predict_steps < 0:
            raise ValueError(f"predict_steps must be >= 0, got {predict_steps}")
        self.change_weight, self.predict_steps = float(change_weight), int(predict_steps)

    def window(self, model: WorldModel) -> int:
        steps = self.predict_steps or (1 if self.change_weight > 0 else 0)
        return max(1, steps * action_repeat(model))

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        k = action_repeat(model)
        to_input = getattr(model, "obs_to_input", lambda o: o)
        frames = [to_input(batch["obs"][:, 0])]
        for j in range(1, max(self.predict_steps, 1 if self.change_weight > 0 else 0) + 1):
            frames.append(to_input(batch["obs"][:, j * k]))

        def weight(j: int) -> Tensor | float:
            if self.change_weight == 0:
                return 1.0
            other = frames[1] if j == 0 else frames[j - 1]
            diff = (frames[j] - other).abs()
            diff = diff.amax(dim=1, keepdim=True) if diff.ndim == 4 else diff
            return 1.0 + self.change_weight * diff

        z = model.encode(batch["obs"][:, 0])
        loss = (weight(0) * (model.decode(z) - frames[0]) ** 2).mean()
        if self.predict_steps:
            acts = model_actions(model, batch["actions"], self.predict_steps)
            pred = torch.zeros((), device=z.device)
            for j in range(1, self.predict_steps + 1):
                z = model.step(z, acts[:, j - 1])
                pred = pred + (weight(j) * (model.decode(z) - frames[j]) ** 2).mean()
            loss = 0.5 * (loss + pred / self.predict_steps)
        return {"loss": loss}

    def __repr__(self) -> str:
        if self.change_weight == 0 and self.predict_steps == 0:
            return "Reconstruction()"
        return (
            f"Reconstruction(change_weight={self.change_weight:g}, "
            f"predict_steps={self.predict_steps})"
        )


class StateAnchor(Objective):
    """Anchor a model's latent to the true state (needs a batch with ``"states"``, which
    :func:`~wmplan_agents.data.collect` stores, and a model with ``anchor(z)`` and
    ``anchor_target(states)``, such as :class:`~wmplan_agents.models.ConvStateWorldModel`):
    the MSE between ``model.anchor(z)`` and ``model.anchor_target(state)`` for the encoded first
    frame and for each of the ``horizon`` open-loop predictions ``step^j(encode(o_0))``,
    averaged. Anchoring the predictions too keeps the state readable from the predictor's
    latents, which is what a planner scores.
    """

    name = "anchor"

    def __init__(self, horizon: int = 1) -> None:
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 0:
            raise ValueError(f"horizon must be a non-negative integer, got {horizon!r}")
        self.horizon = horizon

    def window(self, model: WorldModel) -> int:
        return max(1, self.horizon) * action_repeat(model)

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        if "states" not in batch:
            raise ValueError("StateAnchor needs the dataset's true states (batch['states'])")
        if not hasattr(model, "anchor_target"):
            raise ValueError(
                f"StateAnchor needs a model with anchor_target (ConvStateWorldModel), "
                f"got {type(model).__name__}"
            )
        k, h = action_repeat(model), self.horizon
        target = model.anchor_target(batch["states"][:, : h * k + 1 : k])  # [B, h + 1, F]
        z = model.encode(batch["obs"][:, 0])
        loss = ((model.anchor(z) - target[:, 0]) ** 2).mean()
        if h:
            acts = model_actions(model, batch["actions"], h)
            for t in range(h):
                z = model.step(z, acts[:, t])
                loss = loss + ((model.anchor(z) - target[:, t + 1]) ** 2).mean()
        return {"loss": loss / (h + 1)}

    def __repr__(self) -> str:
        return f"StateAnchor(horizon={self.horizon})"


class MotionKeypoints(Objective):
    """Train a keypoint model's heat maps to find what moves, by double-difference motion
    detection: the pixels where the frame ``o_{t+g}`` differs from both ``o_t`` and ``o_{t+2g}``
    (``g = steps`` model steps; ``min`` of the two largest-channel differences) are where a
    moving object is *in* ``o_{t+g}``. That mask, normalised to sum to 1 at the heat maps'
    resolution, is the target distribution of every heat map of ``o_{t+g}`` (cross-entropy with
    the map's softmax). Frames in which nothing moved (mask sum below ``min_mass`` pixels) are
    left out. A background that only differs between episodes (WallSingle's door) never
    changes within a window, so it cannot attract a keypoint. No labels are used. Needs
    :class:`~wmplan_agents.models.KeypointWorldModel` (``heat_logits``).
    """

    name = "motion"

    def __init__(self, steps: int = 1, min_mass: float = 1.0) -> None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if not min_mass > 0:
            raise ValueError(f"min_mass must be positive, got {min_mass}")
        self.steps, self.min_mass = steps, float(min_mass)

    def window(self, model: WorldModel) -> int:
        return 2 * self.steps * action_repeat(model)

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        if not hasattr(model, "heat_logits"):
            raise ValueError(
                f"MotionKeypoints needs a model with heat_logits (KeypointWorldModel), "
                f"got {type(model).__name__}"
            )
        gap = self.steps * action_repeat(model)
        frames = [model.obs_to_input(batch["obs"][:, j * gap]) for j in range(3)]
        before = (frames[1] - frames[0]).abs().amax(1, keepdim=True)
        after = (frames[2] - frames[1]).abs().amax(1, keepdim=True)
        logits = model.heat_logits(frames[1])  # [B, K, h, w]
        mask = F.adaptive_avg_pool2d(torch.minimum(before, after), logits.shape[-2:])
        scale = frames[1].shape[-1] * frames[1].shape[-2] / mask[0, 0].numel()  # pixels per cell
        mass = mask.flatten(1).sum(-1) * scale  # moved pixels per frame
        keep = mass >= self.min_mass
        if not bool(keep.any()):
            return {"loss": logits.sum() * 0.0}
        target = mask[keep].flatten(1) / mask[keep].flatten(1).sum(-1, keepdim=True)  # [B', hw]
        log_p = torch.log_softmax(logits[keep].flatten(2), dim=-1)  # [B', K, hw]
        return {"loss": -(target[:, None] * log_p).sum(-1).mean()}

    def __repr__(self) -> str:
        return f"MotionKeypoints(steps={self.steps}, min_mass={self.min_mass:g})"


class LatentVariance(Objective):
    """VICReg's variance term ``mean_d relu(target - std_batch(z_d))`` on the encoded first
    observations: every latent dimension keeps a spread of at least ``target`` over the batch.

    A learned latent's scale is otherwise free and drifts small (the decoder undoes any scale),
    which leaves the predictor's per-step changes below the noise of its own updates.
    """

    name = "latent_variance"

    def __init__(self, target: float = 1.0, eps: float = 1e-4) -> None:
        if not target > 0:
            raise ValueError(f"target must be positive, got {target}")
        self.target, self.eps = float(target), float(eps)

    def window(self, model: WorldModel) -> int:
        return 1

    def __call__(
        self, model: WorldModel, batch: dict[str, Tensor], generator: torch.Generator
    ) -> Losses:
        z = model.encode(batch["obs"][:, 0])
        std = torch.sqrt(z.var(0) + self.eps)
        return {"loss": F.relu(self.target - std).mean()}

    def __repr__(self) -> str:
        return f"LatentVariance(target={self.target:g})"
