"""``cnnlab explain conv|pool|shape ...``: a convolution, a pooling or a layer stack, step by step."""

from __future__ import annotations

import json

from .common import Formatter

MATRIX_HELP = """matrices: rows separated by ';', entries by spaces or commas, fractions allowed
  "0 1 2; 3 4 5; 6 7 8"                          a 3x3 matrix
  "0 1 2; 3 4 5; 6 7 8 | 1 2 3; 4 5 6; 7 8 9"    two channels (C x H x W): '|' between channels
  "0 1; 2 3 | 1 2; 3 4 || 1 0; 0 1 | 0 1; 1 0"  two output kernels of two channels each: '||' between kernels
  "[[0, 1], [2, 3]]"                             a JSON nested list
  kernel.npy, input.txt                          a NumPy file, or a text file (a blank line separates channels)
A 2-D kernel on a multi-channel input is used on every channel and the channel results are added."""

PAIR_HELP = "one number, or two for rows,columns (e.g. 3,2)"
PAD_HELP = (
    "zeros added around the input: P (all sides), PH,PW, TOP,BOTTOM,LEFT,RIGHT, or valid / same / full "
    "(same pads ceil on top/left and floor at bottom/right for even kernels, lecture 001)"
)


def register(sub) -> None:
    p = sub.add_parser(
        "explain",
        help="show a convolution, pooling or layer stack step by step, like the slides",
        formatter_class=Formatter,
        description="Show the arithmetic of the convolution the way the lectures write it.\n\n"
        "examples:\n"
        "  cnnlab explain conv --input '0 1 2; 3 4 5; 6 7 8' --kernel '0 1; 2 3'\n"
        "  cnnlab explain conv --input '0 1 2; 3 4 5; 6 7 8' --kernel '0 1; 2 3' "
        "--padding 1 --stride 3,2\n"
        "  cnnlab explain pool --input '1 1 2 4; 5 6 7 8; 3 2 1 0; 1 2 3 4' --window 2\n"
        "  cnnlab explain shape 'conv 11 s4 96; pool 3 s2; conv 5 p2 256' "
        "--input-shape 3x227x227",
    )
    what = p.add_subparsers(dest="what", metavar="WHAT", title="what to explain")

    for add in (_add_conv, _add_pool, _add_tconv, _add_bn, _add_separable, _add_linear, _add_backprop, _add_shape):
        add(what)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _add_conv(what) -> None:
    """``cnnlab explain conv``: every output element of a convolution."""
    c = what.add_parser(
        "conv",
        help="every output element of a convolution with its window and sum of products",
        formatter_class=Formatter,
        description="Cross-correlation as in a CNN layer (lecture 001): the output-size formula "
        "with the numbers put in, the (padded) input, and for each output element "
        "its products, e.g. 0x0 + 1x1 + 3x2 + 4x3 = 19. Multi-channel inputs show "
        "one bracketed sum per channel and their total.\n\n" + MATRIX_HELP,
    )
    c.add_argument("--input", "-i", required=True, metavar="MATRIX", help="the input (H x W or C x H x W)")
    c.add_argument(
        "--kernel",
        "-k",
        required=True,
        metavar="MATRIX",
        help="the kernel (K_h x K_w, C x K_h x K_w, or C_out x C x K_h x K_w)",
    )
    c.add_argument("--bias", type=float, nargs="+", default=None, metavar="B", help="bias per output channel")
    c.add_argument("--padding", "-p", default="0", help=PAD_HELP)
    c.add_argument("--stride", "-s", default="1", help=PAIR_HELP)
    c.add_argument("--dilation", "-d", default="1", help=PAIR_HELP + "; dilation d spaces the kernel taps d apart")
    c.add_argument(
        "--groups",
        "-g",
        type=int,
        default=1,
        help="grouped convolution: each output channel sums the C/G input channels of its group",
    )
    c.add_argument("--depthwise", action="store_true", help="groups = input channels (one filter per channel)")
    _common(c)
    c.set_defaults(func=run_conv)


