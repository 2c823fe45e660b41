"""``cnnlab weights FILE [--model NAME] [--save OUT.safetensors]``: inspect, check and convert weight files."""

from __future__ import annotations

import json

from .common import Formatter, parse_assignments


def register(sub) -> None:
    p = sub.add_parser(
        "weights",
        help="inspect a weight file, check that it fits a model, convert it to a cnnlab file",
        formatter_class=Formatter,
        description="Read a .pth (state dict only, never arbitrary pickles) or .safetensors weight file from "
        "torchvision, timm or cnnlab.\n\n"
        "Without --model: what the file holds (format, checkpoint wrapper, source, tensors, "
        "parameters).\nWith --model: load it into that network as cnnlab.load_weights does "
        "(timm prefixes and EMA copies unwrapped, torchvision's transform_input folded, a 3-channel "
        "first conv adapted to --in-chans, a classifier of another size replaced) and report what "
        "was done; --save writes the result as a cnnlab .safetensors file that `cnnlab predict` "
        "and `cnnlab.load_run` read.\n\n"
        "Published weights: `cnnlab weights list` shows the torchvision/timm files cnnlab knows "
        "(URL, SHA-256 prefix, reported accuracy); `cnnlab weights fetch NAME` downloads one into "
        "$CNNLAB_HOME/weights (default ~/.cache/cnnlab/weights), checks its hash and loads it into "
        "NAME (create_model(NAME, pretrained=True) does the same).\n\n"
        "examples: cnnlab weights fetch resnet18\n"
        "          cnnlab weights resnet50-0676ba61.pth\n"
        "          cnnlab weights googlenet-1378be20.pth --model googlenet --save googlenet.safetensors\n"
        "          cnnlab weights vgg16-397923af.pth --model vgg16 --num-classes 10 --in-chans 1",
    )
    p.add_argument(
        "file",
        help="weight file (.pth / .pt / .bin / .safetensors), a run folder (its model.safetensors), "
        "or `fetch` / `list`",
    )
    p.add_argument("name", nargs="?", help="with fetch: the registered network whose published weights to get")
    p.add_argument(
        "--mirror",
        metavar="URL",
        help="with fetch: a folder URL serving the same file names "
        "(default: the publisher's; also $CNNLAB_WEIGHTS_MIRROR)",
    )
    p.add_argument("--model", metavar="NAME", help="registered network to load the file into")
    p.add_argument(
        "--num-classes",
        type=int,
        help="classes of the model (default: the card's); a file classifier of another size is dropped",
    )
    p.add_argument("--in-chans", type=int, help="input channels of the model (3-channel weights are adapted)")
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE", help="builder option, e.g. aux_logits=true")
    p.add_argument(
        "--source",
        default="auto",
        choices=["auto", "torchvision", "timm", "cnnlab"],
        help="who wrote the file (auto: cnnlab metadata, timm checkpoint wrappers, else torchvision)",
    )
    p.add_argument("--no-ema", action="store_true", help="prefer the raw weights over an EMA copy in a checkpoint")
    p.add_argument("--non-strict", action="store_true", help="load the matching tensors only (warns about the rest)")
    p.add_argument("--save", metavar="OUT", help="write the loaded model as a cnnlab .safetensors file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def describe_file(path: str, use_ema: bool = True) -> dict:
    from pathlib import Path

    from ..models.weights import detect_source, read_weight_file

    sd, meta, wrapper = read_weight_file(path, use_ema)
    floats = [v for k, v in sd.items() if v.is_floating_point() and not k.endswith(("running_mean", "running_var"))]
    four_d = [(k, list(v.shape)) for k, v in sd.items() if v.dim() == 4]
    two_d = [(k, list(v.shape)) for k, v in sd.items() if v.dim() == 2]
    source = detect_source(meta, wrapper, Path(path))
    from ..errors import printable
    from ..models.weights import sniff_weight_file

    nonfinite = [k for k, v in sd.items() if v.is_floating_point() and not bool(v.isfinite().all())]
    return {
        "file": str(path),
        "format": "safetensors" if sniff_weight_file(Path(path)) == "safetensors" else "pytorch",
        "wrapper": wrapper or None,
        "source": source,
        "tensors": len(sd),
        "parameters": sum(v.numel() for v in floats),
        "first_conv": four_d[0] if four_d else None,
        "last_linear": two_d[-1] if two_d else None,
        "cnnlab_model": printable(meta["model"], 80) if "model" in meta else None,
        "first_keys": [printable(k, 80) for k in list(sd)[:5]],
        "non_finite_tensors": [printable(k, 80) for k in nonfinite[:5]] or None,
    }


def run(args) -> int:
    from pathlib import Path

    if args.file in ("fetch", "list") and not Path(args.file).exists():
        return run_published(args)
    check_file_args(args)
    use_run_folder(args)
    if not args.model:
        return print_file_info(args)
    model, kwargs, report, notes = load_into_model(args)
    if args.save:
        save_converted(args, model, kwargs, report)
    return print_load_report(args, report, notes)


def check_file_args(args) -> None:
    """Refuse a stray name after the file, a --save that is not a .safetensors path or has no --model."""
    from ..errors import CnnlabError

    if args.name:
        raise CnnlabError(
            f"unexpected argument {args.name!r} after the file {args.file}",
            "cnnlab weights FILE [--model NAME], or cnnlab weights fetch NAME",
        )
    if args.save:
        from .common import check_output_path

        check_output_path(args.save, "--save", (".safetensors",))
    if args.save and not args.model:
        raise CnnlabError(
            "--save needs --model: the file is loaded into that network and saved from it",
            f"e.g. cnnlab weights {args.file} --model resnet50 --save out.safetensors",
        )


def use_run_folder(args) -> None:
    """A run folder is its model.safetensors; its classes and input channels are the model's defaults."""
    from ..runs import looks_like_run, resolve_model

    if looks_like_run(args.file):
        ref = resolve_model(args.file)
        args.file = str(ref.weights)
        if args.model and args.num_classes is None:
            args.num_classes = len(ref.classes)
        if args.model and args.in_chans is None and ref.input_size:
            args.in_chans = ref.input_size[0]


def print_file_info(args) -> int:
    """Without --model: what the file holds."""
    info = describe_file(args.file, not args.no_ema)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(map(len, info))
    for k, v in info.items():
        if v is not None:
            print(f"{k:<{width}}  {v:,}" if isinstance(v, int) else f"{k:<{width}}  {v}")
    return 0


def load_into_model(args):
    """Build --model and load the file into it: (model, builder options, load report, warnings as notes)."""
    from ..models import create_model
    from ..models.weights import load_weights

    kwargs = parse_assignments(args.model_arg, "--model-arg")
    model = create_model(args.model, num_classes=args.num_classes, in_chans=args.in_chans, **kwargs)
    with warnings_as_notes() as notes:
        report = load_weights(model, args.file, strict=not args.non_strict, source=args.source, use_ema=not args.no_ema)
    return model, kwargs, report, notes


def save_converted(args, model, kwargs: dict, report) -> None:
    """--save: the loaded model as a cnnlab .safetensors file."""
    from ..errors import CnnlabError
    from ..runs import save_model

    if not str(args.save).endswith(".safetensors"):
        raise CnnlabError(
            f"--save {args.save}: cnnlab writes weights as .safetensors", "name the output file OUT.safetensors"
        )
    save_model(
        args.save,
        model,
        {
            "model": args.model,
            "classes": [str(i) for i in range(model.num_classes)],
            "model_args": {"in_chans": model.in_chans, **kwargs},
            "converted_from": str(args.file),
            "source": report.source,
        },
    )


def print_load_report(args, report, notes: list[str]) -> int:
    if args.json:
        print(
            json.dumps(
                {
                    "loaded": report.loaded,
                    "source": report.source,
                    "adapted_first_conv": report.adapted_first_conv,
                    "dropped_classifier": report.dropped_classifier,
                    "warnings": notes,
                    "saved": args.save,
                },
                indent=2,
            )
        )
        return 0
    print(report)
    for note in notes:
        print(f"note: {note}")
    if args.save:
        print(f"saved {args.save} (cnnlab file: cnnlab.load_run / cnnlab predict read it)")
    return 0


def run_published(args) -> int:
    """``cnnlab weights list`` and ``cnnlab weights fetch NAME``."""
    from ..errors import CnnlabError
    from ..models.published import PUBLISHED

    if args.file == "list":
        rows = [
            {
                "model": w.model,
                "publisher": w.publisher,
                "tag": w.tag,
                "top1": w.top1,
                "top5": w.top5,
                "eval": f"{w.resize}/{w.crop} {w.interpolation}",
                "sha256": w.sha256,
                "url": w.url,
            }
            for w in PUBLISHED.values()
        ]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        print(f"{'model':<20} {'publisher':<11} {'top-1':>6} {'top-5':>6}  {'eval':<16} file")
        for r in rows:
            print(
                f"{r['model']:<20} {r['publisher']:<11} {r['top1']:>6.2f} {r['top5']:>6.2f}  {r['eval']:<16} "
                f"{r['url'].rsplit('/', 1)[1]}"
            )
        print(f"{len(rows)} published file(s); accuracy: ImageNet-1k validation as the publisher reports it")
        return 0
    if not args.name:
        raise CnnlabError(
            "cnnlab weights fetch needs a network name",
            "e.g. cnnlab weights fetch resnet18 (cnnlab weights list shows them)",
        )
    from ..models import create_model
    from ..models.fetch import fetch_weights
    from ..models.weights import load_weights

    path = fetch_weights(args.name, base_url=args.mirror)
    model = create_model(args.name, num_classes=args.num_classes, in_chans=args.in_chans)
    with warnings_as_notes() as notes:
        report = load_weights(model, path, strict=not args.non_strict)
    w = PUBLISHED[args.name]
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.name,
                    "path": str(path),
                    "sha256_prefix": w.sha256,
                    "loaded": report.loaded,
                    "top1": w.top1,
                    "warnings": notes,
                },
                indent=2,
            )
        )
        return 0
    print(f"{args.name}: {path} (SHA-256 starts with the published {w.sha256})")
    print(report)
    for note in notes:
        print(f"note: {note}")
    print(
        f"reported: {w.top1:.2f}% top-1, {w.top5:.2f}% top-5 on ImageNet-1k validation ({w.publisher} {w.tag}; "
        f"resize {w.resize}, centre crop {w.crop}, {w.interpolation}); use: "
        f"cnnlab.create_model({args.name!r}, pretrained=True)"
    )
    return 0


class warnings_as_notes:
    """Collect the warnings of a block as strings (the CLI prints them as notes)."""

    def __enter__(self) -> list[str]:
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self._caught = self._ctx.__enter__()
        warnings.simplefilter("always")
        self.notes: list[str] = []
        return self.notes

    def __exit__(self, *exc) -> None:
        self.notes.extend(str(w.message) for w in self._caught)
        self._ctx.__exit__(*exc)
