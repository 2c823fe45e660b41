"""The analyzer's counting rules: functional ops, no double counting, never silently zero,
parameters by tensor identity, meta == real, the model left unchanged, memory and receptive field.

Edge cases are those the anchors found other tools getting wrong (analyzer-anchors.md 2.2).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from cnnlab.analysis import summary
from cnnlab.analysis.render import render
from cnnlab.errors import CnnlabError

from helpers.analysis_nets import BasicBlock, resnet


class FunctionalConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(64, 3, 3, 3))

    def forward(self, x):
        return F.conv2d(x, self.w, padding=1)


def test_functional_conv_on_a_bare_parameter_is_counted():
    # torchinfo, thop and ptflops-pytorch print 0 MACs here (anchors 2.2)
    s = summary(FunctionalConv(), input_size=(3, 32, 32))
    assert s.params.total == 1_728
    assert s.macs == s.totals.conv_macs == 64 * 32 * 32 * 27 == 1_769_472
    row = s.layers[0]  # a module without children is its own (only) row
    assert row.type == "FunctionalConv" and row.params == 1_728 and row.kernel == (3, 3) and row.filters == 64


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 16, 3, padding=1)

    def forward(self, x):
        return self.conv(self.conv(x))


def test_one_module_applied_twice_counts_its_parameters_once_and_its_work_twice():
    s = summary(Twice(), input_size=(16, 32, 32))
    assert s.params.total == 16 * 16 * 9 + 16
    assert s.macs == 2 * (16 * 32 * 32 * 16 * 9)
    a, b = s.layers
    assert a.params == 2_320 and b.params == 0 and b.shared and not a.shared
    assert sum(r.params for r in s.layers) == s.params.total


class MatmulParam(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(32, 100))

    def forward(self, x):  # x: N x 96 x 32
        return torch.matmul(x, self.w * 2.0)


def test_matmul_with_a_parameter_derived_operand():
    s = summary(MatmulParam(), input_size=(96, 32))
    assert s.params.total == 3_200
    assert s.macs == 96 * 32 * 100 == 307_200
    assert s.totals.eltwise == 3_200  # the "* 2.0" on the weight


class WithAux(nn.Module):
    """A head that only runs in training mode, like GoogLeNet's auxiliary classifiers."""

    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(3, 8, 3, padding=1)
        self.aux = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 8, 18))

    def forward(self, x):
        y = self.body(x)
        if self.training:
            return y, self.aux(y)
        return y


def test_branch_not_run_in_eval_is_defined_but_not_run():
    m = WithAux()
    s = summary(m, input_size=(3, 8, 8))
    aux = 512 * 18 + 18
    assert s.params.total == 224 + aux
    assert s.params.unused == aux and s.params.unused_modules == ["aux"]
    assert s.macs == 8 * 64 * 27
    assert any("defined but not run" in n for n in s.notes)
    t = summary(m, input_size=(3, 8, 8), mode="train")
    assert t.params.unused == 0 and t.macs == 8 * 64 * 27 + 512 * 18
    assert m.training  # nn.Module default (train) restored after both analyses


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.conv(x)
        y += x  # in-place add: hook-based tools do not see it
        return torch.relu_(y)


def test_in_place_add_and_activation_are_counted_once():
    s = summary(Residual(), input_size=(8, 16, 16), batch=2)
    n = 2 * 8 * 16 * 16
    assert s.totals.eltwise == n and s.totals.act == n
    assert s.macs == n * 72
    names = [r.name for r in s.layers]
    assert names == ["conv", "add_", "relu_"]
    assert not s.layers[1].output_is_new  # in place: no new memory
    assert s.memory.all_outputs_bytes == 2 * n * 4  # input + conv output only


class Attention(nn.Module):
    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


def test_scaled_dot_product_attention_counts_both_products_on_meta_and_cpu():
    m = Attention()
    meta = summary(m, input_size=(10, 32), batch=2)
    real = summary(m, input_size=(10, 32), batch=2, device="cpu")
    b, h, n, e = 2, 4, 10, 8
    assert meta.totals.matmul_macs == real.totals.matmul_macs == 2 * b * h * n * n * e
    assert meta.totals.linear_macs == b * n * 32 * 96 + b * n * 32 * 32
    assert meta.totals == real.totals
    assert meta.rf.is_global


