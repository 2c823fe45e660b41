"""``cnnlab weights FILE [--model NAME] [--save OUT.safetensors]``: inspect, check and convert weight files."""

from __future__ import annotations

import json

from .common import Formatter, parse_assignments


def register(sub) -> None:
    p = sub.add_parser(
        "weights", help="inspect a weight file, check that it fits a model, convert it to a cnnlab file",
        formatter_class=Formatter,
        description="Read a .pth (state dict only, never arbitrary pickles) or .safetensors weight file from "
                    "torchvision, timm or cnnlab.\n\n"
                    "Without --model: what the file holds (format, checkpoint wrapper, source, tensors, "
                    "parameters).\nWith --model: load it into that network as cnnlab.load_weights does "
                    "(timm prefixes and EMA copies unwrapped, torchvision's transform_input folded, a 3-channel "
                    "first conv adapted to --in-chans, a classifier of another size replaced) and report what "
                    "was done; --save writes the result as a cnnlab .safetensors file that `cnnlab predict` "
                    "and `cnnlab.load_run` read.\n\n"
                    "examples: cnnlab weights resnet50-0676ba61.pth\n"
                    "          cnnlab weights googlenet-1378be20.pth --model googlenet --save googlenet.safetensors\n"
                    "          cnnlab weights vgg16-397923af.pth --model vgg16 --num-classes 10 --in-chans 1")
    p.add_argument("file", help="weight file (.pth / .pt / .bin / .safetensors) or a run folder (its model.safetensors)")
    p.add_argument("--model", metavar="NAME", help="registered network to load the file into")
    p.add_argument("--num-classes", type=int, help="classes of the model (default: the card's); a file "
                   "classifier of another size is dropped")
    p.add_argument("--in-chans", type=int, help="input channels of the model (3-channel weights are adapted)")
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE", help="builder option, e.g. aux_logits=true")
    p.add_argument("--source", default="auto", choices=["auto", "torchvision", "timm", "cnnlab"],
                   help="who wrote the file (auto: cnnlab metadata, timm checkpoint wrappers, else torchvision)")
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
    return {"file": str(path), "format": "safetensors" if sniff_weight_file(Path(path)) == "safetensors" else "pytorch",
            "wrapper": wrapper or None, "source": source, "tensors": len(sd),
            "parameters": sum(v.numel() for v in floats),
            "first_conv": four_d[0] if four_d else None, "last_linear": two_d[-1] if two_d else None,
            "cnnlab_model": printable(meta["model"], 80) if "model" in meta else None,
            "first_keys": [printable(k, 80) for k in list(sd)[:5]],
            "non_finite_tensors": [printable(k, 80) for k in nonfinite[:5]] or None}


def run(args) -> int:
    import warnings

    from ..errors import CnnlabError

    if args.save:
        from .common import check_output_path

        check_output_path(args.save, "--save", (".safetensors",))
    if args.save and not args.model:
        raise CnnlabError("--save needs --model: the file is loaded into that network and saved from it",
                          f"e.g. cnnlab weights {args.file} --model resnet50 --save out.safetensors")
    from ..runs import looks_like_run, resolve_model

    if looks_like_run(args.file):  # a run folder is its model.safetensors
        ref = resolve_model(args.file)
        args.file = str(ref.weights)
        if args.model and args.num_classes is None:
            args.num_classes = len(ref.classes)
        if args.model and args.in_chans is None and ref.input_size:
            args.in_chans = ref.input_size[0]

    if not args.model:
        info = describe_file(args.file, not args.no_ema)
        if args.json:
            print(json.dumps(info, indent=2))
            return 0
        width = max(map(len, info))
        for k, v in info.items():
            if v is not None:
                print(f"{k:<{width}}  {v:,}" if isinstance(v, int) else f"{k:<{width}}  {v}")
        return 0

    from ..models import create_model
    from ..models.weights import load_weights

    kwargs = parse_assignments(args.model_arg, "--model-arg")
    model = create_model(args.model, num_classes=args.num_classes, in_chans=args.in_chans, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = load_weights(model, args.file, strict=not args.non_strict, source=args.source,
                              use_ema=not args.no_ema)
    notes = [str(w.message) for w in caught]
    if args.save:
        from ..runs import save_model

        if not str(args.save).endswith(".safetensors"):
            raise CnnlabError(f"--save {args.save}: cnnlab writes weights as .safetensors",
                              "name the output file OUT.safetensors")
        save_model(args.save, model, {"model": args.model, "classes": [str(i) for i in range(model.num_classes)],
                                      "model_args": {"in_chans": model.in_chans, **kwargs},
                                      "converted_from": str(args.file), "source": report.source})
    if args.json:
        print(json.dumps({"loaded": report.loaded, "source": report.source,
                          "adapted_first_conv": report.adapted_first_conv,
                          "dropped_classifier": report.dropped_classifier, "warnings": notes,
                          "saved": args.save}, indent=2))
        return 0
    print(report)
    for note in notes:
        print(f"note: {note}")
    if args.save:
        print(f"saved {args.save} (cnnlab file: cnnlab.load_run / cnnlab predict read it)")
    return 0
