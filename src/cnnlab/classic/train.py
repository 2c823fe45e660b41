"""Training a linear classifier or an MLP on hand-made features (lecture 004, "Linear Classification").

    L = 1/N sum_i L_i + lambda R(W),   L_i = softmax or multiclass SVM loss,   R(W) = sum w^2

minimised by minibatch SGD with momentum on features computed once (:mod:`.features`). This is its
own small loop, not ``cnnlab train``: the lecture's SVM loss and ``lambda R(W)`` are what it is about,
and the features are vectors, not images. The model is the registered ``linear`` / ``mlp`` with
``in_chans = D, image_size = 1`` (or the image's own shape for ``pixels``), so the run folder loads
with :func:`cnnlab.load_run` and ``cnnlab viz templates`` reads its weights.

Nothing is chosen on the held-out split: the epochs, learning rate and lambda are fixed by the caller,
the final weights are kept, and the held-out accuracy is reported once at the end.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CnnlabError
from .features import FEATURES, feature_extractor
from .losses import LOSSES, l2_penalty, multiclass_svm_loss


@dataclass
class ClassicConfig:
    data: str = "mnist-sample"
    features: str = "hog"
    model: str = "linear"  # linear | mlp
    hidden: list[int] = field(default_factory=lambda: [100])
    activation: str = "relu"
    loss: str = "softmax"  # softmax | svm
    delta: float = 1.0  # SVM margin
    reg: float = 1e-4  # lambda of lambda R(W)
    epochs: int = 30
    lr: float = 0.1
    momentum: float = 0.9
    batch_size: int = 128
    seed: int = 0
    progress: bool = True

    def check(self) -> None:
        if self.features not in FEATURES:
            from ..errors import UnknownNameError

            raise UnknownNameError("feature", self.features, list(FEATURES))
        if self.loss not in LOSSES:
            from ..errors import UnknownNameError

            raise UnknownNameError("loss", self.loss, list(LOSSES))
        if self.model not in ("linear", "mlp"):
            raise CnnlabError(
                f"model {self.model!r}: hand-made features go to 'linear' or 'mlp'",
                "for a CNN use cnnlab train MODEL --data ...",
            )
        if self.epochs < 1 or self.lr <= 0 or self.reg < 0 or self.batch_size < 1:
            raise CnnlabError(
                f"epochs >= 1, lr > 0, reg >= 0, batch >= 1; got {self.epochs}, {self.lr}, {self.reg}, "
                f"{self.batch_size}"
            )


@dataclass
class ClassicResult:
    config: ClassicConfig
    feature_dim: int
    train_top1: float
    heldout_top1: float
    heldout_name: str
    seconds_features: float
    seconds_train: float
    history: list[dict]
    model: torch.nn.Module
    classes: list[str]
    model_args: dict
    mean: np.ndarray  # the training features' mean, subtracted before the classifier
    std: np.ndarray  # and their standard deviation (1 for pixels), divided

    def summary(self) -> str:
        c = self.config
        return (
            f"{c.model} on {c.features} features ({self.feature_dim} values/image, {c.loss} loss, lambda "
            f"{c.reg:g}): train top-1 {self.train_top1:.2f}%, {self.heldout_name} top-1 "
            f"{self.heldout_top1:.2f}% (features {self.seconds_features:.1f} s, training {self.seconds_train:.1f} s)"
        )


def _loss(logits: torch.Tensor, y: torch.Tensor, cfg: ClassicConfig) -> torch.Tensor:
    return F.cross_entropy(logits, y) if cfg.loss == "softmax" else multiclass_svm_loss(logits, y, cfg.delta)


def _accuracy(model, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return 100.0 * float((model(x).argmax(1) == y).float().mean())


def _model_input(cfg: ClassicConfig, data, xtr: np.ndarray) -> tuple[tuple[int, int, int], dict]:
    """The classifier's input shape and model arguments: the image's own shape for ``pixels`` (so the weights
    are images, class templates), else D x 1 x 1; plus the MLP's hidden layers."""
    c, h, w = data.train.image_shape
    if cfg.features == "pixels":  # keep the image shape: the weights are then images (class templates)
        shape, args = (c, h, w), dict(in_chans=c, image_size=h)
        if h != w:
            raise CnnlabError(
                f"pixels of {h}x{w} images: the linear model takes square images", "resize with --image-size"
            )
    else:
        shape, args = (xtr.shape[1], 1, 1), dict(in_chans=xtr.shape[1], image_size=1)
    if cfg.model == "mlp":
        args.update(hidden=list(cfg.hidden), activation=cfg.activation)
    return shape, args


