"""Per-operator counting formulas, keyed by ATen operator name (what the dispatcher sees).

Each formula returns an ``OpCost``: the named counters of ``records.Counts`` plus, for
convolution and pooling, the geometry (kernel, stride, padding, dilation, groups) that the table,
the receptive field and the warnings use. Formulas are the textbook ones (lecture 004):

- convolution: MACs = output elements x (C_in / groups) x K_h x K_w; bias: 1 add per output element
  (transposed: input elements x (C_out / groups) x K_h x K_w)
- matrix products (``mm``, ``addmm``, ``bmm``): M x K x N per matrix; a product with a parameter is
  a fully connected (``linear``) layer, a product of two activations is ``matmul`` (attention)
- fused attention: Q K^T and A V products, softmax and the query/key scaling, as the math path does
- pooling: output elements x window (adaptive pooling: the exact window of every output)
- normalisation, activation, element-wise arithmetic: elements

Operators that only move or view data (``view``, ``cat``, ``clone``, padding, creation) cost nothing
and are known. Any other operator is reported as uncounted, never silently zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..conv.arithmetic import conv_mac_count
from .records import Counts


@dataclass
class OpCost:
    kind: str  # conv | linear | matmul | pool | norm | act | eltwise | attention | move
    counts: Counts = field(default_factory=Counts)
    geometry: dict | None = None  # conv / pool: kernel, stride, padding, dilation, groups, ceil_mode, filters


Formula = Callable[..., OpCost]
FORMULAS: dict[str, Formula] = {}


def formula(*names: str):
    """Register a formula for ATen operators (by name, all overloads)."""

    def wrap(fn: Formula) -> Formula:
        for n in names:
            FORMULAS[n] = fn
        return fn

    return wrap


def _numel(t) -> int:
    return t.numel() if isinstance(t, torch.Tensor) else 0


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def _tup(v, n: int, default: int) -> tuple[int, ...]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return (default,) * n
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(x) for x in v)
    return v * n if len(v) == 1 else v


# --- convolution and matrix products -----------------------------------------------------------


@formula("convolution", "_convolution", "conv2d", "conv1d", "conv3d")
def _conv(args, kwargs, out, is_param):
    x, w = args[0], args[1]
    nd = w.dim() - 2
    # aten.convolution / _convolution: (x, w, bias, stride, padding, dilation, transposed, output_padding,
    # groups, ...); aten.conv2d: (x, w, bias, stride, padding, dilation, groups)
    full = len(args) >= 9
    get = lambda i, key, default: args[i] if len(args) > i else kwargs.get(key, default)  # noqa: E731
    bias = get(2, "bias", None)
    stride = _tup(get(3, "stride", 1), nd, 1)
    padding = get(4, "padding", 0)
    padding = _tup(padding, nd, 0) if not isinstance(padding, str) else padding
    dilation = _tup(get(5, "dilation", 1), nd, 1)
    transposed = bool(args[6]) if full else False
    groups = int(args[8]) if full else int(get(6, "groups", 1))
    y = _first(out)
    k = tuple(w.shape[2:])
    # weight: (C_out, C_in/G, K...) or, transposed, (C_in, C_out/G, K...): the count runs over the
    # output elements, or over the input elements that a transposed convolution scatters
    macs = conv_mac_count((x if transposed else y).numel(), w.shape[1], k)
    filters = w.shape[1] * groups if transposed else w.shape[0]
    counts = Counts(conv_macs=macs, bias=y.numel() if isinstance(bias, torch.Tensor) else 0)
    return OpCost(
        "conv",
        counts,
        dict(
            kernel=k,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            ceil_mode=False,
            filters=filters,
            transposed=transposed,
        ),
    )


def _product_kind(is_param, *tensors) -> str:
    return "linear" if any(is_param(t) for t in tensors) else "matmul"


def _mac_counts(kind: str, macs: int, bias: int = 0) -> Counts:
    return Counts(linear_macs=macs, bias=bias) if kind == "linear" else Counts(matmul_macs=macs, eltwise=bias)


@formula("mm")
def _mm(args, kwargs, out, is_param):
    a, b = args[0], args[1]
    kind = _product_kind(is_param, a, b)
    return OpCost(kind, _mac_counts(kind, a.shape[0] * a.shape[1] * b.shape[1]))


@formula("addmm")
def _addmm(args, kwargs, out, is_param):
    a, b = args[1], args[2]
    kind = _product_kind(is_param, a, b)
    return OpCost(kind, _mac_counts(kind, a.shape[0] * a.shape[1] * b.shape[1], _numel(out)))


@formula("bmm")
def _bmm(args, kwargs, out, is_param):
    a, b = args[0], args[1]
    kind = _product_kind(is_param, a, b)
    return OpCost(kind, _mac_counts(kind, a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]))


@formula("baddbmm")
def _baddbmm(args, kwargs, out, is_param):
    a, b = args[1], args[2]
    kind = _product_kind(is_param, a, b)
    return OpCost(kind, _mac_counts(kind, a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2], _numel(out)))


@formula("mv", "addmv")
def _mv(args, kwargs, out, is_param):
    a, v = (args[0], args[1]) if len(args) == 2 else (args[1], args[2])
    kind = _product_kind(is_param, a, v)
    return OpCost(kind, _mac_counts(kind, a.shape[0] * a.shape[1], _numel(out) if len(args) > 2 else 0))


@formula("linear")
def _linear(args, kwargs, out, is_param):
    w = args[1]
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    kind = _product_kind(is_param, w)
    y = _first(out)
    return OpCost(kind, _mac_counts(kind, y.numel() * w.shape[-1], y.numel() if bias is not None else 0))


@formula(
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_attention_math",
)
def _sdpa(args, kwargs, out, is_param):
    # Counted as the math path computes it (what runs on the meta device), so that fused and
    # unfused kernels give the same totals: scale q and k, Q K^T, (mask add), softmax, A V.
    q, k, v = args[0], args[1], args[2]
    lead = math.prod(q.shape[:-2])
    L, E, S, Ev = q.shape[-2], q.shape[-1], k.shape[-2], v.shape[-1]
    mask = kwargs.get("attn_mask")
    if mask is None:
        mask = next((a for a in args[3:] if isinstance(a, torch.Tensor)), None)
    counts = Counts(
        matmul_macs=lead * L * S * (E + Ev),
        act=lead * L * S,
        eltwise=_numel(q) + _numel(k) + (lead * L * S if mask is not None else 0),
    )
    return OpCost("attention", counts)


# --- normalisation, activations, element-wise ------------------------------------------------

NORM_OPS = (
    "native_batch_norm",
    "_native_batch_norm_legit",
    "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit_functional",
    "_batch_norm_with_update",
    "_batch_norm_no_update",
    "batch_norm",
    "native_layer_norm",
    "layer_norm",
    "native_group_norm",
    "group_norm",
    "_fused_rms_norm",
    "rms_norm",
    "instance_norm",
)


@formula(*NORM_OPS)
def _norm(args, kwargs, out, is_param):
    return OpCost("norm", Counts(norm=args[0].numel()))


ACT_OPS = (
    "relu",
    "relu_",
    "relu6",
    "gelu",
    "gelu_",
    "silu",
    "silu_",
    "sigmoid",
    "sigmoid_",
    "tanh",
    "tanh_",
    "hardtanh",
    "hardtanh_",
    "hardswish",
    "hardswish_",
    "hardsigmoid",
    "hardsigmoid_",
    "leaky_relu",
    "leaky_relu_",
    "elu",
    "elu_",
    "celu",
    "selu",
    "mish",
    "mish_",
    "softplus",
    "prelu",
    "_prelu_kernel",
    "_softmax",
    "_safe_softmax",
    "softmax",
    "_log_softmax",
    "log_softmax",
    "threshold",
    "threshold_",
    "clamp",
    "clamp_",
    "clamp_min",
    "clamp_min_",
    "clamp_max",
    "clamp_max_",
    "glu",
    "log_sigmoid_forward",
    "softshrink",
    "hardshrink",
    "logit",
    "erf",
    "tanh_backward",
)


@formula(*ACT_OPS)
def _act(args, kwargs, out, is_param):
    return OpCost("act", Counts(act=_numel(_first(out))))


ELTWISE_OPS = (
    "add",
    "add_",
    "sub",
    "sub_",
    "rsub",
    "mul",
    "mul_",
    "div",
    "div_",
    "neg",
    "neg_",
    "pow",
    "pow_",
    "sqrt",
    "sqrt_",
    "rsqrt",
    "rsqrt_",
    "exp",
    "exp_",
    "log",
    "log_",
    "reciprocal",
    "reciprocal_",
    "abs",
    "abs_",
    "addcmul",
    "addcmul_",
    "addcdiv",
    "addcdiv_",
    "lerp",
    "lerp_",
    "maximum",
    "minimum",
    "where",
    "masked_fill",
    "masked_fill_",
    "eq",
    "ne",
    "lt",
    "gt",
    "le",
    "ge",
    "logical_and",
    "logical_or",
    "logical_not",
    "floor",
    "ceil",
    "round",
    "sign",
    "floor_divide",
    "remainder",
    "fmod",
    "square",
    "native_dropout",
    "sin",
    "cos",
    "frac",
    "trunc",
    "exp2",
    "expm1",
    "log1p",
    "log2",
)


@formula(*ELTWISE_OPS)
def _eltwise(args, kwargs, out, is_param):
    return OpCost("eltwise", Counts(eltwise=_numel(_first(out))))


# --- pooling and reductions --------------------------------------------------------------------


@formula(
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "max_pool1d_with_indices",
)
def _max_pool(args, kwargs, out, is_param):
    x = args[0]
    kernel = args[1] if len(args) > 1 else kwargs["kernel_size"]
    nd = len(kernel) if isinstance(kernel, (list, tuple)) and len(kernel) > 1 else x.dim() - 2
    kernel = _tup(kernel, nd, 1)
    stride = _tup(args[2] if len(args) > 2 else kwargs.get("stride"), nd, 0)
    stride = kernel if all(s == 0 for s in stride) else stride
    padding = _tup(args[3] if len(args) > 3 else kwargs.get("padding", 0), nd, 0)
    dilation = _tup(args[4] if len(args) > 4 else kwargs.get("dilation", 1), nd, 1)
    ceil_mode = bool(args[5] if len(args) > 5 else kwargs.get("ceil_mode", False))
    y = _first(out)
    return OpCost(
        "pool",
        Counts(pool=y.numel() * math.prod(kernel)),
        dict(
            kernel=kernel,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=None,
            ceil_mode=ceil_mode,
            filters=None,
            transposed=False,
            op="max",
        ),
    )


@formula("avg_pool1d", "avg_pool2d", "avg_pool3d")
def _avg_pool(args, kwargs, out, is_param):
    x = args[0]
    kernel = args[1] if len(args) > 1 else kwargs["kernel_size"]
    nd = len(kernel) if isinstance(kernel, (list, tuple)) and len(kernel) > 1 else x.dim() - 2
    kernel = _tup(kernel, nd, 1)
    stride = _tup(args[2] if len(args) > 2 else kwargs.get("stride"), nd, 0)
    stride = kernel if all(s == 0 for s in stride) else stride
    padding = _tup(args[3] if len(args) > 3 else kwargs.get("padding", 0), nd, 0)
    ceil_mode = bool(args[4] if len(args) > 4 else kwargs.get("ceil_mode", False))
    y = _first(out)
    return OpCost(
        "pool",
        Counts(pool=y.numel() * math.prod(kernel)),
        dict(
            kernel=kernel,
            stride=stride,
            padding=padding,
            dilation=(1,) * nd,
            groups=None,
            ceil_mode=ceil_mode,
            filters=None,
            transposed=False,
            op="avg",
        ),
    )


def adaptive_windows(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows along one axis: [floor(i n/m), ceil((i+1) n/m))."""
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


