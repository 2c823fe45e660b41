"""The training loop: data -> model -> optimizer, evaluated every epoch, into a run folder.

One function, :func:`train`, used by ``cnnlab train`` and by Python alike. It reads a
:class:`TrainConfig` (or a named recipe, or a run folder to resume), and leaves behind::

    RUN_DIR/config.json  metrics.jsonl  model.safetensors (last)  best.safetensors  curves.png
    RUN_DIR/checkpoint/last.safetensors (+ previous.safetensors)   exact-resume state

Three splits, one rule: training reports on and selects with the *validation* split only (carved
from the training images by the data layer); the official *test* split is read once, after the
last epoch, only with ``final_test`` - reported as test, never used for best.safetensors or
anything else. Without a validation split (``val_split=0``) nothing is selected.

Exact resume: the checkpoint holds the model, optimizer, scheduler and EMA state, every RNG
state, the epoch, the optimizer step and the position in the epoch's data order (which depends
only on (seed, epoch)), plus the running sums of the epoch's statistics. A run resumed from it
performs the same floating-point operations as an uninterrupted one (bitwise equal on CPU).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import runtime
from ..progress import bar_enabled
from ..data import BatchLoader, DataSplits, load_data
from ..errors import CnnlabError
from ..models import create_model
from ..runs import (MODEL_FILE, check_data_fingerprint, claim_run_dir, data_fingerprint, read_run_config,
                    save_model, write_json)
from . import distributed as ddp
from .callbacks import CallbackList, RunContext, build_callbacks
from .checkpoint import has_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .ema import ModelEMA
from .metrics import evaluate_sums, summarize, topk_correct
from .optim import build_optimizer, build_scheduler, total_steps
from .transfer import apply_freeze, input_normalization, set_frozen_eval

BEST_FILE = "best.safetensors"
# torch.compile pays for training only on dense, ResNet-class networks (perf-anchors 3.3: ResNet-18-CIFAR
# 1.07-1.17x over eager bf16; the airbench net 0.77x; LeNet-5 0.6-1.0x), and costs 20-40 s per shape.
COMPILE_MIN_MACS = 300e6
# what a resumed run may change (epochs/steps extend or shorten it; the rest does not touch the numbers)
RESUME_OVERRIDABLE = {"epochs", "steps", "progress", "threads", "device", "checkpoint_every", "overwrite",
                      "data"}  # the data may have moved (its content must not change)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict]
    model: nn.Module

    @property
    def final(self) -> dict:
        return self.metrics[-1]

    @property
    def best(self) -> dict | None:
        """The epoch of the best validation top-1 (None without a validation split)."""
        evaluated = [m for m in self.metrics if m.get("val_top1") is not None]
        return max(evaluated, key=lambda m: m["val_top1"]) if evaluated else None

    def __repr__(self) -> str:
        from ..notebook import short

        last = self.metrics[-1] if self.metrics else {}
        acc = f", held-out top-1 {last['val_top1']:.2f}%" if last.get("val_top1") is not None else ""
        return short(f"<TrainResult {getattr(self.model, 'model_name', type(self.model).__name__)}: "
                     f"{len(self.metrics)} epoch(s){acc}, run folder {self.run_dir}>")

    def _repr_html_(self) -> str:
        from ..notebook import metrics_table

        return metrics_table(self.metrics, f"run {self.run_dir}")


def default_run_dir(cfg: TrainConfig) -> Path:
    import re

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    data = re.sub(r"[^\w.-]+", "", cfg.data.split(":")[0]) or "data"
    model = cfg.model.rsplit(":", 1)[-1].rsplit(".", 1)[-1]  # an unregistered module: its class name
    return Path("runs") / f"{model}-{data}-{stamp}"


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


def split_heads(out) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(main logits, auxiliary logits) of a forward output: a tensor, or a (logits, *aux) named tuple
    (GoogLeNet / Inception-v3 in training mode with ``aux_logits=True``)."""
    if isinstance(out, torch.Tensor):
        return out, []
    return out[0], [a for a in out[1:] if a is not None]