def _add_pool(what) -> None:
    """``cnnlab explain pool``: max / average / global pooling."""
    q = what.add_parser(
        "pool",
        help="every output of a max or average pooling with its window",
        formatter_class=Formatter,
        description="Max or average pooling (lecture 001): the output-size formula and, per "
        "output, e.g. max(0, 1, 3, 4) = 4. Each channel is pooled on its own. Max "
        "pooling never picks padding; average pooling counts padded zeros (PyTorch's "
        "default).\n\n" + MATRIX_HELP,
    )
    q.add_argument("--input", "-i", required=True, metavar="MATRIX", help="the input (H x W or C x H x W)")
    q.add_argument("--window", "--kernel", "-k", dest="window", default="2", help="window size: " + PAIR_HELP)
    q.add_argument("--stride", "-s", default=None, help=PAIR_HELP + " (default: the window, no overlap)")
    q.add_argument("--padding", "-p", default="0", help=PAD_HELP + "; at most half the window")
    q.add_argument(
        "--mode",
        choices=("max", "avg"),
        default=None,
        help="maximum or mean of each window (default max; avg with --global)",
    )
    q.add_argument("--ceil", action="store_true", help="ceil mode: keep a last partial window")
    q.add_argument(
        "--global",
        dest="global_pool",
        action="store_true",
        help="global pooling: the window is the whole input, one number per channel (lecture 004, "
        "GoogLeNet's head: average by default)",
    )
    _common(q)
    q.set_defaults(func=run_pool)


def _add_tconv(what) -> None:
    """``cnnlab explain tconv``: the transposed convolution (alias deconv)."""
    t = what.add_parser(
        "tconv",
        aliases=["deconv"],
        formatter_class=Formatter,
        help="a transposed convolution: each input element's scaled kernel copy, their sum, the crop",
        description="Transposed convolution (lecture 002): every input element adds value x "
        "kernel into the output, copies S apart; the copies are summed and P "
        "rows/columns cut from each side. Output size (n - 1)S - 2P + d(K - 1) + "
        "output_padding + 1.\n\nexamples (the lecture's 2x2 input, 3x3 kernel):\n"
        "  cnnlab explain tconv --input '1 2; 3 4' --kernel '1 1 1; 1 1 1; 1 1 1'\n"
        "  cnnlab explain tconv --input '1 2; 3 4' --kernel '1 1 1; 1 1 1; 1 1 1' "
        "--stride 2\n"
        "  cnnlab explain tconv --input '0 1; 2 3' --kernel '0 1; 2 3' --padding 1\n\n" + MATRIX_HELP,
    )
    t.add_argument("--input", "-i", required=True, metavar="MATRIX", help="the input (H x W or C x H x W)")
    t.add_argument(
        "--kernel",
        "-k",
        required=True,
        metavar="MATRIX",
        help="the kernel (K_h x K_w, C x K_h x K_w, or C_out x C x K_h x K_w)",
    )
    t.add_argument("--stride", "-s", default="1", help=PAIR_HELP + "; the spacing of the kernel copies")
    t.add_argument("--padding", "-p", default="0", help=PAIR_HELP + "; rows/columns cut from each side")
    t.add_argument(
        "--output-padding",
        default="0",
        help=PAIR_HELP + "; extra rows/columns kept at the bottom/right (smaller than the stride)",
    )
    t.add_argument("--dilation", "-d", default="1", help=PAIR_HELP)
    t.add_argument(
        "--max-steps", type=int, default=16, metavar="N", help="print at most N input elements' kernel copies (0: all)"
    )
    t.add_argument("--json", action="store_true", help="machine-readable output")
    t.set_defaults(func=run_tconv)