def test_multihead_attention_module_same_on_meta_and_cpu():
    m = nn.MultiheadAttention(32, 4, batch_first=True).eval()

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = m

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    a = summary(Wrap(), input_size=(7, 32))
    c = summary(Wrap(), input_size=(7, 32), device="cpu")
    assert a.totals == c.totals and a.totals.matmul_macs == 2 * 4 * 7 * 7 * 8
    assert a.params.unused == 0  # out_proj's weight is read functionally, not through its forward
    assert sum(r.params for r in a.layers) == a.params.total == 4 * 32 * 32 + 4 * 32


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(16, 16, bias=False)
        self.out = nn.Linear(16, 16, bias=False)
        self.out.weight = self.embed.weight

    def forward(self, x):
        return self.out(self.embed(x))


def test_tied_weights_counted_once():
    s = summary(Tied(), input_size=(16,))
    assert s.params.total == 256 and s.params.shared_tensors == 1
    assert s.macs == 2 * 256


def test_trainable_frozen_buffers_and_bytes_by_dtype():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    m[0].requires_grad_(False)
    s = summary(m, input_size=(3, 8, 8))
    assert s.params.frozen == 112 and s.params.trainable == 8 + 290
    assert s.params.buffers == 4 + 4 + 1  # running mean, var, num_batches_tracked
    assert s.params.bytes_by_dtype == {"float32": 4 * (112 + 8 + 290)}
    assert s.memory.grads_bytes == 4 * 298 and s.memory.adam_bytes == 2 * 4 * 298
    assert s.totals.norm == 4 * 36
    h = summary(nn.Linear(8, 8).to(torch.float16), input_size=(8,))
    assert h.params.bytes_by_dtype == {"float16": 2 * 72} and h.dtype == "float16"


class Uncounted(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1)


def test_uncounted_operators_are_listed_and_strict_raises():
    s = summary(Uncounted(), input_size=(4, 5))
    assert [u.op for u in s.uncounted] == ["cumsum"]
    assert s.uncounted[0].calls == 1 and s.uncounted[0].output_elements == 20
    assert "cumsum" in str(s) and "uncounted" in str(s)
    with pytest.raises(CnnlabError, match="cumsum"):
        summary(Uncounted(), input_size=(4, 5), strict=True)


def test_the_model_is_left_unchanged():
    m = resnet((1, 1, 1, 1))
    m.train()
    m.layer1.eval()
    hook_calls = []
    m.fc.register_forward_hook(lambda *a: hook_calls.append(1))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    modes = {n: mod.training for n, mod in m.named_modules()}
    hooks = {n: (len(mod._forward_hooks), len(mod._forward_pre_hooks)) for n, mod in m.named_modules()}
    for device in ("meta", "cpu"):
        summary(m, input_size=(3, 32, 32), mode="train", device=device, batch=2)
        summary(m, input_size=(3, 32, 32), device=device)
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics untouched
    assert {n: mod.training for n, mod in m.named_modules()} == modes
    assert {n: (len(mod._forward_hooks), len(mod._forward_pre_hooks)) for n, mod in m.named_modules()} == hooks
    assert all(p.device.type == "cpu" for p in m.parameters())
    assert len(hook_calls) == 4  # the user's hook ran in each analysis and is still there


