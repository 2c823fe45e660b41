"""``cnnlab filter NAME IMAGE -o OUT``: the lectures' classic kernels on a real picture."""

from __future__ import annotations

from pathlib import Path

from .common import Formatter


def register(sub) -> None:
    from ..conv.filters import SKIMAGE_IMAGES

    p = sub.add_parser(
        "filter",
        help="apply a classic filter (blur, sharpen, edge, Sobel, shift, custom) to an image",
        formatter_class=Formatter,
        description="Apply one of the lectures' hand-crafted kernels, or your own, to an image "
        "with PyTorch's convolution (cross-correlation, as in a CNN layer). Colour "
        "images are filtered channel by channel.\n\n"
        "examples:\n"
        "  cnnlab filter --list\n"
        "  cnnlab filter sharpen skimage:camera -o sharp.png --compare\n"
        "  cnnlab filter gaussian photo.jpg --size 7 --sigma 2 -o soft.png\n"
        "  cnnlab filter custom photo.jpg --kernel '0 -1 0; -1 5 -1; 0 -1 0' -o out.png\n"
        "  cnnlab filter box skimage:coffee --size 9 --border replicate -o blur.png\n\n"
        "IMAGE is a file (PNG, JPEG, ...) or one of the photos scikit-image ships, "
        "which work offline: " + ", ".join(f"skimage:{n}" for n in SKIMAGE_IMAGES),
    )
    _add_image_arguments(p)
    _add_kernel_arguments(p)
    _add_processing_arguments(p)
    _add_report_arguments(p)
    p.set_defaults(func=run)


def _add_image_arguments(p) -> None:
    """What to filter and where the result goes: NAME, IMAGE, -o, --list."""
    p.add_argument("name", nargs="?", metavar="NAME", help="filter name (see --list), or 'custom' with --kernel")
    p.add_argument("image", nargs="?", metavar="IMAGE", help="image file or skimage:NAME")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="where to write the filtered picture (default: IMAGE-NAME.png in the current folder)",
    )
    p.add_argument("--list", action="store_true", help="list the filters with their kernels and sources")


def _add_kernel_arguments(p) -> None:
    """The kernel itself: a custom matrix, or the size and sigma of a named one."""
    p.add_argument(
        "--kernel",
        "-k",
        metavar="MATRIX",
        help="a custom kernel: rows separated by ';' (e.g. '1/9 1/9 1/9; ...'), or a .npy / text file",
    )
    p.add_argument("--size", type=int, default=None, metavar="N", help="kernel size of box, gaussian, sharpen-mean")
    p.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="gaussian: standard deviation in pixels "
        "(default: the binomial kernel, 1/16 [1 2 1; 2 4 2; 1 2 1] for size 3)",
    )


def _add_processing_arguments(p) -> None:
    """How the image is filtered: border, output scaling, grey, true convolution, shrinking."""
    from ..conv.filters import BORDERS, SCALES

    p.add_argument(
        "--border",
        choices=BORDERS,
        default="zero",
        help="zero padding, mirror (reflect), repeat the edge (replicate), or none (valid: smaller output)",
    )
    p.add_argument(
        "--scale",
        choices=SCALES,
        default=None,
        help="8-bit output: clip to 0..255, abs (magnitude, for edges), or normalize min..max "
        "(default: abs for edge/sobel filters, clip otherwise)",
    )
    p.add_argument("--grey", "--gray", dest="grey", action="store_true", help="convert a colour image to grey first")
    p.add_argument(
        "--convolve",
        action="store_true",
        help="flip the kernel (true convolution as in the lectures' definition) instead of cross-correlation",
    )
    p.add_argument(
        "--max-size",
        type=int,
        default=None,
        metavar="PX",
        help="shrink the image first so its longer side is at most PX pixels",
    )


def _add_report_arguments(p) -> None:
    """Extra outputs: the before/after picture and the NumPy reference check."""
    p.add_argument(
        "--compare",
        nargs="?",
        const="",
        default=None,
        metavar="PNG",
        help="also write before and after side by side (default: OUT with -compare before .png)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="recompute a 32x32 corner with the NumPy reference convolution and print the largest difference",
    )