def head_losses(out, target: torch.Tensor, aux_weight: float, label_smoothing: float = 0.0
                ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """(total loss to minimise, main-head loss, auxiliary-head losses) of one forward output.

    With auxiliary heads the total is the papers' main + ``aux_weight`` x (sum of the auxiliary
    losses): GoogLeNet 0.3 (Szegedy et al. 2015, section 5), Inception-v3 0.4; without, the main loss.
    """
    logits, aux = split_heads(out)
    main = F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)
    aux_losses = [F.cross_entropy(a.float(), target, label_smoothing=label_smoothing) for a in aux]
    total = main + aux_weight * sum(aux_losses) if aux_losses else main
    return total, main, aux_losses


def background_of(images: torch.Tensor) -> str:
    """``dark`` or ``light``: the typical border colour of the training images (for predict)."""
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., :, 0], images[..., :, -1]], dim=-1)
    return "dark" if border.float().mean() < 128 else "light"


def conv_linear_macs(model: nn.Module, image_shape: tuple[int, int, int]) -> tuple[int, bool]:
    """Multiply-adds of the convolutions and linear layers for one image, and whether any conv is depthwise."""
    total = 0
    depthwise = False

    def hook(mod, inp, out):
        nonlocal total, depthwise
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total += out.numel() * k
            depthwise |= mod.groups > 1 and mod.groups == mod.in_channels
        else:
            total += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *image_shape, device=next(model.parameters()).device))
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return total, depthwise


def should_compile(cfg: TrainConfig, model: nn.Module, image_shape, device: torch.device) -> tuple[bool, str]:
    if cfg.compile == "off":
        return False, ""
    if cfg.compile == "on":
        return True, "compile on"
    macs, depthwise = conv_linear_macs(model, image_shape)
    if device.type == "cuda":
        return True, "compile auto: on (GPU)"
    if macs >= COMPILE_MIN_MACS and not depthwise:
        return True, f"compile auto: on ({macs / 1e6:,.0f} MMAC/image, dense)"
    why = "depthwise convolutions" if depthwise else f"{macs / 1e6:,.1f} MMAC/image < {COMPILE_MIN_MACS / 1e6:.0f}"
    return False, f"compile auto: off ({why}: eager is as fast on CPU)"


def load_initial_weights(model: nn.Module, path: str) -> str:
    """``load_weights`` for a run's starting point; its warnings (a replaced classifier) become part of the report."""
    import warnings

    from ..models.weights import load_weights

    with warnings.catch_warnings():  # the report says the same (e.g. "dropped classifier ... new, untrained head")
        warnings.simplefilter("ignore")
        return str(load_weights(model, path))


def _load_config(run_dir: Path) -> tuple[dict, dict]:
    """(the run's settings, its ``resolved`` section)."""
    config = read_run_config(run_dir)
    return config, config.pop("resolved", None) or {}