@pytest.mark.parametrize(
    "make, size",
    [
        (lambda: resnet((1, 1, 1, 1)), (3, 64, 64)),
        (
            lambda: nn.Sequential(
                nn.Conv2d(3, 8, 3, 2, 1, groups=1),
                nn.Hardswish(),
                nn.Conv2d(8, 8, 3, 1, 2, dilation=2, groups=8),
                nn.BatchNorm2d(8),
                nn.SiLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(8, 3),
            ),
            (3, 33, 33),
        ),
        (
            lambda: nn.Sequential(
                nn.Conv2d(3, 4, 3),
                nn.AvgPool2d(3, 2, ceil_mode=True),
                nn.GELU(),
                nn.GroupNorm(2, 4),
                nn.AdaptiveMaxPool2d(3),
                nn.Flatten(),
                nn.LayerNorm(36),
                nn.Softmax(-1),
            ),
            (3, 20, 20),
        ),
    ],
)
def test_same_totals_on_meta_and_on_real_cpu_tensors(make, size):
    m = make().eval()
    a, b = summary(m, input_size=size, batch=3), summary(m, input_size=size, batch=3, device="cpu")
    assert a.device == "meta" and b.device == "cpu"
    assert a.totals == b.totals and a.params == b.params
    assert a.memory.peak_bytes == b.memory.peak_bytes and a.memory.all_outputs_bytes == b.memory.all_outputs_bytes
    assert [(r.name, r.output_shape, r.macs, r.rf) for r in a.layers] == [
        (r.name, r.output_shape, r.macs, r.rf) for r in b.layers
    ]
    assert a.uncounted == b.uncounted == []


