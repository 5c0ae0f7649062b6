"""``EnergyMLP``: the random Fourier-feature input layer (fits ripples a plain MLP cannot at the
same budget), argument checks, seeding and checkpoint round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wmplan_agents.checkpoint import load, save
from wmplan_agents.models import EnergyMLP
from wmplan_agents.models.mlp import make_mlp, seeded


def _rippled(x: torch.Tensor) -> torch.Tensor:
    """A quadratic basin plus ripples of angular frequency 15 (the funnel env's defaults)."""
    return (x**2).sum(-1) + 0.5 * (1 - torch.cos(15 * x)).sum(-1)


def _fit(model: EnergyMLP, steps: int = 300) -> float:
    """Full-batch Adam on 512 points of [-1, 1]; MSE on 512 fresh points."""
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(512, model.input_dim, generator=gen) * 2 - 1
    x_val = torch.rand(512, model.input_dim, generator=gen) * 2 - 1
    y, y_val = _rippled(x), _rippled(x_val)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((model(x_val) - y_val) ** 2).mean())


def test_fourier_features_fit_ripples_that_a_plain_mlp_misses():
    torch.set_num_threads(1)
    plain = _fit(EnergyMLP(1, hidden=32, depth=2, seed=0))
    fourier = _fit(EnergyMLP(1, hidden=32, depth=2, fourier_features=16, fourier_scale=8.0, seed=0))
    ripple_var = 0.25**2 * 2  # var of 0.5 * cos(15 x) over [-1, 1]: 0.125
    # the plain MLP leaves most of the ripples' variance unexplained; Fourier features fit them
    assert plain > 0.5 * ripple_var
    assert fourier < 0.05 * ripple_var
    assert fourier < plain / 20


def test_features_and_shapes():
    m = EnergyMLP(2, hidden=8, depth=1, fourier_features=5, fourier_scale=3.0, seed=2)
    x = torch.randn(7, 2)
    phi = m.features(x)
    assert phi.shape == (7, 2 + 10)
    w = m.frequencies
    assert w.shape == (2, 5)
    torch.testing.assert_close(phi, torch.cat([x, torch.sin(x @ w), torch.cos(x @ w)], -1))
    assert m(x).shape == (7,)
    # frequencies ~ N(0, scale^2): the sample std is of the order of the scale
    big = EnergyMLP(2, hidden=4, depth=1, fourier_features=2000, fourier_scale=3.0, seed=0)
    assert float(big.frequencies.std()) == pytest.approx(3.0, rel=0.1)


def test_plain_model_is_unchanged_and_seeding_is_deterministic():
    m = EnergyMLP(2, hidden=16, depth=2, seed=3)
    with seeded(3):
        ref = make_mlp(2, 1, 16, 2, "silu")
    for a, b in zip(m.net.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
    a = EnergyMLP(2, hidden=16, depth=2, fourier_features=8, fourier_scale=5.0, seed=4)
    b = EnergyMLP(2, hidden=16, depth=2, fourier_features=8, fourier_scale=5.0, seed=4)
    c = EnergyMLP(2, hidden=16, depth=2, fourier_features=8, fourier_scale=5.0, seed=5)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])
    assert not torch.equal(a.frequencies, c.frequencies)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fourier_features": -1}, "fourier_features"),
        ({"fourier_features": 2.5}, "fourier_features"),
        ({"fourier_features": True}, "fourier_features"),
        ({"fourier_features": 4, "fourier_scale": 0.0}, "fourier_scale"),
        ({"fourier_features": 4, "fourier_scale": math.nan}, "fourier_scale"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EnergyMLP(2, **kwargs)


def test_wrong_input_width_raises_and_model_stays_usable():
    m = EnergyMLP(2, hidden=8, depth=1, fourier_features=3)
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        m(torch.zeros(4, 3))
    assert torch.isfinite(m(torch.zeros(4, 2))).all()


def test_checkpoint_round_trip_keeps_the_frequencies(tmp_path):
    m = EnergyMLP(2, hidden=8, depth=1, fourier_features=6, fourier_scale=4.0, seed=9)
    save(m, tmp_path / "energy")
    loaded = load(tmp_path / "energy")
    assert loaded.get_config() == m.get_config()
    x = torch.as_tensor(np.random.default_rng(0).uniform(-1, 1, (10, 2)), dtype=torch.float32)
    torch.testing.assert_close(loaded(x), m(x))