@formula(
    "_adaptive_avg_pool2d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "_adaptive_avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_max_pool1d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool3d",
)
def _adaptive_pool(args, kwargs, out, is_param):
    x = args[0]
    y = _first(out)
    nd = y.dim() - 2 if y.dim() >= 3 else 1
    in_sp, out_sp = tuple(x.shape[-nd:]), tuple(y.shape[-nd:])
    reads = 1
    for n_in, n_out in zip(in_sp, out_sp):
        reads *= sum(e - s for s, e in adaptive_windows(n_in, n_out))
    lead = math.prod(y.shape[:-nd])
    geometry = None
    if all(n_out == 1 or n_in % n_out == 0 for n_in, n_out in zip(in_sp, out_sp)):
        k = tuple(n_in // n_out for n_in, n_out in zip(in_sp, out_sp))
        geometry = dict(
            kernel=k,
            stride=k,
            padding=(0,) * nd,
            dilation=(1,) * nd,
            groups=None,
            ceil_mode=False,
            filters=None,
            transposed=False,
            op="adaptive",
        )
    return OpCost("pool", Counts(pool=lead * reads), geometry)


@formula(
    "mean",
    "sum",
    "amax",
    "amin",
    "var",
    "std",
    "var_mean",
    "std_mean",
    "logsumexp",
    "prod",
    "norm",
    "linalg_vector_norm",
    "max",
    "min",
    "argmax",
    "argmin",
)
def _reduce(args, kwargs, out, is_param):
    return OpCost("pool", Counts(pool=_numel(args[0])))


# --- backward operators (``summary(..., backward=True)``) ----------------------------------------


@formula("convolution_backward")
def _conv_backward(args, kwargs, out, is_param):
    # (grad_out, input, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups,
    # output_mask): the input gradient and the weight gradient each cost the forward's multiply-adds
    grad_out, x, w = args[0], args[1], args[2]
    mask = args[10] if len(args) > 10 else kwargs.get("output_mask", (True, True, True))
    transposed = bool(args[7]) if len(args) > 7 else False
    fwd = conv_mac_count((x if transposed else grad_out).numel(), w.shape[1], w.shape[2:])
    macs = fwd * (int(bool(mask[0])) + int(bool(mask[1])))
    return OpCost("conv", Counts(conv_macs=macs, bias=grad_out.numel() if mask[2] else 0))


ACT_BACKWARD = (
    "threshold_backward",
    "silu_backward",
    "sigmoid_backward",
    "tanh_backward",
    "gelu_backward",
    "hardswish_backward",
    "hardsigmoid_backward",
    "hardtanh_backward",
    "leaky_relu_backward",
    "elu_backward",
    "_softmax_backward_data",
    "_log_softmax_backward_data",
    "mish_backward",
    "softplus_backward",
    "glu_backward",
    "log_sigmoid_backward",
    "_prelu_kernel_backward",
)


@formula(*ACT_BACKWARD)
def _act_backward(args, kwargs, out, is_param):
    return OpCost("act", Counts(act=_numel(_first(out))))


@formula(
    "native_batch_norm_backward",
    "native_layer_norm_backward",
    "native_group_norm_backward",
    "_native_batch_norm_legit_backward",
    "batch_norm_backward",
)
def _norm_backward(args, kwargs, out, is_param):
    return OpCost("norm", Counts(norm=args[0].numel()))


@formula(
    "max_pool2d_with_indices_backward",
    "max_pool3d_with_indices_backward",
    "avg_pool2d_backward",
    "avg_pool3d_backward",
    "_adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d_backward",
    "_adaptive_avg_pool3d_backward",
)
def _pool_backward(args, kwargs, out, is_param):
    # the input gradient: one element per input position (sums over the windows that cover it)
    return OpCost("pool", Counts(pool=_numel(_first(out))))


@formula("native_dropout_backward")
def _dropout_backward(args, kwargs, out, is_param):
    return OpCost("eltwise", Counts(eltwise=_numel(_first(out))))


# Operators that only create, copy, move or select data: no arithmetic, nothing to count.
MOVE_OPS = frozenset(
    (
        "empty",
        "empty_strided",
        "empty_like",
        "zeros",
        "zeros_like",
        "ones",
        "ones_like",
        "full",
        "full_like",
        "rand",
        "randn",
        "randint",
        "rand_like",
        "randn_like",
        "randint_like",
        "arange",
        "linspace",
        "scalar_tensor",
        "new_empty",
        "new_empty_strided",
        "new_zeros",
        "new_ones",
        "new_full",
        "lift_fresh",
        "lift_fresh_copy",
        "clone",
        "copy_",
        "copy",
        "_to_copy",
        "to",
        "contiguous",
        "cat",
        "stack",
        "constant_pad_nd",
        "reflection_pad1d",
        "reflection_pad2d",
        "replication_pad1d",
        "replication_pad2d",
        "pad",
        "index",
        "index_select",
        "gather",
        "slice_scatter",
        "select_scatter",
        "index_put",
        "index_put_",
        "roll",
        "flip",
        "repeat",
        "fill",
        "fill_",
        "zero_",
        "detach",
        "detach_",
        "_local_scalar_dense",
        "bernoulli",
        "bernoulli_",
        "tril",
        "triu",
        "tril_",
        "triu_",
        "nonzero",
        "_unsafe_view",
        "_reshape_alias",
        "channel_shuffle",
        "pixel_shuffle",
        "pixel_unshuffle",
        "native_channel_shuffle",
        "is_same_size",
        "_has_compatible_shallow_copy_type",
        "equal",
        "resize_",
        "set_",
        "alias",
        "uniform_",
        "normal_",
        "exponential_",
        "_assert_async",
        "_assert_tensor_metadata",
        "sym_size",
        "sym_stride",
        "sym_numel",
        "sym_storage_offset",
        "unfold",
        "im2col",
        "col2im",
        "_unsafe_index",
        "one_hot",
        "upsample_nearest2d",
        "_unsafe_index_put",
        "sort",
        "topk",
        "view_as_real",
        "view_as_complex",
        "expand_copy",
        "permute_copy",
        "t_copy",
        "transpose_copy",
        "view_copy",
        "select_backward",
        "slice_backward",
        "index_select_backward",
        "diagonal_backward",
        "unfold_backward",
        "as_strided_scatter",
        "expand_backward",
        "unsafe_split",
        "unsafe_split_with_sizes",
        "unsafe_chunk",
        "transpose_",
        "t_",
        "squeeze_",
        "unsqueeze_",
        "embedding",
        "as_strided_",
        "split_with_sizes_copy",
        "split_copy",
        "unbind_copy",
    )
)


def cost_of(name: str, func, args, kwargs, out, is_param) -> OpCost | None:
    """The cost of one ATen call, or None when no formula is known."""
    fn = FORMULAS.get(name)
    if fn is not None:
        return fn(args, kwargs, out, is_param)
    if name in MOVE_OPS or _is_alias(func):
        return OpCost("move")
    return None


def _is_alias(func) -> bool:
    """Views and in-place metadata changes: the schema says the output aliases an input."""
    try:
        rets = func._schema.returns
    except AttributeError:
        return False
    return bool(rets) and all(r.alias_info is not None and not r.alias_info.is_write for r in rets)