def test_macs_agree_with_pytorch_flop_counter():
    """Our conv + linear + matmul multiply-adds are exactly half of FlopCounterMode's FLOPs."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    for m, size in [(resnet((2, 2, 2, 2)), (3, 224, 224)), (Attention(), (10, 32))]:
        m = m.eval()
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc, torch.no_grad():
            m(torch.randn(1, *size))
        assert 2 * summary(m, input_size=size).macs == fc.get_total_flops()
    # FlopCounterMode has no formula for the fused CPU attention kernel and silently counts it as
    # zero; the analyzer counts it (as the math path) on every device
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        Attention().eval()(torch.randn(1, 10, 32))
    assert fc.get_total_flops() == 2 * (10 * 32 * 96 + 10 * 32 * 32)
    assert summary(Attention(), input_size=(10, 32), device="cpu").totals.matmul_macs == 2 * 4 * 10 * 10 * 8


@settings(max_examples=25, deadline=None)
@given(
    c_in=st.integers(1, 6),
    c_out=st.integers(1, 6),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
    d=st.integers(1, 2),
    g=st.sampled_from([1, 2]),
    h=st.integers(8, 20),
    w=st.integers(8, 20),
    bias=st.booleans(),
)
def test_conv_formula_and_shapes_match_pytorch(c_in, c_out, k, s, p, d, g, h, w, bias):
    c_in, c_out = c_in * g, c_out * g
    conv = nn.Conv2d(c_in, c_out, k, s, p, d, groups=g, bias=bias)
    if d * (k - 1) + 1 > min(h, w) + 2 * p:
        return
    y = conv(torch.randn(1, c_in, h, w))
    r = summary(conv, input_size=(c_in, h, w)).layers[0]
    assert r.output_shape == tuple(y.shape[1:])
    assert r.macs == y.numel() * (c_in // g) * k * k
    assert r.counts.bias == (y.numel() if bias else 0)
    assert r.params == sum(q.numel() for q in conv.parameters())
    assert r.rf.size == (d * (k - 1) + 1,) * 2 and r.rf.jump == (s, s)


def _empirical_rf(m: nn.Module, size: int) -> int:
    """Rows of the input that reach the centre output, from the gradient (positive weights, no ReLU)."""
    with torch.no_grad():
        for q in m.parameters():
            q.copy_(torch.rand_like(q) + 0.1)
    x = torch.zeros(1, m[0].in_channels, size, size, requires_grad=True)
    y = m(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows = (x.grad[0].abs().sum((0, 2)) > 0).nonzero()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize(
    "layers",
    [
        [nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3, dilation=2), nn.AvgPool2d(2), nn.Conv2d(2, 1, 3, stride=2)],
        [nn.Conv2d(1, 2, 5, 2), nn.AvgPool2d(3, 2), nn.Conv2d(2, 2, 3, dilation=3), nn.Conv2d(2, 1, 1)],
    ],
)
def test_receptive_field_matches_the_gradient_support(layers):
    m = nn.Sequential(*layers)
    s = summary(m, input_size=(1, 96, 96))
    assert s.rf.size[0] == _empirical_rf(m, 96)


class Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 2, 3, padding=1)
        self.b = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=2, dilation=2))

    def forward(self, x):
        return self.a(x) + self.b(x)


def test_receptive_field_of_a_graph_takes_the_largest_branch():
    s = summary(Branches(), input_size=(2, 16, 16))
    assert s.rf.size == (7, 7)  # 3, then 3 + 2*2 = 7 on the longer path
    block = summary(BasicBlock(4, 4), input_size=(4, 16, 16))
    assert block.rf.size == (5, 5)  # two 3x3 convs; the identity path (1) loses


def test_peak_live_memory_from_lifetimes():
    # chain: input (A) -> conv1 (B) -> conv2 (C): peak = max(A + B, B + C); the input dies after conv1
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.Conv2d(4, 2, 3, padding=1, bias=False))
    s = summary(m, input_size=(1, 10, 10))
    a, b, c = 100 * 4, 400 * 4, 200 * 4
    assert s.memory.peak_bytes == max(a + b, b + c) == 2400
    assert s.memory.all_outputs_bytes == a + b + c
    assert s.memory.lecture_bytes == b + c
    # a residual block keeps its input alive until the add: peak includes it
    r = summary(Residual(), input_size=(8, 16, 16))
    assert r.memory.peak_bytes == 2 * 8 * 16 * 16 * 4
    assert r.memory.input_bytes == 8 * 16 * 16 * 4


def test_window_warnings():
    conv = summary(nn.Conv2d(3, 4, 3, stride=2), input_size=(3, 224, 224))
    assert len(conv.warnings) == 1 and "stride does not fit" in conv.warnings[0]
    assert "1 row and 1 column" in conv.warnings[0]
    big = summary(nn.Conv2d(3, 4, 5, padding=2), input_size=(3, 3, 3))
    assert any("larger than its 3x3 input" in w for w in big.warnings)
    ceil = summary(nn.MaxPool2d(3, 2, ceil_mode=True), input_size=(8, 112, 112))
    assert ceil.output_shape == (8, 56, 56) and "ceil mode" in ceil.warnings[0]
    fits = summary(nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.MaxPool2d(2)), input_size=(3, 32, 32))
    assert fits.warnings == []
    # a 1x1 stride-2 shortcut on 56 x 56 skips every other row anyway: the unread last row is no news
    assert summary(nn.Conv2d(4, 8, 1, 2), input_size=(4, 56, 56)).warnings == []
    # ResNet's stem: the floor only drops padding
    assert summary(resnet((1, 1, 1, 1)), input_size=(3, 224, 224)).warnings == []


@pytest.mark.parametrize("depth", [None, 0, 1, 2, 3])
def test_rows_never_double_count_at_any_depth(depth):
    s = summary(resnet((2, 2, 2, 2)), input_size=(3, 64, 64), depth=depth)
    assert sum(r.macs for r in s.layers) == s.macs
    assert sum(r.counts.flops for r in s.layers) == s.flops
    assert sum(r.params for r in s.layers) + s.params.unused == s.params.total
    if depth == 1:
        assert [r.name for r in s.layers][:5] == ["conv1", "bn1", "relu", "maxpool", "layer1"]


def test_batch_scales_counts_and_memory():
    one = summary(resnet((1, 1, 1, 1)), input_size=(3, 64, 64))
    many = summary(resnet((1, 1, 1, 1)), input_size=(3, 64, 64), batch=8)
    assert many.macs == 8 * one.macs and many.flops == 8 * one.flops
    assert many.memory.lecture_bytes == 8 * one.memory.lecture_bytes
    assert many.params == one.params


def test_huge_inputs_cost_no_memory():
    # 256 x 3 x 1024 x 1024 float32 would need GBs per activation: on meta it is free
    m = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1))
    s = summary(m, input_size=(3, 1024, 1024), batch=256)
    assert s.macs == 256 * 1024 * 1024 * 64 * (27 + 576)
    assert s.memory.peak_bytes == 256 * 1024 * 1024 * 4 * (64 + 64)


def test_renderers():
    import csv
    import io
    import json

    s = summary(resnet((1, 1, 1, 1)), input_size=(3, 32, 32))
    d = json.loads(render(s, "json"))
    assert d["totals"]["macs"] == s.macs and len(d["layers"]) == len(s.layers)
    rows = list(csv.DictReader(io.StringIO(render(s, "csv"))))
    assert len(rows) == len(s.layers) and sum(int(r["macs"]) for r in rows) == s.macs
    md = render(s, "md")
    assert md.count("\n|") >= len(s.layers) + 1 and "FLOPs = 2 x MACs" in md
    table = render(s, "table")
    assert "convention: MACs = multiply-adds" in table and "peak live" in table
    with pytest.raises(CnnlabError):
        render(s, "xml")


def test_input_errors():
    with pytest.raises(CnnlabError, match="input size"):
        summary(nn.Conv2d(3, 3, 1), input_size="3xabc")
    with pytest.raises(CnnlabError, match="no input size"):
        summary(nn.Conv2d(3, 3, 1))
    with pytest.raises(CnnlabError, match="did you mean"):
        summary("resnet1")
    with pytest.raises(CnnlabError, match="forward pass failed"):
        summary(nn.Conv2d(3, 3, 7), input_size=(3, 4, 4))
    assert summary(nn.Conv2d(3, 3, 1), input_size="3x8x8").output_shape == (3, 8, 8)
    assert summary(nn.Conv2d(5, 3, 1), input_size=8).input_size == (5, 8, 8)  # channels from the first conv


def test_lenet5_from_the_registry_matches_its_card():
    s = summary("lenet5")
    assert s.params.total == s.card["params"] == 61_706
    assert s.macs == s.card["macs"]
    assert math.isclose(s.flops, 2 * s.macs + s.totals.other_ops)


def test_lrn_is_one_normalisation_layer_and_copies_are_not_lecture_memory():
    """AlexNet's LRN runs as pad + avg_pool3d + element-wise operators: one norm row, not a pooling
    layer of the lecture table; an adaptive pool that keeps its size (torchvision's AlexNet at 227:
    6 -> 6) only copies and is not added either."""
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.LocalResponseNorm(5),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(3),
        nn.Flatten(),
        nn.Dropout(),
        nn.Linear(72, 4),
    )
    s = summary(m, input_size=(3, 8, 8), preset="lecture")
    assert [r.name for r in s.layers] == ["0", "2", "3", "4", "6"]  # LRN and eval-mode dropout are not rows
    assert s.memory.lecture_bytes == 4 * (8 * 36 + 8 * 9 + 4)  # conv, max-pool, fc; not the 3 -> 3 copy
    assert s.layer("3").lecture_bytes == 0 and s.layer("3").output_bytes == 4 * 72
    full = summary(m, input_size=(3, 8, 8))
    lrn = full.layer("1")
    assert lrn.layer_kind == "norm" and lrn.kernel is None and lrn.rf.size == (3, 3) and lrn.lecture_bytes == 0
    assert full.warnings == []


class DataDependent(nn.Module):
    """Python control flow on a value: impossible without computing, so the analyzer falls back."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y * 2 if y.sum().item() > -1e9 else y


