"""The training loop: data -> model -> optimizer, evaluated every epoch, into a run folder."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import runtime
from ..data import BatchLoader, DataSplits, load_data
from ..errors import CnnlabError
from ..models import create_model
from ..runs import MODEL_FILE, append_jsonl, prepare_run_dir, save_model, write_json
from ..viz.curves import plot_curves
from .config import TrainConfig
from .metrics import evaluate, topk_correct
from .optim import build_optimizer, build_scheduler


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict]
    model: nn.Module

    @property
    def final(self) -> dict:
        return self.metrics[-1]


def default_run_dir(cfg: TrainConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    data = cfg.data.split(":")[0]
    return Path("runs") / f"{cfg.model}-{data}-{stamp}"


def autocast_for(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def resolve_precision(cfg: TrainConfig, device: torch.device) -> str:
    if cfg.precision == "auto":
        return "bf16" if runtime.bf16_supported(device) else "fp32"
    if cfg.precision == "bf16" and not runtime.bf16_supported(device):
        raise CnnlabError(f"bf16 was asked for but {device} has no fast bfloat16", "use --precision fp32 or auto")
    return cfg.precision


def background_of(images: torch.Tensor) -> str:
    """``dark`` or ``light``: the typical border colour of the training images (for predict)."""
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., :, 0], images[..., :, -1]], dim=-1)
    return "dark" if border.float().mean() < 128 else "light"


def train(cfg: TrainConfig | None = None, *, dataset: DataSplits | None = None, **overrides) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.data`` and write a run folder. Keyword overrides patch ``cfg``.

    ``dataset`` passes already loaded splits (otherwise ``cfg.data`` is read with ``load_data``).
    """
    cfg = TrainConfig.from_dict({**(cfg or TrainConfig()).to_dict(), **overrides}).validate()
    threads = runtime.configure(cfg.threads)
    device = runtime.pick_device(cfg.device)
    precision = resolve_precision(cfg, device)
    torch.manual_seed(cfg.seed)

    data = dataset or load_data(cfg.data)
    say = tqdm.write if cfg.progress else (lambda *_: None)
    say(data.describe())
    c, h, w = data.train.image_shape
    model = create_model(cfg.model, num_classes=len(data.classes), in_chans=c, **cfg.model_args).to(device)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model {cfg.model}: {n_params:,} parameters; device {device}, {threads} threads, {precision}"
        f"{', channels-last' if cfg.channels_last else ''}")

    run_dir = prepare_run_dir(cfg.out or default_run_dir(cfg), cfg.overwrite)
    write_json(run_dir / "config.json", {**cfg.to_dict(), "out": str(run_dir), "resolved": {
        "device": str(device), "threads": threads, "precision": precision, "params": n_params,
        "classes": data.classes, "mean": data.mean, "std": data.std}})

    train_loader = BatchLoader(data.train, cfg.batch_size, data.mean, data.std, shuffle=True, drop_last=True,
                               seed=cfg.seed, channels_last=cfg.channels_last)
    if len(train_loader) == 0:
        raise CnnlabError(f"batch size {cfg.batch_size} is larger than the {len(data.train)} training images",
                          "use a smaller --batch-size")
    val_loader = BatchLoader(data.val, 512, data.mean, data.std, channels_last=cfg.channels_last)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, len(train_loader))
    autocast = autocast_for(device, precision)
    meta = {"model": cfg.model, "model_args": cfg.model_args, "classes": data.classes, "input_size": [c, h, w],
            "mean": data.mean, "std": data.std, "background": background_of(data.train.images)}

    metrics: list[dict] = []
    for epoch in range(1, cfg.epochs + 1):
        train_loader.set_epoch(epoch)
        model.train()
        t0 = time.perf_counter()
        seen = loss_sum = correct = 0.0
        bar = tqdm(total=len(train_loader) * cfg.batch_size, unit="img", unit_scale=True, leave=False,
                   desc=f"epoch {epoch}/{cfg.epochs}", disable=not cfg.progress, dynamic_ncols=True)
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast:
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise CnnlabError(f"the loss became {lv} at epoch {epoch}",
                                  "lower the learning rate (--lr) or use --precision fp32")
            seen += len(y)
            loss_sum += lv * len(y)
            correct += topk_correct(logits.detach(), y, (1,))[0]
            bar.update(len(y))
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{100 * correct / seen:.2f}%", refresh=False)
        bar.close()
        train_seconds = time.perf_counter() - t0
        val = evaluate(model, val_loader, autocast, device)
        record = {"epoch": epoch, "train_loss": loss_sum / seen, "train_top1": 100 * correct / seen,
                  "val_loss": val["loss"], "val_top1": val["top1"], "val_top5": val["top5"],
                  "lr": optimizer.param_groups[0]["lr"], "images_per_s": seen / train_seconds,
                  "seconds": train_seconds, "eval_seconds": time.perf_counter() - t0 - train_seconds}
        metrics.append(record)
        append_jsonl(run_dir / "metrics.jsonl", record)
        say(f"epoch {epoch:>3}/{cfg.epochs}  train loss {record['train_loss']:.4f} acc {record['train_top1']:.2f}%  "
            f"held-out loss {val['loss']:.4f} acc {val['top1']:.2f}%  "
            f"{record['images_per_s']:,.0f} img/s  {train_seconds:.1f}s")

    model = model.to(memory_format=torch.contiguous_format)
    save_model(run_dir / MODEL_FILE, model, meta)
    plot_curves(metrics, run_dir / "curves.png", title=f"{cfg.model} on {cfg.data}")
    return TrainResult(run_dir, metrics, model.eval())