def _add_bn(what) -> None:
    """``cnnlab explain bn``: batch normalization on a small batch."""
    b = what.add_parser(
        "bn",
        help="batch normalization: mean, variance, normalise, scale and shift; train vs eval",
        formatter_class=Formatter,
        description="Batch normalization (lecture 001) on a small batch, each channel (column) on "
        "its own: the batch mean and (biased) variance, the normalised values, gamma "
        "and beta, the running statistics' update (unbiased variance, PyTorch's "
        "momentum), and what evaluation mode gives for the same input.\n\nexamples:\n"
        "  cnnlab explain bn --input '1; 2; 3; 6'\n"
        "  cnnlab explain bn --input '1 10; 2 20; 3 30; 6 60' --gamma 2 --beta 1\n\n"
        "the batch: rows are examples, columns channels (a column vector for one)",
    )
    b.add_argument(
        "--input", "-i", required=True, metavar="MATRIX", help="N x C batch ('1; 2; 3; 6' or '1 2 3 6' for one channel)"
    )
    b.add_argument("--gamma", type=float, nargs="+", default=None, help="scale per channel (default 1)")
    b.add_argument("--beta", type=float, nargs="+", default=None, help="shift per channel (default 0)")
    b.add_argument("--running-mean", type=float, nargs="+", default=None, help="before this batch (default 0)")
    b.add_argument("--running-var", type=float, nargs="+", default=None, help="before this batch (default 1)")
    b.add_argument("--eps", type=float, default=1e-5, help="added to the variance")
    b.add_argument("--momentum", type=float, default=0.1, help="weight of this batch in the running statistics")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.set_defaults(func=run_bn)


def _add_separable(what) -> None:
    """``cnnlab explain separable``: the depthwise-separable cost against the standard convolution."""
    sp = what.add_parser(
        "separable",
        formatter_class=Formatter,
        help="cost of a depthwise-separable convolution against the standard one (MobileNet)",
        description="Lecture 004's MobileNet slide: a standard KxK convolution (K^2 C_in C_out HW "
        "multiply-adds) against depthwise KxK + pointwise 1x1 ((K^2 + C_out) C_in HW), "
        "with the speed-up K^2 C_out / (K^2 + C_out), 8.69x for C = 256.\n\nexample:\n"
        "  cnnlab explain separable --channels 256 --size 14",
    )
    sp.add_argument("--channels", "-c", type=int, required=True, help="input channels C_in")
    sp.add_argument("--out", type=int, default=None, help="output channels C_out (default C_in)")
    sp.add_argument("--size", type=int, default=14, help="output height = width")
    sp.add_argument("--kernel", "-k", type=int, default=3, help="depthwise kernel size K")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=run_separable)


def _add_linear(what) -> None:
    """``cnnlab explain linear``: a linear classifier's scores and losses."""
    li = what.add_parser(
        "linear",
        formatter_class=Formatter,
        help="a linear classifier's scores W x + b and its SVM and softmax losses",
        description="Lecture 004's linear classifier: the scores f = W x + b row by row, then "
        "the multiclass SVM loss (Weston-Watkins: sum over wrong classes of max(0, "
        "s_j - s_y + delta)) and the softmax loss for the true class, and the L2 "
        "penalty. Without options: the lecture's cat/dog/ship image (its ship score "
        "is 60.75, not the printed 61.95).\n\nexamples:\n"
        "  cnnlab explain linear\n"
        "  cnnlab explain linear --label ship --delta 1 --reg 0.1\n"
        "  cnnlab explain linear -W '1 2; 3 4' -x '1; 1' -b '0 0' --classes a,b",
    )
    li.add_argument("-W", "--weights", default=None, metavar="MATRIX", help="K x D weights (one row per class)")
    li.add_argument("-x", "--image", default=None, metavar="MATRIX", help="the D pixels")
    li.add_argument("-b", "--bias", default=None, metavar="MATRIX", help="K biases")
    li.add_argument("--classes", default=None, help="class names, comma-separated")
    li.add_argument("--label", default="0", help="the true class (index or name; default 0, the lecture's cat)")
    li.add_argument("--delta", type=float, default=1.0, help="SVM margin")
    li.add_argument("--reg", type=float, default=0.0, help="L2 strength lambda")
    li.add_argument("--json", action="store_true", help="machine-readable output")
    li.set_defaults(func=run_linear)