def _standardize(cfg: ClassicConfig, xtr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and standard deviation the features are standardized with, both from the training split."""
    # centre with the training split's mean (pixels: the mean image, so the weights stay templates); other
    # features are also scaled to unit standard deviation per value (histogram fractions are tiny)
    mean = xtr.mean(axis=0, keepdims=True)
    std = np.ones_like(mean) if cfg.features == "pixels" else xtr.std(axis=0, keepdims=True) + 1e-8
    return mean, std


def _make_classifier(cfg: ClassicConfig, num_classes: int, args: dict) -> torch.nn.Module:
    """The registered ``linear`` / ``mlp`` seeded with ``cfg.seed`` (a linear one starts with small weights)."""
    from ..models import create_model

    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, num_classes=num_classes, **args)
    if cfg.model == "linear":
        torch.nn.init.normal_(model.fc.weight, std=1e-3)
        torch.nn.init.zeros_(model.fc.bias)
    return model


def _sgd(model: torch.nn.Module, cfg: ClassicConfig, x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Minibatch SGD with momentum and a cosine schedule on data loss + lambda R(W); the per-epoch history."""
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    epochs = range(1, cfg.epochs + 1)
    if cfg.progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc=f"{cfg.model} on {cfg.features}", unit="epoch", leave=False)
    for epoch in epochs:
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            data_loss = _loss(model(x[idx]), y[idx], cfg)
            loss = data_loss + cfg.reg * l2_penalty(weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(data_loss.detach()) * len(idx)
        sched.step()
        history.append({"epoch": epoch, "train_loss": total / len(x), "lr": sched.get_last_lr()[0]})
    model.eval()
    return history


def fit_features(cfg: ClassicConfig | None = None, splits=None, **overrides) -> ClassicResult:
    """Extract ``cfg.features`` from ``cfg.data`` (or the given ``DataSplits``) and train the classifier."""
    from ..data import load_data

    cfg = cfg or ClassicConfig()
    for k, v in overrides.items():
        setattr(cfg, k, v)
    cfg.check()
    data = splits if splits is not None else load_data(cfg.data)
    t0 = time.perf_counter()
    extract = feature_extractor(cfg.features, data.train.images, seed=cfg.seed)
    xtr, xva = extract(data.train.images), extract(data.val.images)
    t_feat = time.perf_counter() - t0
    shape, args = _model_input(cfg, data, xtr)
    mean, std = _standardize(cfg, xtr)
    xtr_t = torch.tensor((xtr - mean) / std, dtype=torch.float32).reshape(-1, *shape)
    xva_t = torch.tensor((xva - mean) / std, dtype=torch.float32).reshape(-1, *shape)
    ytr, yva = data.train.labels.long(), data.val.labels.long()
    model = _make_classifier(cfg, len(data.classes), args)
    t1 = time.perf_counter()
    history = _sgd(model, cfg, xtr_t, ytr)
    t_train = time.perf_counter() - t1
    heldout = f"held-out split ({len(data.val):,} images)"
    result = ClassicResult(
        cfg,
        int(xtr.shape[1]),
        _accuracy(model, xtr_t, ytr),
        _accuracy(model, xva_t, yva),
        heldout,
        t_feat,
        t_train,
        history,
        model,
        list(data.classes),
        args,
        mean.ravel(),
        std.ravel(),
    )
    return result


def save_result(result: ClassicResult, out: str | Path) -> Path:
    """A run folder: model.safetensors (with model, model_args, classes, features), metrics.json, config.json."""
    from ..runs import save_model, write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "model": result.config.model,
        "model_args": result.model_args,
        "classes": result.classes,
        "features": result.config.features,
        "loss": result.config.loss,
        "feature_mean": result.mean.tolist(),
        "feature_std": result.std.tolist(),
    }
    save_model(out / "model.safetensors", result.model, meta)
    write_json(out / "config.json", asdict(result.config))
    write_json(
        out / "metrics.json",
        {
            "train_top1": result.train_top1,
            "heldout_top1": result.heldout_top1,
            "heldout": result.heldout_name,
            "feature_dim": result.feature_dim,
            "seconds_features": result.seconds_features,
            "seconds_train": result.seconds_train,
            "history": result.history,
        },
    )
    return out


def load_metrics(run_dir: str | Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())
