"""Chapter 6's κ → ∞ limit: Δ_Z becomes modular and the Lovász-Z loss a cross-section-weighted hinge loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import hepsig_tutorial.submodular as sm
from hepsig_tutorial.losses import delta_z, lovasz_extension, lovasz_z_loss


def _ground_set(seed, p=8):
    r = np.random.default_rng(seed)
    y = (r.random(p) < 0.4).astype(float)
    y[0], y[-1] = 1.0, 0.0
    w = np.where(y == 1, r.uniform(0.5, 2.0, p), r.uniform(1.0, 50.0, p))
    return y, w


@pytest.mark.parametrize("seed", range(4))
def test_delta_z_tends_to_a_modular_function(seed):
    y, w = _ground_set(seed)
    S = float(np.sum(w * y))
    departures = []
    for kappa in (100.0, 1000.0, 10_000.0, 100_000.0):
        eps = kappa * S
        v = sm.subset_table(lambda masks: delta_z(masks, y, w, eps), len(y))
        assert sm.verify_union_intersection(v, rtol=1e-9).holds  # submodular at every κ (up to rounding)
        # modular ⇔ Eq. (2) with equality: the largest slack Δ(A) + Δ(B) − Δ(A∪B) − Δ(A∩B),
        # relative to the scale of Δ
        a, b = np.meshgrid(np.arange(len(v)), np.arange(len(v)))
        slack = v[a] + v[b] - v[a | b] - v[a & b]
        departures.append(float(slack.max() / np.abs(v).max()))
    # the departure from modularity falls like 1/κ (the FN·FP cross term of the expansion)
    assert all(a > 5 * b for a, b in zip(departures, departures[1:]))
    assert departures[-1] < 1e-2


@pytest.mark.parametrize("seed", range(3))
def test_lovasz_loss_tends_to_the_weighted_hinge_loss(seed):
    r = np.random.default_rng(seed)
    p = 400
    y = (r.random(p) < 0.3).astype(float)
    w = np.where(y == 1, 1.0, r.choice([1.0, 100.0], p))
    F = torch.as_tensor(r.normal(size=p) + 1.5 * (2 * y - 1), dtype=torch.float64)
    m = torch.clamp(1 - (2 * torch.as_tensor(y) - 1) * F, min=0).numpy()
    S = float(np.sum(w * y))
    rel = []
    for kappa in (30.0, 300.0, 3000.0, 30_000.0):
        eps = kappa * S
        exact = float(lovasz_z_loss(F, y, w, epsilon=eps))
        hinge = float(np.sum(np.where(y == 1, w / math.sqrt(eps), S * w / (2 * eps ** 1.5)) * m))
        rel.append(abs(exact - hinge) / exact)
    assert all(a > b for a, b in zip(rel, rel[1:]))
    assert rel[-1] < 1e-2


def test_two_element_extension_is_two_planes():
    """On two elements the extension is linear on each triangle m1 ≥ m2 and m2 ≥ m1 (Chapter 6's picture)."""
    y, w = np.array([1.0, 0.0]), np.array([1.0, 10.0])
    d1, d2, d12 = (delta_z(np.array(mask), y, w, 1.0) for mask in ([True, False], [False, True], [True, True]))
    f = lambda m: lovasz_extension(lambda mask: delta_z(mask, y, w, 1.0), m)  # noqa: E731
    rng = np.random.default_rng(0)
    for m1, m2 in rng.uniform(0, 1, (20, 2)):
        expected = m1 * d1 + m2 * (d12 - d1) if m1 >= m2 else m2 * d2 + m1 * (d12 - d2)
        assert f([m1, m2]) == pytest.approx(expected, rel=1e-12)
    assert d1 + d2 >= d12  # submodular: the crease is a valley