def _add_backprop(what) -> None:
    """``cnnlab explain backprop``: the chain rule on an expression's graph."""
    from ..classic.backprop import EXPR_HELP

    bp = what.add_parser(
        "backprop",
        formatter_class=Formatter,
        help="the chain rule node by node: forward values, local and upstream gradients",
        description="Backpropagation on an expression's graph (lecture 004, \"Chain Rule and "
        "Backpropagation\"): each node's value in the forward pass, then from the "
        "output back each node's upstream gradient times its local gradient. Without "
        "options: the lecture's f = (x + y) z at x = -2, y = 5, z = -4.\n\n"
        "expressions: " + EXPR_HELP + "\n\nexamples:\n  cnnlab explain backprop\n"
        "  cnnlab explain backprop '1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))' "
        "--values w0=2,x0=-1,w1=-3,x1=-2,w2=-3",
    )
    bp.add_argument("expression", nargs="?", default="(x + y) * z", help="the function (default: the lecture's)")
    bp.add_argument("--values", default=None, help="NAME=NUMBER pairs (default for the lecture's: x=-2,y=5,z=-4)")
    bp.add_argument("--json", action="store_true", help="machine-readable output")
    bp.set_defaults(func=run_backprop)


def _add_shape(what) -> None:
    """``cnnlab explain shape``: a layer stack walked layer by layer."""
    from ..conv.explain import SHAPE_SYNTAX

    s = what.add_parser(
        "shape",
        help="walk a layer stack: output size, parameters, MACs, memory, receptive field",
        formatter_class=Formatter,
        description="Walk a stack of layers through output size ((W - K + 2P)/S + 1 with the "
        "numbers put in), parameters, multiply-adds, activation memory and receptive "
        "field per layer, like lecture 004's AlexNet table.\n\n"
        + SHAPE_SYNTAX
        + "\n\nexample (AlexNet, lecture 004):\n  cnnlab explain shape 'conv 11 s4 96; "
        "pool 3 s2; conv 5 p2 256; pool 3 s2; conv 3 p1 384; conv 3 p1 384; "
        "conv 3 p1 256; pool 3 s2; flatten; fc 4096; fc 4096; fc 1000' "
        "--input-shape 3x227x227",
    )
    s.add_argument("stack", metavar="STACK", help="the layers, separated by ';' (see above)")
    s.add_argument(
        "--input-shape",
        "--shape",
        default="3x224x224",
        metavar="CxHxW",
        help="input channels x height x width ('227' means 3x227x227)",
    )
    s.add_argument("--strict", action="store_true", help="refuse strides that do not fit the input exactly")
    s.add_argument("--no-formulas", dest="formulas", action="store_false", help="leave out the size formulas")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=run_shape)


def _common(p) -> None:
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a stride that does not fit the (padded) input exactly (lecture 000: a 3x3 filter "
        "with stride 3 on a 7x7 image)",
    )
    p.add_argument(
        "--max-steps", type=int, default=64, metavar="N", help="print at most N output elements' sums (0: all)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output (all steps)")


def parse_ints(text: str, option: str, counts=(1, 2)) -> tuple[int, ...]:
    from ..errors import CnnlabError

    parts = [t for t in text.replace(" ", ",").split(",") if t]
    try:
        vals = tuple(int(t) for t in parts)
    except ValueError:
        raise CnnlabError(f"{option} {text!r} is not a whole number", f"{option} takes {PAIR_HELP}") from None
    if len(vals) not in counts:
        raise CnnlabError(f"{option} {text!r}: expected {' or '.join(map(str, counts))} number(s)")
    return vals


def parse_padding(text: str):
    t = text.strip().lower()
    if t in ("valid", "same", "full"):
        return t
    vals = parse_ints(t, "--padding", (1, 2, 4))
    return vals[0] if len(vals) == 1 else vals


def _pair(vals: tuple[int, ...]):
    return vals[0] if len(vals) == 1 else vals