def train(cfg: TrainConfig | None = None, *, dataset: DataSplits | None = None, recipe: str | None = None,
          resume: str | Path | None = None, data_changed: bool = False, callbacks: list | None = None,
          **overrides) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.data`` and write a run folder. Keyword overrides patch ``cfg``.

    ``recipe`` starts from a named recipe (``cnnlab recipes``) or a TOML file instead of the
    defaults; ``resume`` continues the run folder from its last checkpoint (the folder's
    config.json is the configuration; ``overrides`` may change e.g. ``progress`` or ``threads``).
    ``dataset`` passes already loaded splits (otherwise ``cfg.data`` is read with ``load_data``).
    ``model_args.KEY`` overrides patch one model argument. A resumed run refuses data other than
    it was trained on (a fingerprint in config.json) unless ``data_changed=True``.

    ``model`` may also be any ``nn.Module`` (trained as given), and ``data`` NumPy arrays / tensors
    ``(x, y)``, a torch ``Dataset`` or ``DataLoader``, or a dict of them by split
    (:mod:`cnnlab.train.inputs`). ``callbacks`` adds :class:`~cnnlab.train.callbacks.Callback`
    objects to the run's own (metrics.jsonl, ``log`` loggers, ``early_stop``, curves.png).
    """
    from . import inputs
    from .recipes import apply_overrides, load_recipe

    module = overrides.pop("model") if isinstance(overrides.get("model"), nn.Module) else None
    if isinstance(overrides.get("data"), str) or "data" not in overrides:
        given_data = None
    else:
        given_data = overrides.pop("data")

    if resume is not None:
        changed = sorted(set(k.replace("-", "_") for k in overrides) - RESUME_OVERRIDABLE)
        if changed:
            raise CnnlabError(f"a resumed run keeps its own settings; it cannot change {', '.join(changed)}",
                              f"on --resume only {', '.join(sorted(RESUME_OVERRIDABLE))} may change; start a new "
                              "run to train differently")
        resume = Path(resume)
        base, resolved = _load_config(resume)
        base["out"] = str(resume)
        if not has_checkpoint(resume):
            raise CnnlabError(f"{resume} holds no checkpoint to resume from",
                              "the run stopped before its first checkpoint; start it again with --overwrite")
        if module is None and resolved.get("model_source"):
            module = inputs.rebuild(resolved["model_source"], str(resume))
        if given_data is None and dataset is None and base["data"].startswith("<"):
            raise CnnlabError(f"{resume} was trained on Python objects ({base['data']}), which a run folder "
                              "does not keep", f"pass the same data again: cnnlab.fit(resume={str(resume)!r}, "
                              "data=...)")
    elif recipe is not None:
        if cfg is not None:
            raise CnnlabError("give either a TrainConfig or a recipe, not both",
                              "pass the changes to the recipe as keyword overrides")
        base = load_recipe(recipe).to_dict()
    else:
        base = (cfg or TrainConfig()).to_dict()
    if module is not None and resume is None:
        base["model"] = inputs.class_path(module)
        if base.get("model_args"):
            raise CnnlabError("model_args configure a registered model by name; a module is already built",
                              "drop model_args, or pass the model's name instead of the module")
    if given_data is not None:
        base["data"] = inputs.describe_input(given_data)
    cfg = TrainConfig.from_dict(apply_overrides(base, overrides)).validate()
    if given_data is not None:
        dataset = inputs.splits_from(given_data, cfg.data_options, progress=cfg.progress)
    return _Trainer(cfg, dataset, resume, data_changed, module, callbacks).run()


class NonFiniteLoss(CnnlabError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class _Trainer:
    def __init__(self, cfg: TrainConfig, dataset: DataSplits | None, resume: Path | None, data_changed: bool = False,
                 module: nn.Module | None = None, callbacks: list | None = None):
        self.cfg = cfg
        self.dataset = dataset
        self.resume = resume
        self.data_changed = data_changed
        self.module = module  # a user's network, trained as given (None: build cfg.model)
        self.extra_callbacks = callbacks

    # -- setup --------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg = self.cfg
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        threads = cfg.threads
        if not threads and ddp.env_info().enabled:
            # torchrun: share the cores between the processes on this machine (2 ranks x 2 threads on
            # 2 cores collapse at the OpenMP barriers)
            local = int(os.environ.get("LOCAL_WORLD_SIZE", ddp.env_info().world_size))
            threads = max(1, runtime.available_cores() // max(1, local))
        threads = runtime.configure(threads)
        device = runtime.pick_device(cfg.device)
        info = ddp.setup(device)
        device = ddp.device_for(device, info)
        try:
            with contextlib.ExitStack() as self._held:  # the run folder's lock, held for the run's life
                return self._run(threads, device, info)
        finally:
            ddp.teardown(info)
            if cfg.deterministic:
                torch.use_deterministic_algorithms(False)

    def _run(self, threads: int, device: torch.device, info: ddp.DistInfo) -> TrainResult:
        cfg = self.cfg
        precision = resolve_precision(cfg, device)
        torch.manual_seed(cfg.seed)
        main = info.is_main
        bars = bar_enabled(cfg.progress) and main  # bars only on a terminal: a log gets one line per epoch
        say = (tqdm.write if bars else (lambda text: print(text, flush=True))) if main else (lambda *_: None)

        data = self.dataset or load_data(cfg.data, cfg.data_options, **({} if "progress" in cfg.data_options
                                                                       else {"progress": bars}))
        say(data.describe())
        if cfg.final_test and not data.has_test:
            raise CnnlabError(f"final_test asks for the test split, but {cfg.data} has none",
                              "drop --test, or give a data set with a test split (imagefolder: PATH/test/CLASS/...)")
        if not len(data.val):
            say("no validation split: nothing is selected during training (no best.safetensors)"
                + ("; the test split is evaluated once at the end" if cfg.final_test else ""))
        c, h, w = data.train.image_shape
        if cfg.early_stop and not len(data.val):
            raise CnnlabError(f"early_stop={cfg.early_stop!r} needs a validation split, and this run has none",
                              "drop --early-stop, or keep a validation split (--val-split 0.1)")
        callback_list = build_callbacks(cfg, self.extra_callbacks)
        if self.module is not None:
            from .inputs import check_output, model_source

            model = self.module.to(device)
            check_output(model, (c, h, w), len(data.classes), device)
            source = model_source(model)
        else:
            model = create_model(cfg.model, num_classes=len(data.classes), in_chans=c, **cfg.model_args).to(device)
            source = None
        memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        model = model.to(memory_format=memory_format)
        n_params = sum(p.numel() for p in model.parameters())
        if cfg.init_weights and self.resume is None:  # on resume the checkpoint holds the weights
            say(f"initial weights: {load_initial_weights(model, cfg.init_weights)}")
        frozen = apply_freeze(model, cfg.freeze)
        if cfg.freeze == "backbone" and not cfg.init_weights:
            say("warning: --freeze backbone without --init-weights trains a classifier on random features "
                "(a linear probe needs pretrained weights: --init-weights FILE)")
        if frozen:
            n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
            say(f"frozen: {', '.join(frozen)}; {n_train:,} of {n_params:,} parameters train")
        mean, std, norm_from = input_normalization(cfg.normalize, data.mean, data.std, cfg.init_weights, c)

        world = info.world_size
        transform = None
        if cfg.augment:
            from ..data.transforms import parse_augment

            transform = parse_augment(cfg.augment, data.train.image_shape, stats=data)
        train_loader = BatchLoader(data.train, cfg.batch_size * world, mean, std, shuffle=True,
                                   drop_last=True, seed=cfg.seed, transform=transform,
                                   channels_last=cfg.channels_last)
        steps_per_epoch = len(train_loader) // cfg.accumulate
        if steps_per_epoch == 0:
            raise CnnlabError(f"a step needs {cfg.batch_size * world * cfg.accumulate} images (batch size x "
                              f"processes x accumulate) but the training split has {len(data.train)}",
                              "use a smaller --batch-size or --accumulate")
        total = total_steps(cfg, steps_per_epoch)
        epochs = math.ceil(total / steps_per_epoch)
        def eval_loader(split):  # DDP: each rank evaluates its shard; the sums are all-reduced
            part = split if not info.enabled else split.subset(torch.arange(info.rank, len(split), world))
            return BatchLoader(part, 500, mean, std, channels_last=cfg.channels_last)

        val_loader = eval_loader(data.val) if len(data.val) else None

        if self.resume is None and hasattr(model, "init_from_data") and not cfg.init_weights:
            # data-dependent initialisation (airbench's whitening layer: patch statistics of 5,000 images)
            model.init_from_data(train_loader.normalize(data.train.images[:5000]).to(device))
        ema = ModelEMA(model, cfg.ema, cfg.ema_every, cfg.ema_ramp, cfg.lookahead) if cfg.ema else None
        optimizer = build_optimizer(model, cfg)
        scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
        if info.enabled:
            torch.manual_seed(cfg.seed + 1_000_003 * info.rank)  # dropout differs between ranks

        # the run folder: rank 0 creates it and tells the others its name
        fingerprint = data_fingerprint(data)
        if self.resume is not None:
            run_dir = self._held.enter_context(claim_run_dir(self.resume, resume=True)) if main else self.resume
            if main:
                note = check_data_fingerprint(run_dir, fingerprint, self.data_changed)
                if note:
                    say(f"note: {note}")
        elif main:
            run_dir = self._held.enter_context(claim_run_dir(cfg.out or default_run_dir(cfg), cfg.overwrite))
        else:
            run_dir = None
        run_dir = Path(ddp.gather_objects(str(run_dir) if run_dir else None, info)[0])

        state = {"epoch": 1, "batch": 0, "step": 0, "sums": [0.0, 0.0, 0.0, 0.0], "metrics": [], "best": None}
        aux_weight = float(getattr(model, "aux_loss_weight", 0.3))
        if self.resume is not None:
            ckpt = load_checkpoint(run_dir)
            if ckpt["model_name"] != cfg.model:
                raise CnnlabError(f"{run_dir}/checkpoint is for {ckpt['model_name']}, the config says {cfg.model}")
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            if ema is not None:
                ema.load_state_dict(ckpt["ema"])
                ema.updates = ckpt["ema_updates"]
            rngs = ckpt["rng"]
            set_rng_state(rngs[info.rank] if info.rank < len(rngs) else rngs[0])
            state = ckpt["position"]
            say(f"resuming {run_dir} at epoch {state['epoch']}, step {state['step']:,} of {total:,}")

        do_compile, compile_note = should_compile(cfg, model, (c, h, w), device)
        model_module = None if source is not None else _registered_module(cfg.model)
        if main:
            write_json(run_dir / "config.json", {**cfg.to_dict(), "out": str(run_dir), "resolved": {
                "device": str(device), "threads": threads, "precision": precision, "params": n_params,
                "processes": world, "steps": total, "steps_per_epoch": steps_per_epoch, "epochs": epochs,
                "compile": do_compile, "augment": repr(transform) if transform else None,
                "classes": data.classes, "mean": mean, "std": std, "normalization": norm_from,
                "data_fingerprint": fingerprint,
                **({"model_source": source} if source else {}),
                **({"model_module": model_module} if model_module else {})}})
        say(f"model {cfg.model}: {n_params:,} parameters; device {device}, "
            f"{f'{world} processes x ' if world > 1 else ''}{threads} thread{'s' if threads > 1 else ''}, {precision}"
            f"{', channels-last' if cfg.channels_last else ''}{', ' + compile_note if compile_note else ''}")
        if do_compile:
            say("compiling the model (a one-off 20-40 s on 2 CPU cores)")
            model.compile()
        net = ddp.wrap(model, info, device, cfg.sync_bn)

        meta = {"model": cfg.model, "model_args": cfg.model_args, "classes": data.classes, "input_size": [c, h, w],
                "mean": mean, "std": std, "background": background_of(data.train.images),
                **({"model_source": source} if source else {}),
                **({"model_module": model_module} if model_module else {})}
        autocast = autocast_for(device, precision)
        n_cls = len(data.classes)
        mixing = cfg.mixup > 0 or cfg.cutmix > 0
        if mixing:
            from ..data.transforms import mix_batch
        micro_per_epoch = steps_per_epoch * cfg.accumulate
        # a random half of the images starts mirrored; all flip sides every epoch (fixed by the seed)
        flip_bits = torch.rand(len(data.train), generator=torch.Generator().manual_seed(cfg.seed + 77)) < 0.5
        global_batch = cfg.batch_size * world
        metrics: list[dict] = list(state["metrics"])
        best = state["best"]
        step = state["step"]
        params = [p for p in model.parameters() if p.requires_grad]
        # the callbacks: metrics.jsonl, curves.png, --log loggers, --early-stop, the caller's own
        cbs = CallbackList(callback_list, RunContext(run_dir, cfg, metrics, say, self.resume is not None), main)
        cbs.load_state_dict(state.get("callbacks", {}))
        cbs.train_start()

        def checkpoint(epoch: int, batch: int, sums: list[float], seconds: float) -> None:
            rngs = ddp.gather_objects(rng_state(), info)
            if not main:
                return
            position = {"epoch": epoch, "batch": batch, "step": step, "sums": sums, "seconds": seconds,
                        "metrics": metrics, "best": best, "callbacks": cbs.state_dict()}
            save_checkpoint(run_dir, {
                "model_name": cfg.model, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "ema": ema.state_dict() if ema is not None else None,
                "ema_updates": ema.updates if ema is not None else 0, "rng": rngs, "position": position})

        for epoch in range(state["epoch"], epochs + 1):
            if cbs.stopped:  # a resumed run that early stopping had already ended
                break
            cbs.epoch_start(epoch)
            start = state["batch"] if epoch == state["epoch"] else 0
            # [images, main-head loss, top-1 hits, unused, auxiliary head losses...]
            sums = list(state["sums"]) if epoch == state["epoch"] else [0.0, 0.0, 0.0, 0.0]
            seconds0 = state.get("seconds", 0.0) if epoch == state["epoch"] else 0.0
            if hasattr(model, "set_epoch"):
                model.set_epoch(epoch - 1)
            train_loader.set_epoch(epoch)
            order = train_loader.order() if cfg.alternating_flip else None
            net.train()
            set_frozen_eval(model, frozen)
            t0 = time.perf_counter()
            bar = tqdm(total=micro_per_epoch * global_batch, initial=start * global_batch, unit="img",
                       unit_scale=True, leave=False, desc=f"epoch {epoch}/{epochs}",
                       disable=not bars, dynamic_ncols=True)
            batch = start
            for x, y in train_loader.iter_from(start):
                if batch >= micro_per_epoch or step >= total:
                    break
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if order is not None:  # airbench's derandomised flip: image i mirrored in every other epoch
                    idx = order[batch * global_batch:(batch + 1) * global_batch]
                    x = torch.where(alternating_flip_mask(flip_bits, idx, epoch).to(device).view(-1, 1, 1, 1),
                                    x.flip(-1), x)
                target = y
                if mixing:
                    g = torch.Generator().manual_seed(cfg.seed * 15_485_863 + (epoch * 1_000_003 + batch))
                    x, target = mix_batch(x, y, n_cls, cfg.mixup, cfg.cutmix, g)
                    y = target.argmax(1)
                x, y, target = ddp.shard(x, info), ddp.shard(y, info), ddp.shard(target, info)
                last_micro = (batch + 1) % cfg.accumulate == 0
                sync = contextlib.nullcontext() if (last_micro or not info.enabled) else net.no_sync()
                with sync:
                    with autocast:
                        out = net(x)
                    loss, main_loss, aux_losses = head_losses(out, target, aux_weight, cfg.label_smoothing)
                    logits = split_heads(out)[0]  # the main head: accuracy and train_loss are its own
                    lv, n_correct = float(main_loss.detach()) * len(y), topk_correct(logits.detach(), y, (1,))[0]
                    aux_v = [float(a.detach()) * len(y) for a in aux_losses]
                    lv, n_correct, n_seen, *aux_v = ddp.all_sum([lv, n_correct, len(y), *aux_v], info, device)
                    if not math.isfinite(lv):
                        bar.close()
                        where = f"epoch {epoch}, step {step + 1}"
                        raise NonFiniteLoss(*nan_stop_message(lv / n_seen, where, run_dir, has_checkpoint(run_dir)))
                    (loss / cfg.accumulate).backward()
                old_aux = sums[4:] + [0.0] * (len(aux_v) - len(sums[4:]))
                sums = [sums[0] + n_seen, sums[1] + lv, sums[2] + n_correct, sums[3],
                        *(o + a for o, a in zip(old_aux, aux_v))]
                batch += 1
                bar.update(int(n_seen))
                bar.set_postfix(loss=f"{sums[1] / sums[0]:.4f}", acc=f"{100 * sums[2] / sums[0]:.2f}%",
                                refresh=False)
                if not last_micro:
                    continue
                if cfg.clip_grad:
                    torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                cbs.step_end(step, sums[1] / sums[0])
                if ema is not None and (epoch - 1) + batch / micro_per_epoch >= cfg.ema_start_epochs \
                        and step % cfg.ema_every == 0:
                    ema.update(model, 0.0 if ema.updates == 0 else ema.decay_at(step, total))
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total:
                    if batch < micro_per_epoch:
                        checkpoint(epoch, batch, sums, seconds0 + time.perf_counter() - t0)
            bar.close()
            if ema is not None and ema.lookahead and ema.updates:
                ema.copy_to(model)  # airbench: the epoch ends on the slow weights
            train_seconds = seconds0 + time.perf_counter() - t0
            t1 = time.perf_counter()
            eval_model = ema.module if (ema is not None and not ema.lookahead and ema.updates) else model
            last_epoch = epoch == epochs or step >= total
            evaluated = val_loader is not None and (last_epoch or (cfg.eval_every > 0 and epoch % cfg.eval_every == 0))
            tta = cfg.tta if last_epoch else "none"  # the views cost 2-6x an evaluation: final one only
            v = {"loss": None, "top1": None, "top5": None}
            if evaluated:
                v = summarize(ddp.all_sum(evaluate_sums(eval_model, val_loader, autocast, device, tta), info, device),
                              n_cls)
            seen = max(sums[0], 1)
            record = {"epoch": epoch, "step": step, "train_loss": sums[1] / seen, "train_top1": 100 * sums[2] / seen,
                      "val_loss": v["loss"], "val_top1": v["top1"], "val_top5": v["top5"],
                      "test_loss": None, "test_top1": None, "test_top5": None,
                      "lr": optimizer.param_groups[0]["lr"], "images_per_s": sums[0] / max(train_seconds, 1e-9),
                      "seconds": train_seconds, "eval_seconds": 0.0, "tta": None}
            stop_reason = cbs.stop_reason(record)  # decided on this epoch's validation numbers, before any test
            tested = (last_epoch or bool(stop_reason)) and cfg.final_test
            if tested:  # the test split, read now and only now; its numbers choose nothing
                t_ = summarize(ddp.all_sum(evaluate_sums(eval_model, eval_loader(data.test), autocast, device, tta),
                                           info, device), n_cls)
                record.update(test_loss=t_["loss"], test_top1=t_["top1"], test_top5=t_["top5"])
            record.update(eval_seconds=time.perf_counter() - t1, tta=tta if (evaluated or tested) else None)
            if len(sums) > 4:
                record["train_aux_loss"] = [a / seen for a in sums[4:]]
            metrics.append(record)
            if main and evaluated and (best is None or record["val_top1"] > best["val_top1"]):
                best = {"epoch": epoch, "val_top1": record["val_top1"]}
                save_model(run_dir / BEST_FILE, _plain(eval_model), {**meta, "epoch": epoch})
            finished = step >= total or bool(stop_reason)
            cbs.epoch_end(record)  # before the checkpoint, which saves the callbacks' states
            checkpoint(epoch + 1, 0, [0.0, 0.0, 0.0, 0.0], 0.0)
            aux_text = ("  aux loss " + "/".join(f"{a:.4f}" for a in record["train_aux_loss"])
                        if "train_aux_loss" in record else "")
            val_text = (f"val loss {v['loss']:.4f} acc {v['top1']:.2f}%" if evaluated
                        else "val: not evaluated (--eval-every)" if val_loader is not None else "val: none")
            say(f"epoch {epoch:>3}/{epochs}  train loss {record['train_loss']:.4f} acc {record['train_top1']:.2f}%"
                f"{aux_text}  {val_text}  {record['images_per_s']:,.0f} img/s  {train_seconds:.1f}s")
            if stop_reason:
                say(f"{stop_reason}: training stopped after epoch {epoch}")
            if tested:
                say(f"test loss {t_['loss']:.4f} acc {t_['top1']:.2f}% (the test split, evaluated once after "
                    "training; it chose nothing)")
            if finished:
                break

        final = _plain(ema.module if (ema is not None and not ema.lookahead and ema.updates) else model)
        final = final.to(memory_format=torch.contiguous_format)
        if info.enabled:  # every replica must hold the same weights: record each rank's digest
            digests = ddp.gather_objects(state_digest(final), info)
            if main:
                write_json(run_dir / "distributed.json", {"world_size": world, "backend": ddp.backend_name(),
                                                          "state_sha256": digests,
                                                          "in_sync": len(set(digests)) == 1})
                if len(set(digests)) != 1:
                    say("warning: the replicas' weights differ between ranks (see distributed.json)")
        if main:
            save_model(run_dir / MODEL_FILE, final, {**meta, "epoch": len(metrics)})
        cbs.train_end()
        ddp.barrier(info)
        return TrainResult(run_dir, metrics, final.eval())


def _registered_module(name: str) -> str | None:
    from .inputs import registered_module

    return registered_module(name)


def nan_stop_message(loss: float, where: str, run_dir: Path, checkpointed: bool) -> tuple[str, str]:
    """The message and hint of a NaN stop. Resuming replays the same steps bitwise and would diverge at
    the same step, so the hint is to start again with settings that change the numbers."""
    kept = (f"the last good checkpoint is kept in {run_dir / 'checkpoint'}, but resuming would replay the same "
            "steps and stop here again" if checkpointed else "no checkpoint had been written yet")
    return (f"the loss became {loss} at {where}: training stopped ({kept})",
            f"start the run again with a lower learning rate (e.g. --lr of half the current one), --clip-grad 1.0, "
            f"a warm-up (--warmup-epochs 1) or --precision fp32; add --overwrite --out {run_dir} to reuse the folder")


def alternating_flip_mask(bits: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
    """Which images of a batch are mirrored in ``epoch`` (1-based): those whose bit is set in odd epochs,
    the others in even ones - every image is seen both ways, alternately (airbench, Jordan 2024)."""
    return bits[index] ^ (epoch % 2 == 0)


def state_digest(model: nn.Module) -> str:
    """SHA-256 of a model's state dict (names, dtypes, shapes and bytes), to compare replicas."""
    import hashlib

    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        t = v.detach().cpu().contiguous()
        h.update(f"{k}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _plain(model: nn.Module) -> nn.Module:
    """The module itself, without a DDP wrapper."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