def list_filters() -> str:
    from ..conv.filters import FILTERS, make_kernel
    from ..conv.matrices import format_number

    lines = []
    for f in FILTERS.values():
        k = make_kernel(f.name)
        rows = "; ".join(" ".join(format_number(v) if v == int(v) else f"{v:.3g}" for v in r) for r in k)
        opts = " [--size N]" if f.sized else ""
        opts += " [--sigma S]" if f.sigma else ""
        lines.append(f"{f.name + opts:<34} {f.description}")
        lines.append(f"{'':<34} kernel: {rows}   ({f.source})")
    lines.append(f"{'custom --kernel MATRIX':<34} any matrix, e.g. --kernel '1 0 -1; 2 0 -2; 1 0 -1'")
    lines.append("aliases: mean, blur -> box; laplacian -> edge")
    return "\n".join(lines)


def run(args) -> int:
    import numpy as np

    from ..conv.filters import compare_image, reference_filter, run_filter, save_image
    from ..errors import CnnlabError

    if args.list or args.name == "list":
        print(list_filters())
        return 0
    if not args.name or not args.image:
        raise CnnlabError(
            "cnnlab filter needs a filter NAME and an IMAGE",
            "e.g. cnnlab filter sharpen skimage:camera -o sharp.png (cnnlab filter --list for names)",
        )
    if args.name == "custom" and args.kernel is None:
        raise CnnlabError("filter 'custom' needs --kernel", "e.g. --kernel '0 -1 0; -1 5 -1; 0 -1 0'")
    if args.kernel is not None and args.name != "custom":
        raise CnnlabError(
            f"--kernel replaces the named filter: use 'custom' instead of {args.name!r}",
            "cnnlab filter custom IMAGE --kernel '...'",
        )
    from .common import IMAGE_SUFFIXES, check_output_path

    if args.output:
        check_output_path(
            args.output if Path(args.output).suffix else args.output + ".png", "-o", IMAGE_SUFFIXES, create=True
        )
    if args.compare:
        check_output_path(args.compare, "--compare", IMAGE_SUFFIXES, create=True)
    res = run_filter(
        args.name,
        args.image,
        kernel=args.kernel,
        size=args.size,
        sigma=args.sigma,
        border=args.border,
        scale=args.scale,
        grey=args.grey,
        convolve=args.convolve,
        max_size=args.max_size,
    )
    stem = Path(args.image.split(":", 1)[1] if args.image.startswith("skimage:") else args.image).stem
    out = Path(args.output) if args.output else Path(f"{stem}-{args.name}.png")
    if not out.suffix:
        out = out.with_suffix(".png")
    save_image(res.picture, out)
    h, w, c = res.image.shape
    kh, kw = res.kernel.shape
    print(f"{args.image}: {w}x{h}, {'colour (each channel filtered on its own)' if c == 3 else 'greyscale'}")
    print(
        f"filter {args.name}: {kh}x{kw} kernel, border {res.border}, output {res.picture.shape[1]}x"
        f"{res.picture.shape[0]}, response {res.low:.4g}..{res.high:.4g} -> 8 bits by "
        f"{res.scale}"
    )
    print(f"wrote {out}")
    if args.compare is not None:
        cmp_path = Path(args.compare) if args.compare else out.with_name(out.stem + "-compare.png")
        label = f"after: {args.name}" + (f" {args.size}" if args.size else "") + f", border {res.border}"
        save_image(compare_image(res.image, res.picture, "before", label), cmp_path)
        print(f"wrote {cmp_path} (before | after)")
    if args.check:
        crop = res.image[:32, :32]
        from ..conv.filters import apply_filter

        diff = np.abs(
            apply_filter(crop, res.kernel, res.border, args.convolve)
            - reference_filter(crop, res.kernel, res.border, args.convolve)
        ).max()
        print(
            f"check: torch vs NumPy reference on the top-left {crop.shape[1]}x{crop.shape[0]} corner: "
            f"largest difference {diff:.3g}"
        )
    return 0
