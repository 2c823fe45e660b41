"""Batched augmentation, checked numerically: against PyTorch/PIL/colorsys where they define the
operation, and by exact identities (inverse shifts, flip twice, zero jitter, area = label weight)."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageEnhance

from cnnlab.data import BatchLoader, ImageDataset, mix_batch, parse_augment, pixel_stats
from cnnlab.data import transforms as T
from cnnlab.errors import CnnlabError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n=8, c=3, h=12, w=10, seed=0):
    return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=gen(seed))


# ---------------------------------------------------------------- crop with padding


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(2, 9),
    w=st.integers(2, 9),
    pad=st.integers(1, 4),
    mode=st.sampled_from(["zero", "reflect"]),
    data=st.data(),
)
def test_shift_crop_equals_pad_then_crop(h, w, pad, mode, data):
    if mode == "reflect":
        pad = min(pad, h - 1, w - 1) or 1
        if pad >= min(h, w):
            return
    n = 3
    dy = torch.tensor(data.draw(st.lists(st.integers(-pad, pad), min_size=n, max_size=n)))
    dx = torch.tensor(data.draw(st.lists(st.integers(-pad, pad), min_size=n, max_size=n)))
    x = images(n, 2, h, w)
    padded = F.pad(x.float(), (pad, pad, pad, pad), mode="reflect" if mode == "reflect" else "constant")
    out = T.shift_crop(x, dy, dx, mode)
    assert out.dtype == torch.uint8
    assert torch.equal(T.pad_batch(x, pad, mode).float(), padded)
    for i in range(n):
        y0, x0 = pad + int(dy[i]), pad + int(dx[i])
        assert torch.equal(out[i].float(), padded[i, :, y0 : y0 + h, x0 : x0 + w])


@settings(max_examples=30, deadline=None)
@given(dy=st.integers(-4, 4), dx=st.integers(-4, 4))
def test_shift_then_inverse_shift_restores_the_overlap(dy, dx):
    x = images(2, 3, 8, 8)
    back = T.shift_crop(
        T.shift_crop(x, torch.tensor([dy] * 2), torch.tensor([dx] * 2)),
        torch.tensor([-dy] * 2),
        torch.tensor([-dx] * 2),
    )
    ys, xs = slice(max(0, dy), 8 + min(0, dy)), slice(max(0, dx), 8 + min(0, dx))
    assert torch.equal(back[..., ys, xs], x[..., ys, xs])
    outside = torch.ones(8, 8, dtype=torch.bool)
    outside[ys, xs] = False
    assert (back[..., outside] == 0).all()


def test_random_crop_offsets_are_uniform_over_the_padded_range():
    x = torch.arange(25, dtype=torch.uint8).view(1, 1, 5, 5).repeat(900, 1, 1, 1) + 1  # no pixel is 0
    out = T.random_crop(x, 1, gen(3))
    seen = []
    for img in out:  # recover (dy, dx) from where the original centre pixel (value 13) landed
        pos = (img[0] == 13).nonzero()[0]
        seen.append((2 - int(pos[0]), 2 - int(pos[1])))
        assert torch.equal(img, T.shift_crop(x[:1], torch.tensor([seen[-1][0]]), torch.tensor([seen[-1][1]]))[0])
    counts = np.bincount([(a + 1) * 3 + (b + 1) for a, b in seen], minlength=9)
    assert counts.min() > 60  # 9 offsets, 100 expected each


# ---------------------------------------------------------------- flip


def test_flip_twice_is_identity_and_flip_is_a_mirror():
    x = images()
    mask = torch.tensor([True, False] * 4)
    once = T.hflip(x, mask)
    assert torch.equal(T.hflip(once, mask), x)
    assert torch.equal(once[0], x[0].flip(-1)) and torch.equal(once[1], x[1])
    out = T.random_hflip(images(4000, 1, 2, 3), gen(), p=0.25)
    flipped = (out != images(4000, 1, 2, 3)).flatten(1).any(1).float().mean()
    assert abs(flipped - 0.25) < 0.03


# ---------------------------------------------------------------- random-resized crop


def test_resized_crop_of_the_whole_image_is_identity():
    x = images(3, 3, 9, 7)
    boxes = torch.tensor([[0, 0, 9, 7]] * 3)
    assert torch.allclose(T.resized_crop(x, boxes, (9, 7)), x.float(), atol=1e-3)


@settings(max_examples=25, deadline=None)
@given(
    top=st.integers(0, 5), left=st.integers(0, 5), ch=st.integers(2, 7), cw=st.integers(2, 7), out=st.integers(3, 12)
)
def test_resized_crop_matches_crop_then_interpolate(top, left, ch, cw, out):
    x = images(1, 3, 12, 12)
    got = T.resized_crop(x, torch.tensor([[top, left, ch, cw]]), (out, out))
    want = F.interpolate(
        x[..., top : top + ch, left : left + cw].float(), size=(out, out), mode="bilinear", align_corners=False
    )
    assert torch.allclose(got, want, atol=1e-3)


def test_rrc_boxes_follow_torchvision_rules():
    boxes = T.sample_rrc_boxes(4000, 40, 40, (0.2, 0.7), (3 / 4, 4 / 3), gen())
    top, left, h, w = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 40).all() and (left + w <= 40).all()
    area = (h * w).float() / (40 * 40)
    # w, h are rounded to whole pixels: allow half a pixel on each side (sides >= 15 pixels)
    assert area.min() > 0.2 * (1 - 1 / 15) ** 2 and area.max() < 0.7 * (1 + 1 / 28) ** 2
    ratio = w.float() / h.float()
    assert ratio.min() > 3 / 4 * (1 - 1 / 15) and ratio.max() < 4 / 3 / (1 - 1 / 15)
    # on a square image no draw with area <= 0.75 is rejected, so the area stays uniform on [0.2, 0.7]
    assert abs(area.mean() - 0.45) < 0.01
    assert abs(left.float().mean() - (40 - w.float()).mean() / 2) < 0.5  # position uniform


def test_rrc_fallback_is_a_centre_crop_clamped_to_the_ratio():
    # a 4 x 40 strip cannot hold 99% of its area with ratio <= 4/3: torchvision's fallback
    boxes = T.sample_rrc_boxes(5, 4, 40, (0.99, 1.0), (3 / 4, 4 / 3), gen())
    assert boxes.tolist() == [[0, 17, 4, 5]] * 5  # h = 4, w = round(4 x 4/3) = 5, left = (40 - 5) // 2


# ---------------------------------------------------------------- colour


def test_jitter_zero_is_identity():
    x = images()
    assert torch.equal(T.color_jitter(x, gen(), 0, 0, 0, 0), x.float())
    assert torch.equal(parse_augment("jitter=0:0:0:0", x.shape[1:])(x, gen()), x.float())
    ones = torch.ones(len(x))
    for f in (T.adjust_brightness, T.adjust_contrast, T.adjust_saturation):
        assert torch.allclose(f(x, ones), x.float(), atol=1e-4)
    assert torch.allclose(T.adjust_hue(x, torch.zeros(len(x))), x.float(), atol=1e-3)
    assert torch.allclose(T.adjust_hue(x, ones), x.float(), atol=1e-3)  # a full turn


@pytest.mark.parametrize("factor", [0.0, 0.6, 1.4])
def test_brightness_and_saturation_match_pil(factor):
    x = images(4, 3, 6, 6)
    f = torch.full((4,), factor)
    for ours, enhancer in ((T.adjust_brightness, ImageEnhance.Brightness), (T.adjust_saturation, ImageEnhance.Color)):
        got = ours(x, f)
        for i in range(4):
            im = Image.fromarray(x[i].permute(1, 2, 0).numpy())
            want = torch.from_numpy(np.array(enhancer(im).enhance(factor))).permute(2, 0, 1).float()
            # PIL rounds its grey image and truncates its output to integers: within 1.5 levels
            assert (got[i] - want).abs().max() <= 1.5


def test_contrast_zero_is_the_mean_grey_and_saturation_zero_is_grey():
    x = images(2, 3, 5, 5)
    grey = 0.299 * x[:, 0].float() + 0.587 * x[:, 1].float() + 0.114 * x[:, 2].float()
    flat = T.adjust_contrast(x, torch.zeros(2))
    assert torch.allclose(flat, grey.mean((1, 2)).view(2, 1, 1, 1).expand_as(flat), atol=1e-3)
    sat = T.adjust_saturation(x, torch.zeros(2))
    assert torch.allclose(sat, grey.unsqueeze(1).expand_as(sat), atol=1e-3)
    g1 = images(2, 1, 5, 5)  # 1-channel: saturation and hue are no-ops
    assert torch.equal(T.adjust_saturation(g1, torch.zeros(2)), g1.float())


@settings(max_examples=60, deadline=None)
@given(rgb=st.tuples(*[st.floats(0, 1, allow_subnormal=False)] * 3))
def test_hsv_matches_colorsys(rgb):
    x = torch.tensor(rgb, dtype=torch.float64).view(1, 3, 1, 1)
    h, s, v = T.rgb_to_hsv(x).flatten().tolist()
    wh, ws, wv = colorsys.rgb_to_hsv(*rgb)
    assert math.isclose(s, ws, abs_tol=1e-9) and math.isclose(v, wv, abs_tol=1e-9)
    assert min(abs(h - wh), 1 - abs(h - wh)) < 1e-9 or s < 1e-9
    assert torch.allclose(T.hsv_to_rgb(T.rgb_to_hsv(x)), x, atol=1e-9)


def test_hue_third_of_a_turn_maps_red_to_green_to_blue():
    red = torch.tensor([255.0, 0, 0]).view(1, 3, 1, 1)
    green = T.adjust_hue(red, torch.tensor([1 / 3]))
    assert torch.allclose(green.flatten(), torch.tensor([0.0, 255, 0]), atol=1e-3)
    assert torch.allclose(T.adjust_hue(green, torch.tensor([1 / 3])).flatten(), torch.tensor([0.0, 0, 255]), atol=1e-3)


# ---------------------------------------------------------------- PCA lighting


def test_rgb_covariance_matches_numpy():
    x = images(5, 3, 4, 6)
    mean, cov = T.rgb_covariance(x, chunk=2)
    pix = x.permute(1, 0, 2, 3).reshape(3, -1).double().numpy() / 255
    np.testing.assert_allclose(cov.numpy(), np.cov(pix, bias=True), atol=1e-12)
    np.testing.assert_allclose(mean.numpy(), pix.mean(1), atol=1e-12)


def test_pca_lighting_moves_pixels_along_the_principal_direction():
    # training pixels spread along (1, 2, 2)/3 only: the covariance has rank 1
    t = torch.randint(0, 75, (400, 1, 4, 4), generator=gen(1)).float()
    direction = torch.tensor([1.0, 2.0, 2.0]) / 3
    train = (40 + t * direction.view(1, 3, 1, 1) * 3 / 2).round().to(torch.uint8)
    st_ = pixel_stats(train)
    assert abs(float(st_.eigvec[:, 0] @ direction)) == pytest.approx(1.0, abs=2e-3)
    assert float(st_.eigval[1]) < 1e-3 * float(st_.eigval[0])
    # alpha = (1, 0, 0): every pixel moves by exactly 255 x lambda_1 x p_1
    grey = torch.full((1, 3, 5, 5), 128, dtype=torch.uint8)
    moved = T.pca_lighting(grey, torch.tensor([[1.0, 0, 0]]), st_.eigval, st_.eigvec) - 128
    want = 255 * st_.eigval[0] * st_.eigvec[:, 0]
    assert torch.allclose(moved, want.view(1, 3, 1, 1).expand_as(moved), atol=1e-3)
    # random draws: offsets constant over each image, along p_1, with std sigma x lambda_1 x 255
    out = parse_augment("pca=0.1", (3, 5, 5), stats=st_)(grey.repeat(3000, 1, 1, 1), gen(2)) - 128
    assert torch.allclose(out, out[..., :1, :1].expand_as(out), atol=1e-4)
    offsets = out[:, :, 0, 0]
    along = offsets @ st_.eigvec[:, 0]
    across = offsets - along[:, None] * st_.eigvec[:, 0]
    assert across.abs().max() < 0.01 * along.abs().max()
    assert float(along.std()) == pytest.approx(0.1 * float(st_.eigval[0]) * 255, rel=0.06)


# ---------------------------------------------------------------- cutout


@settings(max_examples=30, deadline=None)
@given(length=st.integers(1, 12), h=st.integers(4, 12), w=st.integers(4, 12), seed=st.integers(0, 10**6))
def test_cutout_blanks_one_clipped_square(length, h, w, seed):
    mask = T.cutout_mask(16, h, w, length, gen(seed))
    for m in mask:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        assert len(rows) >= 1 and len(cols) >= 1  # the centre is inside the image
        assert int(m.sum()) == len(rows) * len(cols)  # a rectangle
        assert rows.tolist() == list(range(int(rows[0]), int(rows[-1]) + 1))
        assert len(rows) <= length and len(cols) <= length
        if 0 < rows[0] and rows[-1] < h - 1:  # not clipped top or bottom: the full side
            assert len(rows) == length


def test_cutout_fills_with_the_training_mean_and_keeps_the_rest():
    x = images(64, 3, 16, 16)
    stats = T.PixelStats([0.2, 0.4, 0.6])
    out = parse_augment("cutout=4", (3, 16, 16), stats=stats)(x, gen())
    changed = (out != x).any(1)
    fill = torch.tensor([51, 102, 153], dtype=torch.uint8).view(1, 3, 1)
    assert (out.permute(0, 2, 3, 1)[changed] == fill.view(1, 3)).all()
    assert 4 * 4 * 64 * 0.5 < int(changed.sum()) <= 4 * 4 * 64


# ---------------------------------------------------------------- mixup / cutmix


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 24), w=st.integers(1, 24), alpha=st.floats(0.1, 4.0), seed=st.integers(0, 10**6))
def test_cutmix_area_fraction_equals_the_label_weight(h, w, alpha, seed):
    n = 16
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, h, w).contiguous()
    y = torch.arange(n)
    xm, ys = mix_batch(x, y, n, 0.0, alpha, gen(seed))
    own = (xm[:, 0] == torch.arange(n).view(n, 1, 1)).float().mean((1, 2))
    assert torch.allclose(own, ys[torch.arange(n), y], atol=1e-6)
    assert torch.allclose(ys.sum(1), torch.ones(n))


def test_mixup_is_the_convex_combination_of_its_labels():
    n = 8
    x = torch.randn(n, 3, 4, 4, generator=gen())
    y = torch.arange(n)
    xm, ys = mix_batch(x, y, n, 0.4, 0.0, gen(5))
    own = ys[torch.arange(n), y]
    assert torch.allclose(ys.sum(1), torch.ones(n))
    for i in range(n):
        others = [j for j in (ys[i] > 0).nonzero().flatten().tolist() if j != i]
        j = others[0] if others else i  # the partner (or itself when the permutation kept i in place)
        assert torch.allclose(xm[i], own[i] * x[i] + (1 - own[i]) * x[j], atol=1e-5)
    assert len(set(own.tolist()) - {1.0}) == 1  # one lam per batch


def test_mix_batch_off_and_determinism():
    x, y = torch.randn(6, 3, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    same, onehot = mix_batch(x, y, 3, 0.0, 0.0, gen())
    assert same is x and torch.equal(onehot, F.one_hot(y, 3).float())
    a = mix_batch(x, y, 3, 0.2, 1.0, gen(4))
    b = mix_batch(x, y, 3, 0.2, 1.0, gen(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(CnnlabError, match="alphas must be >= 0"):
        mix_batch(x, y, 3, -1.0, 0.0, gen())


# ---------------------------------------------------------------- the spec string and the loader


def test_parse_augment_errors_name_the_fix():
    shape = (3, 32, 32)
    assert parse_augment("", shape) is None and parse_augment("none", shape) is None
    with pytest.raises(CnnlabError, match="unknown augmentation 'flp'") as e:
        parse_augment("crop=4,flp", shape)
    assert "did you mean flip" in e.value.hint
    for spec, message in [
        ("crop=x", "not a number"),
        ("crop=4:mirror", "neither zero nor reflect"),
        ("crop=40:reflect", "smaller than the image"),
        ("rrc=0", "0 < S <= S_MAX <= 1"),
        ("jitter=0.4:0.4", "1, 3 or 4 numbers"),
        ("jitter=0.1:0.1:0.1:0.7", "hue must be"),
        ("flip=2", "probability"),
        ("cutout=2.5", "whole number"),
        ("flip,flip", "twice"),
        ("mixup=0.2", "mixes images and labels"),
        ("pca", "needs the training set's RGB covariance"),
    ]:
        with pytest.raises(CnnlabError, match=message):
            parse_augment(spec, shape)
    with pytest.raises(CnnlabError, match="RGB images; these have 1"):
        parse_augment("pca", (1, 28, 28), stats=images(4, 1, 28, 28))


def test_pipeline_order_is_canonical_and_seeded():
    x = images(16, 3, 16, 16)
    p = parse_augment("cutout=4, flip ,crop=2:reflect,jitter=0.3,rrc=0.5", x.shape[1:], stats=x)
    assert [s.name for s in p.steps] == ["rrc", "crop", "flip", "jitter", "cutout"]
    assert torch.equal(p(x, gen(7)), p(x, gen(7)))
    assert not torch.equal(p(x, gen(7)), p(x, gen(8)))
    crop_flip = parse_augment("crop=4,flip", x.shape[1:])
    assert crop_flip(x, gen()).dtype == torch.uint8  # whole-pixel moves keep uint8


def test_batch_loader_with_augmentation_resumes_exactly():
    data = ImageDataset(images(50, 3, 8, 8), torch.arange(50) % 5, [str(i) for i in range(5)])
    aug = parse_augment("crop=2,flip,jitter=0.2", data.image_shape)
    loader = BatchLoader(data, 8, [0.5] * 3, [0.25] * 3, shuffle=True, seed=3, transform=aug)
    loader.set_epoch(2)
    full = list(loader)
    tail = list(loader.iter_from(4))
    assert len(full) == 7 and len(tail) == 3
    for (a, la), (b, lb) in zip(full[4:], tail):
        assert torch.equal(a, b) and torch.equal(la, lb)
    assert full[0][0].dtype == torch.float32 and full[0][0].shape == (8, 3, 8, 8)


def test_data_pipeline_benchmark_smoke(tmp_path):
    """The benchmark runs end to end on tiny sizes (the real numbers come from a quiet machine)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "data_pipeline.py"
    spec = importlib.util.spec_from_file_location("data_pipeline", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.main(
        [
            "--data",
            "synthetic",
            "--synthetic-size",
            "64",
            "--batch",
            "16",
            "--batches",
            "2",
            "--train-steps",
            "1",
            "--net",
            "small",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert r["batched_img_s"] > 0 and r["pil_img_s"] > 0 and r["train_fp32_img_s"] > 0
    assert r["ratio_batched_over_pil"] == pytest.approx(r["batched_img_s"] / r["pil_img_s"])