def run_conv(args) -> int:
    from ..conv.explain import explain_conv, render_conv
    from ..conv.matrices import load_matrix

    x = load_matrix(args.input, "--input")
    k = load_matrix(args.kernel, "--kernel")
    e = explain_conv(
        x,
        k,
        bias=args.bias,
        stride=_pair(parse_ints(args.stride, "--stride")),
        padding=parse_padding(args.padding),
        dilation=_pair(parse_ints(args.dilation, "--dilation")),
        strict=args.strict,
        groups=(x.shape[0] if x.ndim == 3 else 1) if args.depthwise else args.groups,
    )
    if args.json:
        print(json.dumps(e.to_dict(), indent=1))
    else:
        print(render_conv(e, max_steps=args.max_steps or None))
    return 0


def run_tconv(args) -> int:
    from ..conv.explain_tconv import explain_tconv, render_tconv
    from ..conv.matrices import load_matrix

    e = explain_tconv(
        load_matrix(args.input, "--input"),
        load_matrix(args.kernel, "--kernel"),
        parse_ints(args.stride, "--stride"),
        parse_ints(args.padding, "--padding"),
        parse_ints(args.output_padding, "--output-padding"),
        parse_ints(args.dilation, "--dilation"),
    )
    if args.json:
        print(json.dumps(e.to_dict(), indent=1))
    else:
        print(render_tconv(e, max_steps=args.max_steps or None))
    return 0


def run_bn(args) -> int:
    from ..conv.explain_bn import explain_bn, render_bn
    from ..conv.matrices import load_matrix

    x = load_matrix(args.input, "--input")
    if x.ndim == 2 and x.shape[0] == 1:  # '1 2 3 6': one channel written as a row
        x = x.T
    e = explain_bn(x, args.gamma, args.beta, args.running_mean, args.running_var, args.eps, args.momentum)
    print(json.dumps(e.to_dict(), indent=1) if args.json else render_bn(e))
    return 0


def run_separable(args) -> int:
    from ..conv.explain_separable import render_separable, separable_comparison

    e = separable_comparison(args.channels, args.out, args.size, args.kernel)
    print(json.dumps(e.to_dict(), indent=1) if args.json else render_separable(e))
    return 0


def run_linear(args) -> int:
    from ..classic.explain_linear import explain_linear, render_linear
    from ..conv.matrices import load_matrix

    def opt(v, name):
        return None if v is None else load_matrix(v, name)

    classes = None if args.classes is None else [c.strip() for c in args.classes.split(",")]
    e = explain_linear(
        opt(args.weights, "-W"), opt(args.image, "-x"), opt(args.bias, "-b"), classes, args.label, args.delta, args.reg
    )
    print(json.dumps(e.to_dict(), indent=1) if args.json else render_linear(e))
    return 0


def run_backprop(args) -> int:
    from ..classic.backprop import Graph, parse_values, render_backprop

    text = args.values if args.values is not None else ("x=-2,y=5,z=-4" if args.expression == "(x + y) * z" else "")
    g = Graph(args.expression, parse_values(text))
    print(json.dumps(g.to_dict(), indent=1) if args.json else render_backprop(g))
    return 0


def run_pool(args) -> int:
    from ..conv.explain import explain_pool, render_pool
    from ..conv.matrices import load_matrix

    x = load_matrix(args.input, "--input")
    stride = None if args.stride is None else _pair(parse_ints(args.stride, "--stride"))
    window = _pair(parse_ints(args.window, "--window"))
    mode = args.mode or ("avg" if args.global_pool else "max")
    if args.global_pool:
        window, stride = tuple(int(v) for v in x.shape[-2:]), None
    e = explain_pool(x, window, stride, parse_padding(args.padding), mode, args.ceil, args.strict)
    if args.json:
        print(json.dumps(e.to_dict(), indent=1))
    else:
        print(render_pool(e, max_steps=args.max_steps or None))
    return 0


def run_shape(args) -> int:
    from ..conv.explain import explain_shape, parse_input_shape, render_shape

    e = explain_shape(args.stack, parse_input_shape(args.input_shape), strict=args.strict)
    if args.json:
        print(json.dumps(e.to_dict(), indent=1))
    else:
        print(render_shape(e, formulas=args.formulas))
    return 0
