"""Property tests: every NumPy reference op agrees with torch.nn.functional on random inputs.

Shapes and hyper-parameters are drawn by hypothesis; the values are float64 so agreement is to
rounding (1e-10). What is checked is that PyTorch computes what the lectures define.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cnnlab.conv import arithmetic as ar
from cnnlab.conv import reference as ref

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


@st.composite
def conv_case(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pad = draw(st.tuples(*[st.integers(0, 3)] * 4))  # top, bottom, left, right
    h = draw(st.integers(max(1, ar.effective_kernel(kh, dh) - pad[0] - pad[1]), 9))
    w = draw(st.integers(max(1, ar.effective_kernel(kw, dw) - pad[2] - pad[3]), 9))
    n = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**31 - 1))
    bias = draw(st.booleans())
    return n, c_in, c_out, groups, (h, w), (kh, kw), (sh, sw), (dh, dw), pad, bias, seed


@SETTINGS
@given(conv_case())
def test_conv2d_matches_torch(case):
    n, c_in, c_out, groups, (h, w), (kh, kw), stride, dilation, pad, use_bias, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c_in, h, w))
    wt = rng.normal(size=(c_out, c_in // groups, kh, kw))
    b = rng.normal(size=c_out) if use_bias else None
    ours = ref.conv2d(x, wt, b, stride, pad, dilation, groups)
    # torch takes symmetric padding only: pad explicitly (F.pad's order is left, right, top, bottom)
    xp = F.pad(t(x), (pad[2], pad[3], pad[0], pad[1]))
    theirs = F.conv2d(xp, t(wt), None if b is None else t(b), stride, 0, dilation, groups).numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    # the output size is the arithmetic module's formula
    assert ours.shape[2] == ar.conv_output_size(h, kh, stride[0], pad[:2], dilation[0])
    assert ours.shape[3] == ar.conv_output_size(w, kw, stride[1], pad[2:], dilation[1])


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31 - 1), st.integers(1, 3))
def test_symmetric_padding_and_depthwise(h, w, seed, mult):
    rng = np.random.default_rng(seed)
    c = 3
    x = rng.normal(size=(1, c, h + 2, w + 2))
    wt = rng.normal(size=(c * mult, 1, 3, 3))
    ours = ref.conv2d(x, wt, padding=1, groups=c)
    theirs = F.conv2d(t(x), t(wt), padding=1, groups=c).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_corr2d_matches_torch(h, w, kh, kw, seed):
    assume(kh <= h and kw <= w)
    rng = np.random.default_rng(seed)
    x, k = rng.normal(size=(h, w)), rng.normal(size=(kh, kw))
    np.testing.assert_allclose(
        ref.corr2d(x, k), F.conv2d(t(x)[None, None], t(k)[None, None])[0, 0].numpy(), rtol=1e-10, atol=1e-10
    )


@st.composite
def pool_case(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    return (kh, kw), (sh, sw), (ph, pw), (h, w), draw(st.booleans()), draw(st.integers(0, 2**31 - 1))


@SETTINGS
@given(pool_case(), st.integers(1, 2))
def test_max_pool2d_matches_torch(case, dil):
    kernel, stride, pad, (h, w), ceil, seed = case
    assume(all(ar.effective_kernel(k, dil) <= s + 2 * p for k, s, p in zip(kernel, (h, w), pad, strict=True)))
    x = np.random.default_rng(seed).normal(size=(2, 3, h, w))
    ours = ref.max_pool2d(x, kernel, stride, pad, dil, ceil)
    theirs = F.max_pool2d(t(x), kernel, stride, pad, dil, ceil).numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@SETTINGS
@given(pool_case(), st.booleans())
def test_avg_pool2d_matches_torch(case, include_pad):
    kernel, stride, pad, (h, w), ceil, seed = case
    x = np.random.default_rng(seed).normal(size=(2, 3, h, w))
    ours = ref.avg_pool2d(x, kernel, stride, pad, ceil, include_pad)
    theirs = F.avg_pool2d(t(x), kernel, stride, pad, ceil, include_pad).numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_dilated_max_pool_window_that_only_touches_padding_is_minus_infinity():
    # found by hypothesis: width 1, kernel 2, dilation 2, padding 1 -> the one window reads x[-1] and x[1]
    x = np.ones((1, 1, 1, 1))
    ours = ref.max_pool2d(x, (1, 2), 1, (0, 1), 2)
    np.testing.assert_array_equal(ours, F.max_pool2d(t(x), (1, 2), 1, (0, 1), 2).numpy())
    assert ours[0, 0, 0, 0] == -np.inf


def test_pool_default_stride_is_kernel_and_overlap():
    x = np.arange(49.0).reshape(1, 1, 7, 7)
    np.testing.assert_array_equal(ref.max_pool2d(x, 2), F.max_pool2d(t(x), 2).numpy())
    # overlapping windows (AlexNet: 3x3 stride 2)
    np.testing.assert_array_equal(ref.max_pool2d(x, 3, 2), F.max_pool2d(t(x), 3, 2).numpy())
    assert ref.max_pool2d(x, 3, 2).shape[-1] == 3


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_global_avg_pool_matches_torch(n, c, h, w, seed):
    x = np.random.default_rng(seed).normal(size=(n, c, h, w))
    np.testing.assert_allclose(ref.global_avg_pool2d(x), F.adaptive_avg_pool2d(t(x), 1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(ref.global_avg_pool2d(x), ref.avg_pool2d(x, (h, w)), rtol=1e-12)


@SETTINGS
@given(
    st.integers(1, 9),
    st.sampled_from([1, 3, 5, 7]),
    st.floats(1e-4, 1.0),
    st.floats(0.1, 1.0),
    st.floats(0.5, 3.0),
    st.integers(0, 2**31 - 1),
)
def test_lrn_odd_size_matches_torch_with_alpha_times_n(c, size, alpha, beta, k, seed):
    # lecture 002 sums the squares; torch averages them (alpha/n): equal when torch gets alpha * n
    x = np.random.default_rng(seed).normal(size=(2, c, 3, 3))
    ours = ref.local_response_norm(x, size, alpha, beta, k)
    theirs = F.local_response_norm(t(x), size, alpha * size, beta, k).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("size", [2, 4])
def test_lrn_even_size_window_differs_from_torch(size):
    # even n: the lecture's sum runs over i - n/2 .. i + n/2 (n + 1 channels); torch's over n channels
    # (i - n/2 .. i + n/2 - 1), so no alpha makes them equal
    x = np.random.default_rng(0).normal(size=(1, 8, 2, 2))
    ours = ref.local_response_norm(x, size, 0.5, 0.75, 1.0)
    a = x[0, :, 0, 0]
    i = 4
    window = a[i - size // 2 : i + size // 2 + 1]
    assert len(window) == size + 1
    assert ours[0, i, 0, 0] == pytest.approx(a[i] / (1 + 0.5 * (window**2).sum()) ** 0.75)
    theirs = F.local_response_norm(t(x), size, 0.5 * size, 0.75, 1.0).numpy()
    assert not np.allclose(ours, theirs)


@SETTINGS
@given(
    st.integers(2, 4),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 4),
    st.booleans(),
    st.floats(0.01, 0.9),
    st.integers(0, 2**31 - 1),
)
def test_batch_norm_train_and_eval_match_torch(n, c, h, w, affine, momentum, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, h, w)) * 3 + 1
    weight = rng.normal(size=c) if affine else None
    bias = rng.normal(size=c) if affine else None
    rm, rv = rng.normal(size=c), rng.uniform(0.5, 2, size=c)
    rm_t, rv_t = t(rm), t(rv)
    ours = ref.batch_norm(x, rm, rv, weight, bias, training=True, momentum=momentum)
    theirs = F.batch_norm(
        t(x),
        rm_t,
        rv_t,
        None if weight is None else t(weight),
        None if bias is None else t(bias),
        training=True,
        momentum=momentum,
    ).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-10)
    # running statistics updated in place, unbiased variance, like torch
    np.testing.assert_allclose(rm, rm_t.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv, rv_t.numpy(), rtol=1e-12)
    ours_eval = ref.batch_norm(x, rm, rv, weight, bias, training=False)
    theirs_eval = F.batch_norm(
        t(x), rm_t, rv_t, None if weight is None else t(weight), None if bias is None else t(bias), training=False
    ).numpy()
    np.testing.assert_allclose(ours_eval, theirs_eval, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(st.integers(1, 40), st.integers(1, 7), st.integers(1, 5), st.integers(0, 3), st.integers(1, 3), st.booleans())
def test_output_size_matches_torch_pool_shapes(n, k, s, p, d, ceil):
    assume(p <= k // 2 and ar.effective_kernel(k, d) <= n + 2 * p)
    out = F.max_pool2d(torch.zeros(1, 1, n, 1), (k, 1), (s, 1), (p, 0), (d, 1), ceil).shape[2]
    assert ar.conv_output_size(n, k, s, p, d, ceil) == out


@SETTINGS
@given(st.integers(1, 30), st.integers(1, 7), st.integers(1, 5), st.integers(0, 3), st.integers(1, 3))
def test_strict_accepts_exactly_the_strides_that_fit(n, k, s, p, d):
    assume(ar.effective_kernel(k, d) <= n + 2 * p)
    fits = (n + 2 * p - ar.effective_kernel(k, d)) % s == 0
    if fits:
        assert ar.conv_output_size(n, k, s, p, d, strict=True) == ar.conv_output_size(n, k, s, p, d)
    else:
        from cnnlab.errors import CnnlabError

        with pytest.raises(CnnlabError, match="does not fit"):
            ar.conv_output_size(n, k, s, p, d, strict=True)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2)), min_size=1, max_size=4
    )
)
def test_receptive_field_is_the_span_of_inputs_reaching_one_output(layers):
    # brute force: push a one-hot gradient back through 1-D "convolutions" of ones and count the inputs
    size = 64
    x = torch.zeros(1, 1, size, requires_grad=True)
    y = x
    for k, s, p, d in layers:
        assume(ar.effective_kernel(k, d) <= y.shape[-1] + 2 * p)
        y = F.conv1d(y, torch.ones(1, 1, k), stride=s, padding=p, dilation=d)
    y[0, 0, y.shape[-1] // 2].backward()
    hit = torch.nonzero(x.grad[0, 0]).ravel()
    field = ar.receptive_field(layers)[-1]
    first, last = int(hit.min()), int(hit.max())
    # the field may run into the padding, so only check when it lies inside the input
    centre = field.start - 0.5 + (y.shape[-1] // 2) * field.jump
    lo, hi = centre - (field.rf - 1) / 2, centre + (field.rf - 1) / 2
    if lo >= 0 and hi <= size - 1:
        assert (first, last) == (lo, hi)


@st.composite
def tconv_case(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    oph = draw(st.integers(0, max(sh, dh) - 1))
    opw = draw(st.integers(0, max(sw, dw) - 1))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    full_w = (w - 1) * sw + dw * (kw - 1) + 1 + opw
    ph = draw(st.integers(0, (full_h - 1) // 2))
    pw = draw(st.integers(0, (full_w - 1) // 2))
    return (
        draw(st.integers(1, 2)),
        c_in,
        c_out,
        groups,
        (h, w),
        (kh, kw),
        (sh, sw),
        (ph, pw),
        (oph, opw),
        (dh, dw),
        draw(st.booleans()),
        draw(st.integers(0, 2**31 - 1)),
    )


@SETTINGS
@given(tconv_case())
def test_conv_transpose2d_matches_torch(case):
    n, c_in, c_out, groups, (h, w), (kh, kw), stride, pad, opad, dil, use_bias, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c_in, h, w))
    wt = rng.normal(size=(c_in, c_out // groups, kh, kw))
    b = rng.normal(size=c_out) if use_bias else None
    ours = ref.conv_transpose2d(x, wt, b, stride, pad, opad, groups, dil)
    theirs = F.conv_transpose2d(t(x), t(wt), None if b is None else t(b), stride, pad, opad, groups, dil).numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    # the size formula, written out here: (n - 1)s - 2p + d(k - 1) + output_padding + 1
    assert ours.shape[2] == (h - 1) * stride[0] - 2 * pad[0] + dil[0] * (kh - 1) + opad[0] + 1
    assert ours.shape[3] == ar.tconv_output_size(w, kw, stride[1], pad[1], opad[1], dil[1])


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2))
def test_tconv_size_inverts_conv_size(n, k, s, p, d):
    """A convolution with the same k, s, p, d maps the transposed convolution's output back to n."""
    full = (n - 1) * s + d * (k - 1) + 1
    assume(full - 2 * p >= 1)
    for op in range(s):  # output_padding < stride picks among the sizes the convolution sends to n
        out = ar.tconv_output_size(n, k, s, p, op, d)
        if out + 2 * p >= d * (k - 1) + 1:
            assert ar.conv_output_size(out, k, s, p, d) == n


def test_tconv_size_errors():
    from cnnlab.errors import CnnlabError

    with pytest.raises(CnnlabError, match="output_padding 2 must be"):
        ar.tconv_output_size(3, 3, stride=2, output_padding=2)
    with pytest.raises(CnnlabError, match="crops the whole"):
        ar.tconv_output_size(1, 1, padding=1)
