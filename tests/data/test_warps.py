"""Resampling augmentations (random affine, elastic distortion), checked against a per-pixel NumPy
reference of the same geometry, exact identities (rot90, integer shifts) and hand-built Gaussians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.data import parse_augment
from cnnlab.data import transforms as T
from cnnlab.errors import CnnlabError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n=4, c=1, h=12, w=10, seed=0):
    return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=gen(seed))


def full(n, v):
    return torch.full((n,), float(v))


def bilinear_zero(img: np.ndarray, y: float, x: float) -> np.ndarray:
    """Value at continuous pixel position (y, x) (pixel centres at integers), 0 outside the image."""
    c, h, w = img.shape
    y0, x0 = math.floor(y), math.floor(x)
    out = np.zeros(c)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * img[:, yy, xx]
    return out


def affine_reference(img: np.ndarray, angle: float, scale: float, shear: float, tx: float, ty: float) -> np.ndarray:
    """Output pixel p samples the input at M^-1 (p - c - t) + c, M = R(angle) Sh(shear) scale (x right, y down)."""
    c, h, w = img.shape
    a, s = math.radians(angle), math.tan(math.radians(shear))
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    m = rot @ np.array([[1.0, s], [0.0, 1.0]]) * scale
    inv = np.linalg.inv(m)
    cx, cy = (w - 1) / 2, (h - 1) / 2  # the centre in pixel-index coordinates
    out = np.zeros_like(img, dtype=np.float64)
    for i in range(h):
        for j in range(w):
            src = inv @ np.array([j - cx - tx, i - cy - ty])
            out[:, i, j] = bilinear_zero(img, src[1] + cy, src[0] + cx)
    return out


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(3, 9),
    w=st.integers(3, 9),
    angle=st.floats(-180, 180, allow_subnormal=False),
    scale=st.floats(0.5, 1.6, allow_subnormal=False),
    shear=st.floats(-40, 40, allow_subnormal=False),
    tx=st.floats(-3, 3, allow_subnormal=False),
    ty=st.floats(-3, 3, allow_subnormal=False),
)
def test_affine_matches_the_per_pixel_reference(h, w, angle, scale, shear, tx, ty):
    x = images(1, 2, h, w, seed=h * 10 + w)
    out = T.affine(x, full(1, angle), full(1, scale), full(1, shear), full(1, tx), full(1, ty))
    assert out.dtype == torch.float32 and out.shape == x.shape
    ref = affine_reference(x[0].double().numpy(), angle, scale, shear, tx, ty)
    np.testing.assert_allclose(out[0].numpy(), ref, atol=2e-3 * 255)


def test_affine_exact_cases():
    x = images(3, 2, 8, 8)
    z, one = full(3, 0), full(3, 1)
    assert torch.allclose(T.affine(x, z, one, z, z, z), x.float(), atol=1e-3)
    # 90 degrees counter-clockwise on screen is torch.rot90 over (H, W); 180 is both flips
    assert torch.allclose(T.affine(x, full(3, 90), one, z, z, z), torch.rot90(x, 1, (2, 3)).float(), atol=1e-3)
    assert torch.allclose(T.affine(x, full(3, 180), one, z, z, z), x.flip(2, 3).float(), atol=1e-3)
    # whole-pixel shifts are the zero-padded crop: out[i, j] = x[i - ty, j - tx]
    shifted = T.affine(x, z, one, z, torch.tensor([2.0, -1.0, 0.0]), torch.tensor([-3.0, 0.0, 1.0]))
    expect = T.shift_crop(x, torch.tensor([3, 0, -1]), torch.tensor([-2, 1, 0]))
    assert torch.allclose(shifted, expect.float(), atol=1e-3)
    # a different angle per image: image 1 rotated, image 0 untouched
    mixed = T.affine(x[:2], torch.tensor([0.0, 90.0]), one[:2], z[:2], z[:2], z[:2])
    assert torch.allclose(mixed[0], x[0].float(), atol=1e-3)
    assert torch.allclose(mixed[1], torch.rot90(x[1], 1, (1, 2)).float(), atol=1e-3)


def test_random_affine_draws_within_its_bounds():
    x = images(64, 1, 16, 16)
    ident = T.random_affine(x, gen(), degrees=0, scale=0, shear=0, translate=0)
    assert torch.allclose(ident, x.float(), atol=1e-3)
    calls = []
    orig = T.affine
    try:
        T.affine = lambda x, *args: calls.append(args) or x.float()
        T.random_affine(x, gen(3), degrees=12, scale=0.2, shear=5, translate=0.25)
    finally:
        T.affine = orig
    angle, scale, shear, tx, ty = calls[0]
    assert angle.abs().max() <= 12 and angle.abs().max() > 9  # 64 uniform draws reach near the bound
    assert ((scale >= 0.8) & (scale <= 1.2)).all() and shear.abs().max() <= 5
    assert tx.abs().max() <= 4 and ty.abs().max() <= 4  # 0.25 x 16 pixels
    assert torch.equal(T.random_affine(x, gen(5)), T.random_affine(x, gen(5)))


def test_gaussian_kernel_and_smoothing_match_a_hand_convolution():
    k = T.gaussian_kernel1d(1.5)
    assert len(k) == 2 * math.ceil(4.5) + 1 and float(k.sum()) == pytest.approx(1.0, abs=1e-6)
    r = np.arange(-5, 6)
    expect = np.exp(-(r**2) / (2 * 1.5**2))
    np.testing.assert_allclose(k.numpy(), expect / expect.sum(), rtol=1e-5)
    n, h, w, alpha, sigma = 2, 9, 7, 3.0, 1.5
    field = T.elastic_displacement(n, h, w, alpha, sigma, gen(4))
    noise = (2 * torch.rand(n * 2, 1, h, w, generator=gen(4)) - 1).double().numpy()[:, 0]
    kk, rk = k.double().numpy(), len(k) // 2

    def smooth(v):  # zero outside, centred: the full convolution's middle
        return np.convolve(v, kk, mode="full")[rk : rk + len(v)]

    for i in range(n * 2):  # separable zero-padded convolution, rows then columns
        rows = np.stack([smooth(row) for row in noise[i]])
        both = np.stack([smooth(col) for col in rows.T]).T
        np.testing.assert_allclose(field.view(n * 2, h, w)[i].numpy(), alpha * both, atol=1e-5)


def test_displace_and_elastic_identities():
    x = images(3, 2, 8, 9)
    zero = torch.zeros(3, 2, 8, 9)
    assert torch.allclose(T.displace(x, zero), x.float(), atol=1e-3)
    assert torch.allclose(T.random_elastic(x, gen(), alpha=0.0), x.float(), atol=1e-3)
    # a constant field (dx, dy) = (1, -2) reads x[i - 2, j + 1]: the zero-padded shift
    field = torch.stack([torch.ones(3, 8, 9), torch.full((3, 8, 9), -2.0)], 1)
    expect = T.shift_crop(x, torch.full((3,), -2), torch.full((3,), 1))
    assert torch.allclose(T.displace(x, field), expect.float(), atol=1e-3)
    out = T.random_elastic(images(16, 1, 28, 28), gen(1))
    assert out.shape == (16, 1, 28, 28) and 0 <= float(out.min()) and float(out.max()) <= 255


def test_spec_strings_and_their_errors():
    p = parse_augment("crop=2,elastic=30:5,affine=15:0.1:8:0.05", (1, 28, 28))
    assert [s.name for s in p.steps] == ["affine", "elastic", "crop"]
    assert p.steps[0].args == {"degrees": 15.0, "scale": 0.1, "shear": 8.0, "translate": 0.05}
    assert p.steps[1].args == {"alpha": 30.0, "sigma": 5.0}
    assert parse_augment("affine", (1, 28, 28)).steps[0].args == {
        "degrees": 10.0,
        "scale": 0.1,
        "shear": 0.0,
        "translate": 0.0,
    }
    assert parse_augment("affine=5:0.2", (1, 28, 28)).steps[0].args["scale"] == 0.2
    x = images(8, 1, 28, 28)
    assert torch.equal(p(x, gen(2)), p(x, gen(2))) and not torch.equal(p(x, gen(2)), p(x, gen(3)))
    for spec, message in [
        ("affine=200", r"\[0, 180\]"),
        ("affine=10:1.5", "scale range"),
        ("affine=10:0.1:95", "shear"),
        ("affine=10:0.1:0:2", "shift"),
        ("affine=1:2:3:4:5", "expected 0-4"),
        ("elastic=-1", "alpha must be >= 0"),
        ("elastic=34:0", "sigma > 0"),
    ]:
        with pytest.raises(CnnlabError, match=message):
            parse_augment(spec, (1, 28, 28))
