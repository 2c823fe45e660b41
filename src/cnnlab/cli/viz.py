"""``cnnlab viz SUBCOMMAND ...``: pictures of what a network learned, one PNG per call.

The subcommands come from ``SUBCOMMANDS``: each entry names its arguments and its run function,
so a new picture is one more entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .common import Formatter

MODEL_HELP = "run folder written by `cnnlab train` (trained weights), or a registered model name (random weights)"


@dataclass(frozen=True)
class Sub:
    name: str
    help: str
    example: str
    arguments: Callable
    run: Callable


def _model_arg(p) -> None:
    p.add_argument("model", metavar="RUN|MODEL", help=MODEL_HELP)


def _out_arg(p, what: str = "the PNG") -> None:
    p.add_argument(
        "--out", "-o", metavar="PATH", help=f"where to write {what}; None: RUN/viz/..., or ./viz-NAME/ for a model name"
    )


def _class_arg(p) -> None:
    p.add_argument(
        "--class", dest="target", metavar="C", help="class to explain, by name or index (default: predicted)"
    )


def out_path(args, kind: str, image: str | None = None) -> Path:
    """``--out``, or ``RUN/viz/KIND[-IMAGE].png`` (``./viz-NAME/`` for a registered model)."""
    if getattr(args, "out", None) and not getattr(args, "_many", False):
        return Path(args.out)
    spec = Path(args.model)
    if getattr(args, "_many", False) and args.out:
        folder = Path(args.out)
    elif spec.is_dir():
        folder = spec / "viz"
    elif spec.is_file():
        folder = spec.parent / "viz"
    else:
        folder = Path(f"viz-{args.model}")
    return folder / (kind + (f"-{Path(image).stem}" if image else "") + ".png")


def _subject(args):
    from ..viz import load_subject

    subject = load_subject(args.model)
    if not subject.trained:
        print(f"note: {args.model} has random weights (pass a run folder to see a trained network)")
    return subject


def _image(subject, path):
    from ..viz import display_image, load_image

    x, notes = load_image(path, subject.meta)
    return x, notes, display_image(x, subject.meta)


def _done(path: Path, start: float) -> None:
    print(f"wrote {path}  ({time.perf_counter() - start:.1f} s)")


def _prediction(subject, x) -> tuple[int, float, str]:
    from ..viz.inputs import predict_one

    probs = predict_one(subject.model, x)
    k = int(probs.argmax())
    return k, float(probs[k]), f"predicted {subject.class_name(k)} ({float(probs[k]):.1%})"


# -- filters ---------------------------------------------------------------------------------------
def _filters_args(p) -> None:
    _model_arg(p)
    p.add_argument("--layer", metavar="NAME", help="a convolution, as `cnnlab summary` names it (default: the first)")
    p.add_argument("--max-filters", type=int, default=64, help="draw at most this many filters")
    _out_arg(p)


def _filters_run(args) -> int:
    from ..viz.figures import plot_filters
    from ..viz.filters import conv_layer, first_layer_filters

    start = time.perf_counter()
    subject = _subject(args)
    name, _ = conv_layer(subject.model, args.layer)
    kernels = first_layer_filters(subject.model, name)
    path = plot_filters(
        kernels,
        out_path(args, f"filters-{name}" if args.layer else "filters"),
        name,
        title=f"{subject.name} ({subject.meta.get('model', type(subject.model).__name__)})",
        max_filters=args.max_filters,
    )
    print(
        f"{name}: {kernels.shape[0]} filters of {kernels.shape[1]} x {kernels.shape[2]} x {kernels.shape[3]}, "
        f"weights in [{kernels.min():.3f}, {kernels.max():.3f}]"
    )
    _done(path, start)
    return 0


# -- features --------------------------------------------------------------------------------------
def _features_args(p) -> None:
    _model_arg(p)
    p.add_argument("image", metavar="IMAGE", help="image file (PNG, JPEG, ...)")
    p.add_argument(
        "--layers",
        default="stages",
        metavar="NAME,...|stages|all",
        help="layers to show: comma-separated names, the stage outputs, or every leaf layer",
    )
    p.add_argument("--max-channels", type=int, default=64, help="channels per layer (the most active ones)")
    _out_arg(p)


def _features_run(args) -> int:
    from ..viz import feature_maps
    from ..viz.features import layer_names
    from ..viz.figures import plot_features

    start = time.perf_counter()
    subject = _subject(args)
    x, notes, shown = _image(subject, args.image)
    names = layer_names(subject.model, x, args.layers)
    maps = feature_maps(subject.model, x, names)
    _, _, pred = _prediction(subject, x)
    for n, m in maps.items():
        print(f"{n:<32} {' x '.join(map(str, m.shape))}")
    path = plot_features(
        shown,
        maps,
        out_path(args, "features", args.image),
        title=f"feature maps of {Path(args.image).name} in {subject.name}: {pred}",
        max_channels=args.max_channels,
        notes=notes,
    )
    _done(path, start)
    return 0


# -- cam -------------------------------------------------------------------------------------------
def _cam_args(p) -> None:
    from ..viz import CAM_METHODS

    _model_arg(p)
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files; with several, --out is a folder")
    p.add_argument("--method", choices=CAM_METHODS, default="gradcam", help="how the channels are weighted")
    _class_arg(p)
    p.add_argument("--layer", metavar="NAME", help="target layer (default: the last spatial stage)")
    _out_arg(p, "the PNG (a folder with several images)")


def _cam_run(args) -> int:
    from ..viz import gradcam
    from ..viz.figures import plot_heatmap
    from ..viz.hooks import default_cam_layer

    start = time.perf_counter()
    subject = _subject(args)
    args._many = len(args.images) > 1
    for image in args.images:
        x, notes, shown = _image(subject, image)
        layer = args.layer or default_cam_layer(subject.model, x)
        _, _, pred = _prediction(subject, x)
        target = subject.class_index(args.target)
        cam = gradcam(subject.model, x, target=target, layer=layer, method=args.method)
        t = target if target is not None else _prediction(subject, x)[0]
        cls = subject.class_name(t)
        what = "class-agnostic" if args.method == "eigencam" else f"for class {cls!r}"
        path = plot_heatmap(
            shown,
            cam,
            out_path(args, f"cam-{args.method}", image),
            title=f"{Path(image).name}: {pred}; {args.method} {what} at {layer}",
            heat_title=f"{args.method}: first principal component"
            if args.method == "eigencam"
            else f"{args.method}: evidence for {cls!r}",
            label="relative importance (max = 1)",
        )
        print(f"{image}: {pred}; {args.method} {what} at layer {layer}" + "".join(f"\n    note: {n}" for n in notes))
        if cam.max() == 0:
            print(
                "    note: the map is zero everywhere: no positive evidence at this layer (a zero-initialised "
                "head gives no gradient; try another --layer, --class or --method)"
            )
        _done(path, start)
    return 0


# -- saliency --------------------------------------------------------------------------------------
def _saliency_args(p) -> None:
    from ..viz import SALIENCY_METHODS

    _model_arg(p)
    p.add_argument("image", metavar="IMAGE", help="image file")
    p.add_argument("--method", choices=SALIENCY_METHODS, default="gradient", help="which input-gradient map")
    _class_arg(p)
    p.add_argument("--steps", type=int, default=64, help="integrated gradients: points on the path")
    p.add_argument("--samples", type=int, default=25, help="smoothgrad: noisy copies")
    _out_arg(p)


SALIENCY_TITLES = {
    "gradient": "|d logit({cls}) / d input|",
    "smoothgrad": "SmoothGrad: |mean gradient| over {samples} noisy copies",
    "integrated": "|integrated gradients| for {cls!r} ({steps} steps)",
    "guided": "guided backprop: only positive gradients\npass back through each activation",
}


def _saliency_run(args) -> int:
    from ..viz import integrated_gradients, saliency
    from ..viz.figures import plot_heatmap
    from ..viz.saliency import attribution_map

    start = time.perf_counter()
    subject = _subject(args)
    x, notes, shown = _image(subject, args.image)
    k, _, pred = _prediction(subject, x)
    target = subject.class_index(args.target)
    t = k if target is None else target
    if args.method == "integrated":
        ig = integrated_gradients(subject.model, x, t, steps=args.steps)
        heat = attribution_map(ig.attributions)
        diff = ig.score - ig.baseline_score
        ok = "within 1%" if ig.completeness_error <= 0.01 else "MORE than 1%: raise --steps"
        print(
            f"completeness: attributions sum to {ig.total:.4f}; logit(x) - logit(baseline) = {diff:.4f}; "
            f"error {ig.completeness_error:.2%} ({ok})"
        )
    else:
        heat = saliency(subject.model, x, t, method=args.method, samples=args.samples)
    cls = subject.class_name(t)
    path = plot_heatmap(
        shown,
        heat,
        out_path(args, f"saliency-{args.method}", args.image),
        title=f"{Path(args.image).name}: {pred}; {args.method} saliency for {cls!r}",
        heat_title=SALIENCY_TITLES[args.method].format(cls=cls, samples=args.samples, steps=args.steps),
        label="relative magnitude (max = 1)",
        cmap="inferno",
        interpolation="nearest",
    )
    _done(path, start)
    return 0


# -- occlusion -------------------------------------------------------------------------------------
def _occlusion_args(p) -> None:
    _model_arg(p)
    p.add_argument("image", metavar="IMAGE", help="image file")
    _class_arg(p)
    p.add_argument("--patch", type=int, default=8, help="side of the grey square (pixels of the model's input)")
    p.add_argument("--stride", type=int, default=4, help="step between square positions")
    p.add_argument("--batch", type=int, default=64, help="occluded images per forward pass")
    _out_arg(p)


def _occlusion_run(args) -> int:
    from ..viz import occlusion
    from ..viz.figures import plot_heatmap

    start = time.perf_counter()
    subject = _subject(args)
    x, notes, shown = _image(subject, args.image)
    k, p, pred = _prediction(subject, x)
    target = subject.class_index(args.target)
    t = k if target is None else target
    from ..viz.inputs import predict_one

    p0 = float(predict_one(subject.model, x)[t])
    probs = occlusion(subject.model, x, t, patch=args.patch, stride=args.stride, batch=args.batch, progress=True)
    cls = subject.class_name(t)
    lo, hi = float(probs.min()), float(max(probs.max(), p0))
    stretched = hi - lo < 0.2  # a confident, robust model: stretch the colours over the small range
    path = plot_heatmap(
        shown,
        probs,
        out_path(args, "occlusion", args.image),
        title=f"{Path(args.image).name}: {pred}; P({cls}) = {p0:.3f} unoccluded, "
        f"{args.patch}x{args.patch} grey square, stride {args.stride}",
        heat_title=f"P({cls}) with the square over each pixel\n(low = the network looked here"
        + (f"; colours stretched to {lo:.4f}..{hi:.4f})" if stretched else ")"),
        label=f"probability of {cls!r}",
        cmap="viridis",
        alpha=0.55,
        vmin=lo if stretched else 0.0,
        vmax=hi if stretched else 1.0,
    )
    print(f"P({cls}) unoccluded {p0:.3f}; occluded: min {probs.min():.3f} max {probs.max():.3f}")
    _done(path, start)
    return 0


# -- embedding -------------------------------------------------------------------------------------
def _embedding_args(p) -> None:
    from ..viz import EMBEDDING_METHODS

    _model_arg(p)
    p.add_argument("--data", required=True, metavar="SPEC", help="data set, as for `cnnlab train` (held-out split)")
    p.add_argument(
        "--method",
        choices=EMBEDDING_METHODS,
        default="pca",
        help="projection to 2-D (tsne needs scikit-learn: pip install 'cnnlab[viz]')",
    )
    p.add_argument("--n", type=int, default=2000, help="images (a seeded random subset)")
    p.add_argument("--seed", type=int, default=0, help="subset and t-SNE seed")
    _out_arg(p)


EMBEDDING_NAMES = {"pca": "PCA", "tsne": "t-SNE"}


def _embedding_run(args) -> int:
    from ..viz.embedding import dataset_embedding
    from ..viz.figures import plot_embedding

    start = time.perf_counter()
    subject = _subject(args)
    e = dataset_embedding(
        subject.model, subject.meta, args.data, n=args.n, method=args.method, seed=args.seed, progress=True
    )
    n = len(e["coords"])
    path = plot_embedding(
        e["coords"],
        e["labels"],
        e["classes"],
        out_path(args, f"embedding-{args.method}"),
        title=f"{subject.name}: penultimate features of {n} {e['split']} images of {args.data}, "
        f"{EMBEDDING_NAMES[args.method]}",
        thumbnails=e["thumbnails"],
        seed=args.seed,
    )
    _done(path, start)
    return 0


# -- receptive-field -------------------------------------------------------------------------------
def _rf_args(p) -> None:
    _model_arg(p)
    p.add_argument("image", metavar="IMAGE", help="image file")
    p.add_argument("--layer", required=True, metavar="NAME", help="a layer with a spatial output (`cnnlab summary`)")
    p.add_argument("--position", metavar="ROW,COL", help="the unit in the layer's output map (default: the centre)")
    _out_arg(p)


def _rf_run(args) -> int:
    from ..errors import CnnlabError
    from ..viz import receptive_field
    from ..viz.figures import plot_receptive_field

    start = time.perf_counter()
    subject = _subject(args)
    x, notes, shown = _image(subject, args.image)
    position = None
    if args.position:
        try:
            position = tuple(int(v) for v in args.position.split(","))
            assert len(position) == 2
        except (ValueError, AssertionError):
            raise CnnlabError(f"--position {args.position!r} is not ROW,COL", "write e.g. --position 3,4") from None
    view = receptive_field(subject.model, x, args.layer, position)
    path = plot_receptive_field(
        shown,
        view,
        out_path(args, f"receptive-field-{args.layer}", args.image),
        title=f"{subject.name}: unit {view.position} of {args.layer} ({view.output_size[0]}x{view.output_size[1]} map)",
    )
    top, left, bottom, right = view.box
    print(
        f"{args.layer} unit {view.position}: theoretical field {view.size[0]}x{view.size[1]} (jump {view.jump[0]}), "
        f"rows {top:.1f}..{bottom:.1f}, cols {left:.1f}..{right:.1f}; 95% of the effective field within "
        f"{view.effective_extent():.0f} px"
    )
    _done(path, start)
    return 0


# -- templates -------------------------------------------------------------------------------------
def _templates_args(p) -> None:
    p.add_argument(
        "model",
        metavar="RUN",
        help="run folder of a `linear` classifier on pixels (`cnnlab features "
        "train --features pixels` or `cnnlab train linear`)",
    )
    _out_arg(p)


def _templates_run(args) -> int:
    from ..viz.templates import plot_templates

    start = time.perf_counter()
    path = plot_templates(args.model, out_path(args, "templates"))
    _done(path, start)
    return 0


SUBCOMMANDS = [
    Sub(
        "filters",
        "the learned kernels of the first (or any) convolution",
        "cnnlab viz filters runs/demo",
        _filters_args,
        _filters_run,
    ),
    Sub(
        "features",
        "feature maps of chosen layers for one image",
        "cnnlab viz features runs/demo digit.png",
        _features_args,
        _features_run,
    ),
    Sub(
        "cam",
        "class activation map (Grad-CAM, Grad-CAM++, Score-CAM, Eigen-CAM) over images",
        "cnnlab viz cam runs/demo digit.png --method gradcam++",
        _cam_args,
        _cam_run,
    ),
    Sub(
        "saliency",
        "input-gradient maps: gradient, SmoothGrad, integrated gradients, guided backprop",
        "cnnlab viz saliency runs/demo digit.png --method integrated",
        _saliency_args,
        _saliency_run,
    ),
    Sub(
        "occlusion",
        "ZFNet's occlusion sensitivity: class probability as a grey square slides over the image",
        "cnnlab viz occlusion runs/demo digit.png --patch 6 --stride 2",
        _occlusion_args,
        _occlusion_run,
    ),
    Sub(
        "embedding",
        "penultimate features of a data set projected to 2-D (PCA or t-SNE)",
        "cnnlab viz embedding runs/demo --data mnist-sample --method tsne",
        _embedding_args,
        _embedding_run,
    ),
    Sub(
        "receptive-field",
        "theoretical and effective receptive field of one unit",
        "cnnlab viz receptive-field resnet18 --layer layer2 photo.jpg",
        _rf_args,
        _rf_run,
    ),
    Sub(
        "templates",
        "a linear classifier's weights as class-template images (lecture 004)",
        "cnnlab viz templates runs/pixels-svm",
        _templates_args,
        _templates_run,
    ),
]


def register(sub) -> None:
    p = sub.add_parser(
        "viz",
        help="see what a network learned: filters, feature maps, CAM, saliency, occlusion, ...",
        formatter_class=Formatter,
        description="Pictures of what a network learned; each subcommand writes one PNG.\n\n"
        + "\n".join(f"  {s.example}" for s in SUBCOMMANDS),
    )
    kinds = p.add_subparsers(dest="viz_command", metavar="SUBCOMMAND", title="subcommands")
    for s in SUBCOMMANDS:
        q = kinds.add_parser(
            s.name,
            help=s.help,
            formatter_class=Formatter,
            description=f"{s.help[0].upper()}{s.help[1:]}.\n\nexample: {s.example}",
        )
        s.arguments(q)
        q.set_defaults(func=s.run)
    p.set_defaults(func=lambda args: p.print_help() or 2)