def test_falls_back_to_a_real_forward_when_meta_cannot_run_it():
    s = summary(DataDependent(), input_size=(3, 8, 8))
    assert s.device == "cpu" and any("meta device could not run" in n for n in s.notes)
    assert s.macs == 4 * 36 * 27 and s.totals.eltwise == 4 * 36
    assert [u.op for u in s.uncounted] == []


@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
    ceil=st.booleans(),
    h=st.integers(5, 17),
    kind=st.sampled_from(["max", "avg"]),
)
def test_pool_shapes_and_counts_match_pytorch(k, s, p, ceil, h, kind):
    if 2 * p > k:
        return
    pool = nn.MaxPool2d(k, s, p, ceil_mode=ceil) if kind == "max" else nn.AvgPool2d(k, s, p, ceil_mode=ceil)
    y = pool(torch.randn(1, 2, h, h + 1))
    meta, real = summary(pool, input_size=(2, h, h + 1)), summary(pool, input_size=(2, h, h + 1), device="cpu")
    assert meta.output_shape == real.output_shape == tuple(y.shape[1:])
    assert meta.totals == real.totals and meta.totals.pool == y.numel() * k * k
    assert meta.rf.size == (k, k) and meta.rf.jump == (s, s)


def test_backward_pass_counted_from_the_autograd_graph():
    """Backward: each conv costs its forward MACs twice (input and weight gradients), except the first
    (no input gradient); equal to FlopCounterMode's forward + backward, on meta and on cpu."""
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    meta = summary(m, input_size=(3, 16, 16), batch=2, mode="train", backward=True)
    real = summary(m, input_size=(3, 16, 16), batch=2, mode="train", backward=True, device="cpu")
    conv1, conv2 = 2 * 8 * 256 * 27, 2 * 16 * 64 * 72
    assert meta.totals.conv_macs == conv1 + conv2
    assert meta.backward.conv_macs == conv1 + 2 * conv2
    assert meta.backward == real.backward and meta.totals == real.totals
    assert meta.memory.saved_for_backward_bytes == real.memory.saved_for_backward_bytes > 0
    x = torch.randn(2, 3, 16, 16)
    m.train()
    with FlopCounterMode(display=False) as fc:
        torch.autograd.grad(m(x).sum(), list(m.parameters()))
    assert 2 * (meta.macs + meta.backward.macs) == fc.get_total_flops()
    assert all(p.grad is None for p in m.parameters())  # nothing accumulated into the model
    assert "backward" in str(meta) and "saved for backward" in str(meta)
    assert summary(m, input_size=(3, 16, 16)).backward is None


