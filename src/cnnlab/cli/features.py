"""``cnnlab features list|extract|train``: the pipeline before CNNs (lecture 004, "Prior to CNNs")."""

from __future__ import annotations

from .common import Formatter

EPILOG = """examples:
  cnnlab features list
  cnnlab features extract hog --data mnist-sample --out hog.npz
  cnnlab features train --features hog --data mnist-sample --out runs/hog-linear
  cnnlab features train --features pixels --loss svm --reg 1e-3 --out runs/pixels-svm
  cnnlab features train --features hog --model mlp --hidden 256 128 --activation tanh --out runs/hog-mlp
  cnnlab viz templates runs/pixels-svm -o templates.png     (a linear model on pixels: its class templates)

A CNN trains end to end with `cnnlab train MODEL`; `cnnlab train linear|mlp --data mnist-sample` trains the
same two models on raw pixels with the CNN trainer (softmax loss only). `features train` is a small loop of
its own: minibatch SGD with momentum and a cosine schedule on features computed once, the lecture's
L = 1/N sum L_i + lambda R(W) with L_i the softmax or the multiclass SVM (Weston-Watkins) loss. Features
other than pixels are centred and scaled to unit variance with the training split's statistics; nothing is
chosen on the held-out split (its accuracy is printed once, at the end)."""


def register(sub) -> None:
    p = sub.add_parser(
        "features",
        help="hand-made features (HOG, colour histogram, bag of words) + linear classifiers",
        formatter_class=Formatter,
        epilog=EPILOG,
        description="The image-classification pipeline CNNs replaced: fixed feature extractors "
        "(colour histogram, HOG, bag of visual words, raw pixels) and a learnt linear "
        "classifier or MLP on top.",
    )
    what = p.add_subparsers(dest="what", metavar="WHAT", title="what to do")
    what.add_parser("list", help="the feature extractors", formatter_class=Formatter).set_defaults(func=run_list)

    e = what.add_parser("extract", help="compute one kind of features for a data set", formatter_class=Formatter)
    e.add_argument("kind", metavar="KIND", help="pixels, colorhist, hog or bovw (see `cnnlab features list`)")
    e.add_argument("--data", default="mnist-sample", help="a data set (see `cnnlab data`)")
    e.add_argument("--out", default=None, metavar="FILE.npz", help="write train_x/train_y/val_x/val_y to this file")
    e.add_argument("--seed", type=int, default=0, help="seed of the bag-of-words codebook")
    e.set_defaults(func=run_extract)

    t = what.add_parser(
        "train", help="train a linear classifier or MLP on features", formatter_class=Formatter, epilog=EPILOG
    )
    t.add_argument("--features", default="hog", help="pixels, colorhist, hog or bovw")
    t.add_argument("--data", default="mnist-sample", help="a data set (see `cnnlab data`)")
    t.add_argument("--model", choices=("linear", "mlp"), default="linear", help="the classifier")
    t.add_argument("--hidden", type=int, nargs="+", default=[100], help="hidden layer sizes of the MLP")
    t.add_argument("--activation", default="relu", help="the MLP's activation (relu, tanh, sigmoid, ...)")
    t.add_argument(
        "--loss",
        choices=("softmax", "svm"),
        default="softmax",
        help="softmax (cross-entropy) or multiclass SVM (Weston-Watkins hinge)",
    )
    t.add_argument("--delta", type=float, default=1.0, help="the SVM margin")
    t.add_argument("--reg", type=float, default=1e-4, help="lambda: strength of the L2 penalty sum w^2")
    t.add_argument("--epochs", type=int, default=20, help="passes over the training features")
    t.add_argument("--lr", type=float, default=0.05, help="learning rate (cosine-decayed to 0)")
    t.add_argument("--batch-size", type=int, default=256, help="minibatch size")
    t.add_argument("--seed", type=int, default=0, help="seed of the initialisation, the order and the codebook")
    t.add_argument("--out", default=None, metavar="RUN_DIR", help="save model.safetensors, config and metrics here")
    t.set_defaults(func=run_train)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_list(args) -> int:
    from ..classic.features import FEATURES

    for k in FEATURES.values():
        print(f"{k.name:<10} {k.what}")
    return 0


def run_extract(args) -> int:
    import io
    import time
    from pathlib import Path

    import numpy as np

    from ..classic.features import feature_extractor
    from ..data import load_data

    data = load_data(args.data)
    t = time.perf_counter()
    f = feature_extractor(args.kind, data.train.images, seed=args.seed)
    xtr, xva = f(data.train.images), f(data.val.images)
    print(
        f"{args.kind} features of {args.data}: train {xtr.shape[0]:,} x {xtr.shape[1]}, held-out "
        f"{xva.shape[0]:,} x {xva.shape[1]} ({time.perf_counter() - t:.1f} s)"
    )
    if args.out:
        from ..runs import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(
            buf,
            train_x=xtr,
            train_y=data.train.labels.numpy(),
            val_x=xva,
            val_y=data.val.labels.numpy(),
            classes=np.array(data.classes),
        )
        atomic_write_bytes(Path(args.out), buf.getvalue())
        print(f"wrote {args.out}")
    return 0


def run_train(args) -> int:
    from ..classic.train import ClassicConfig, fit_features, save_result

    cfg = ClassicConfig(
        data=args.data,
        features=args.features,
        model=args.model,
        hidden=args.hidden,
        activation=args.activation,
        loss=args.loss,
        delta=args.delta,
        reg=args.reg,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    r = fit_features(cfg)
    print(r.summary())
    if args.out:
        print(f"run folder: {save_result(r, args.out)}")
    return 0