@pytest.mark.parametrize(
    "make, size, macs",
    [
        (lambda: nn.LSTM(16, 32, batch_first=True), (10, 16), 10 * 4 * 32 * (16 + 32)),
        (
            lambda: nn.TransformerEncoderLayer(32, 4, 64, batch_first=True),
            (10, 32),
            10 * (32 * 96 + 32 * 32 + 2 * 32 * 64) + 2 * 4 * 10 * 10 * 8,
        ),
        (lambda: nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), (8, 8, 8), 8 * 64 * 4 * 9),
        (lambda: nn.Sequential(nn.Conv1d(4, 8, 3, stride=2), nn.ReLU(), nn.MaxPool1d(2)), (4, 32), 8 * 15 * 12),
        (lambda: nn.Sequential(nn.Conv3d(2, 4, 3), nn.AvgPool3d(2)), (2, 8, 8, 8), 4 * 216 * 54),
    ],
)
def test_any_module_counts_the_same_on_meta_and_cpu(make, size, macs):
    m = make().eval()
    a, b = summary(m, input_size=size), summary(m, input_size=size, device="cpu")
    assert a.macs == macs and a.totals == b.totals and a.uncounted == b.uncounted == []


def test_upsampling_makes_the_receptive_field_unknown_not_wrong():
    s = summary(nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(3, 3, 3)), input_size=(3, 8, 8))
    assert s.rf is None and s.layers[-1].rf is None and "?" in str(s)


class TokenClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.fc = nn.Linear(16, 3)

    def forward(self, ids, mask):
        return self.fc((self.embed(ids) * mask.unsqueeze(-1)).mean(1))


def test_example_inputs_for_several_or_integer_inputs():
    ids, mask = torch.randint(0, 100, (4, 12)), torch.ones(4, 12)
    s = summary(TokenClassifier(), inputs=(ids, mask))
    r = summary(TokenClassifier(), inputs=(ids, mask), device="cpu")
    assert s.batch == 4 and s.input_size == (12,) and s.device == "meta"
    assert s.macs == 4 * 16 * 3 and s.totals == r.totals
    assert s.params.total == 100 * 16 + 16 * 3 + 3 and s.uncounted == []
