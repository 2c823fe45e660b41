"""The training loop: data -> model -> optimizer, evaluated every epoch, into a run folder.

One function, :func:`train`, used by ``cnnlab train`` and by Python alike. It reads a
:class:`TrainConfig` (or a named recipe, or a run folder to resume), and leaves behind::

    RUN_DIR/config.json  metrics.jsonl  model.safetensors (last)  best.safetensors  curves.png
    RUN_DIR/checkpoint/last.safetensors (+ previous.safetensors)   exact-resume state

Three splits, one rule: training reports on and selects with the *validation* split only (carved
from the training images by the data layer); the official *test* split is read once, after the
last epoch, only with ``final_test`` - reported as test, never used for best.safetensors or
anything else. Without a validation split (``val_split=0``) nothing is selected.

The loop is :class:`_Trainer`: ``setup`` builds the state once; ``fit`` runs ``train_epoch``
(``train_step`` per batch), ``evaluate``, ``keep_best``, ``save_checkpoint`` per epoch; ``restore``
and ``finish`` bracket it. Everything that depends on what the network predicts is asked of a
:class:`~cnnlab.train.task.Task`; the running sums are read on the host only when logged
(:mod:`cnnlab.train.state`).

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
from tqdm.auto import tqdm

from .. import runtime
from ..data import DataSplits, load_data
from ..data.loader import alternating_flip_mask  # noqa: F401 - where the tests and older code import it from
from ..errors import CnnlabError
from ..progress import bar_enabled
from ..runs import (
    MODEL_FILE,
    check_data_fingerprint,
    claim_run_dir,
    data_fingerprint,
    read_run_config,
    save_model,
    write_json,
)
from . import distributed as ddp
from .callbacks import CallbackList, RunContext, build_callbacks
from .checkpoint import has_checkpoint, load_checkpoint, rng_state, set_rng_state
from .checkpoint import save_checkpoint as write_checkpoint
from .config import TrainConfig
from .ema import ModelEMA
from .optim import build_optimizer, build_scheduler, total_steps
from .state import SYNC_EVERY, NonFiniteLoss, RunningSums, nan_stop_message
from .task import check_model_task, head_losses, split_heads, task_for  # noqa: F401 - head_losses, split_heads: re-exported
from .transfer import apply_freeze, input_normalization, set_frozen_eval

BEST_FILE = "best.safetensors"
# torch.compile pays for training only on dense, ResNet-class networks (perf-anchors 3.3: ResNet-18-CIFAR
# 1.07-1.17x over eager bf16; the airbench net 0.77x; LeNet-5 0.6-1.0x), and costs 20-40 s per shape.
COMPILE_MIN_MACS = 300e6
# what a resumed run may change (epochs/steps extend or shorten it; the rest does not touch the numbers)
RESUME_OVERRIDABLE = {
    "epochs",
    "steps",
    "progress",
    "threads",
    "device",
    "checkpoint_every",
    "overwrite",
    "data",
}  # the data may have moved (its content must not change)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict]
    model: nn.Module
    monitor: str = "top1"  # the task's validation number that picks the best epoch

    @property
    def final(self) -> dict:
        return self.metrics[-1]

    @property
    def best(self) -> dict | None:
        """The epoch of the best validation number (top-1 for classification; None without a validation split)."""
        key = f"val_{self.monitor}"
        evaluated = [m for m in self.metrics if m.get(key) is not None]
        return max(evaluated, key=lambda m: m[key]) if evaluated else None

    def __repr__(self) -> str:
        from ..notebook import short

        last = self.metrics[-1] if self.metrics else {}
        value = last.get(f"val_{self.monitor}")
        if value is None:
            acc = ""
        elif self.monitor == "top1":
            acc = f", held-out top-1 {value:.2f}%"
        else:
            acc = f", held-out {self.monitor} {value:.4f}"
        return short(
            f"<TrainResult {getattr(self.model, 'model_name', type(self.model).__name__)}: "
            f"{len(self.metrics)} epoch(s){acc}, run folder {self.run_dir}>"
        )

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


def background_of(split) -> str:
    """``dark`` or ``light``: the typical border colour of the training images (for predict); of an
    evenly spaced sample of 2,000 of them when they are streamed (read from disk)."""
    images = split.images
    if getattr(split, "streamed", False):
        images = images[torch.linspace(0, len(split) - 1, min(len(split), 2000)).round().long().unique()]
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., :, 0], images[..., :, -1]], dim=-1)
    return "dark" if border.float().mean() < 128 else "light"


def model_macs(model: nn.Module, image_shape: tuple[int, int, int]) -> tuple[int, bool]:
    """Multiply-adds of one image, as the analyzer counts them (``cnnlab summary``, on the meta device:
    nothing is computed and the model is left as it is), and whether any convolution is depthwise."""
    from ..analysis import summary

    macs = summary(model, input_size=tuple(image_shape), device="meta").macs
    depthwise = any(isinstance(m, nn.Conv2d) and 1 < m.groups == m.in_channels for m in model.modules())
    return macs, depthwise


def should_compile(cfg: TrainConfig, model: nn.Module, image_shape, device: torch.device) -> tuple[bool, str]:
    if cfg.compile == "off":
        return False, ""
    if cfg.compile == "on":
        return True, "compile on"
    macs, depthwise = model_macs(model, image_shape)
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


def _given_objects(overrides: dict) -> tuple[nn.Module | None, object | None]:
    """A built module and Python data passed as ``model=`` / ``data=`` overrides, taken out of ``overrides``."""
    module = overrides.pop("model") if isinstance(overrides.get("model"), nn.Module) else None
    if isinstance(overrides.get("data"), str) or "data" not in overrides:
        given_data = None
    else:
        given_data = overrides.pop("data")
    return module, given_data


def _resumed_settings(
    resume: Path, overrides: dict, module: nn.Module | None, given_data, dataset: DataSplits | None
) -> tuple[dict, nn.Module | None]:
    """A resumed run's own settings (and its module rebuilt from its source), after checking it can resume."""
    from . import inputs

    changed = sorted(set(k.replace("-", "_") for k in overrides) - RESUME_OVERRIDABLE)
    if changed:
        raise CnnlabError(
            f"a resumed run keeps its own settings; it cannot change {', '.join(changed)}",
            f"on --resume only {', '.join(sorted(RESUME_OVERRIDABLE))} may change; start a new "
            "run to train differently",
        )
    base, resolved = _load_config(resume)
    base["out"] = str(resume)
    if not has_checkpoint(resume):
        raise CnnlabError(
            f"{resume} holds no checkpoint to resume from",
            "the run stopped before its first checkpoint; start it again with --overwrite",
        )
    if module is None and resolved.get("model_source"):
        module = inputs.rebuild(resolved["model_source"], str(resume))
    if given_data is None and dataset is None and base["data"].startswith("<"):
        raise CnnlabError(
            f"{resume} was trained on Python objects ({base['data']}), which a run folder does not keep",
            f"pass the same data again: cnnlab.fit(resume={str(resume)!r}, data=...)",
        )
    return base, module


def _base_settings(
    cfg: TrainConfig | None,
    recipe: str | None,
    resume: Path | None,
    overrides: dict,
    module: nn.Module | None,
    given_data,
    dataset: DataSplits | None,
) -> tuple[dict, nn.Module | None]:
    """The settings the overrides patch (a resumed run's, a recipe's, ``cfg`` or the defaults), with a given
    module and data described in them; and the module to train (None: build ``model`` by name)."""
    from . import inputs
    from .recipes import load_recipe

    if resume is not None:
        base, module = _resumed_settings(resume, overrides, module, given_data, dataset)
    elif recipe is not None:
        if cfg is not None:
            raise CnnlabError(
                "give either a TrainConfig or a recipe, not both", "pass the changes to the recipe as keyword overrides"
            )
        base = load_recipe(recipe).to_dict()
    else:
        base = (cfg or TrainConfig()).to_dict()
    if module is not None and resume is None:
        base["model"] = inputs.class_path(module)
        if base.get("model_args"):
            raise CnnlabError(
                "model_args configure a registered model by name; a module is already built",
                "drop model_args, or pass the model's name instead of the module",
            )
    if given_data is not None:
        base["data"] = inputs.describe_input(given_data)
    return base, module


def train(
    cfg: TrainConfig | None = None,
    *,
    dataset: DataSplits | None = None,
    recipe: str | None = None,
    resume: str | Path | None = None,
    data_changed: bool = False,
    callbacks: list | None = None,
    **overrides,
) -> TrainResult:
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
    from .recipes import apply_overrides

    module, given_data = _given_objects(overrides)
    resume = Path(resume) if resume is not None else None
    base, module = _base_settings(cfg, recipe, resume, overrides, module, given_data, dataset)
    cfg = TrainConfig.from_dict(apply_overrides(base, overrides)).validate()
    restarted = _elastic_restart(cfg) if resume is None else None
    if restarted == "resume":  # torchrun restarted the group: continue the folder this run was writing
        return train(
            resume=cfg.out,
            dataset=dataset,
            data_changed=data_changed,
            callbacks=callbacks,
            progress=cfg.progress,
            **({"model": module} if module is not None else {}),
            **({"data": given_data} if given_data is not None else {}),
        )
    if restarted == "again":  # restarted before its first checkpoint: the folder is this run's own
        cfg.overwrite = True
    if given_data is not None:
        dataset = inputs.splits_from(given_data, cfg.data_options, progress=cfg.progress)
    return _Trainer(cfg, dataset, resume, data_changed, module, callbacks).run()


def _elastic_restart(cfg: TrainConfig) -> str | None:
    """Under ``torchrun --max-restarts``: ``resume`` when ``cfg.out`` is the folder this torchrun job
    (its rendezvous id) was writing and holds a checkpoint, ``again`` when it has none yet, else None.

    The folder decides, not ``TORCHELASTIC_RESTART_COUNT``: torchrun restarts the processes of a
    healthy machine with the count unchanged. A checkpoint needs every rank, so no rank can find
    one its own attempt wrote: all ranks decide alike."""
    if not ddp.elastic():
        return None
    if not cfg.out:
        raise CnnlabError(
            "torchrun --max-restarts needs a run folder that a restarted group finds again",
            "pass --out DIR on a file system every machine sees",
        )
    try:
        recorded = read_run_config(cfg.out).get("resolved", {}).get("elastic_run_id")
    except (CnnlabError, OSError, ValueError):
        return None
    if recorded is None or recorded != ddp.elastic_run_id():
        return None
    return "resume" if has_checkpoint(cfg.out) else "again"


FRESH = {"epoch": 1, "batch": 0, "step": 0, "sums": {}, "metrics": [], "best": None}


class _Trainer:
    """One run, in nanoGPT's shape: :meth:`setup` builds the state once, :meth:`fit` is the loop::

        for epoch:  train_epoch (train_step per batch)  ->  evaluate  ->  best weights, save_checkpoint
        finish:     the final weights, the replicas' digests (DDP), the callbacks' end

    Everything that depends on what the network predicts (model, loaders, loss, the numbers logged,
    the number that picks best.safetensors) is asked of ``self.task`` (:mod:`cnnlab.train.task`).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        dataset: DataSplits | None,
        resume: Path | None,
        data_changed: bool = False,
        module: nn.Module | None = None,
        callbacks: list | None = None,
    ):
        self.cfg = cfg
        self.dataset = dataset
        self.resume = resume
        self.data_changed = data_changed
        self.module = module  # a user's network, trained as given (None: build cfg.model)
        self.extra_callbacks = callbacks

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
                self.setup(threads, device, info)
                return self.fit()
        finally:
            ddp.teardown(info)
            if cfg.deterministic:
                torch.use_deterministic_algorithms(False)

    # -- setup: everything the loop needs, built once (this order fixes the random numbers) --------
    def setup(self, threads: int, device: torch.device, info: ddp.DistInfo) -> None:
        cfg = self.cfg
        self.device, self.info, self.main, self.world = device, info, info.is_main, info.world_size
        self.precision = resolve_precision(cfg, device)
        torch.manual_seed(cfg.seed)
        self.bars = bar_enabled(cfg.progress) and self.main  # bars only on a terminal: a log gets a line per epoch
        if self.main:
            self.say = tqdm.write if self.bars else (lambda text: print(text, flush=True))
        else:
            self.say = lambda *_: None
        self.setup_data()
        callback_list = build_callbacks(cfg, self.extra_callbacks)
        self.setup_model()
        self.setup_loaders()
        threads = self.compute_threads(threads)
        self.ema = ModelEMA(self.model, cfg.ema, cfg.ema_every, cfg.ema_ramp, cfg.lookahead) if cfg.ema else None
        self.optimizer = build_optimizer(self.model, cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        if info.enabled:
            torch.manual_seed(cfg.seed + 1_000_003 * info.rank)  # dropout differs between ranks
        self.setup_run_dir()
        self.pos = self.restore() if self.resume is not None else dict(FRESH)
        do_compile, compile_note = should_compile(cfg, self.model, self.data.train.image_shape, device)
        self.write_config(threads, do_compile)
        self.say(
            f"model {cfg.model}: {self.n_params:,} parameters; device {device}, "
            f"{f'{self.world} processes x ' if self.world > 1 else ''}{threads} "
            f"thread{'s' if threads > 1 else ''}, {self.precision}"
            f"{', channels-last' if cfg.channels_last else ''}{', ' + compile_note if compile_note else ''}"
        )
        if do_compile:
            self.say("compiling the model (a one-off 20-40 s on 2 CPU cores)")
            self.model.compile()
        self.net = ddp.wrap(self.model, info, device, cfg.sync_bn)
        self.autocast = autocast_for(device, self.precision)
        self.metrics: list[dict] = list(self.pos["metrics"])
        self.best, self.step = self.pos["best"], self.pos["step"]
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        # the callbacks: metrics.jsonl, curves.png, --log loggers, --early-stop, the caller's own
        self.cbs = CallbackList(
            callback_list,
            RunContext(self.run_dir, cfg, self.metrics, self.say, self.resume is not None, self.task.monitor),
            self.main,
        )
        self.cbs.load_state_dict(self.pos.get("callbacks", {}))
        self.cbs.train_start()

    def setup_data(self) -> None:
        cfg = self.cfg
        options = {} if "progress" in cfg.data_options else {"progress": self.bars}
        with ddp.local_leaders_first(self.info):  # the first process on each machine fills the decode cache
            data = self.data = self.dataset or load_data(cfg.data, cfg.data_options, **options)
        self.say(data.describe())
        self.task = task_for(cfg.task, data)
        if cfg.final_test and not data.has_test:
            raise CnnlabError(
                f"final_test asks for the test split, but {cfg.data} has none",
                "drop --test, or give a data set with a test split (imagefolder: PATH/test/CLASS/...)",
            )
        if not len(data.val):
            self.say(
                "no validation split: nothing is selected during training (no best.safetensors)"
                + ("; the test split is evaluated once at the end" if cfg.final_test else "")
            )
        if cfg.early_stop and not len(data.val):
            raise CnnlabError(
                f"early_stop={cfg.early_stop!r} needs a validation split, and this run has none",
                "drop --early-stop, or keep a validation split (--val-split 0.1)",
            )

    def setup_model(self) -> None:
        cfg, data, task = self.cfg, self.data, self.task
        if self.module is not None:
            from .inputs import model_source

            model = self.module.to(self.device)
            task.check_model(model, cfg, data, self.device)
            self.source = model_source(model)
        else:
            model = task.build_model(cfg, data, data.train.image_shape[0]).to(self.device)
            self.source = None
        check_model_task(model, task)
        model = model.to(memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)
        self.n_params = sum(p.numel() for p in model.parameters())
        if cfg.init_weights and self.resume is None:  # on resume the checkpoint holds the weights
            self.say(f"initial weights: {load_initial_weights(model, cfg.init_weights)}")
        self.frozen = apply_freeze(model, cfg.freeze)
        if cfg.freeze == "backbone" and not cfg.init_weights:
            self.say(
                "warning: --freeze backbone without --init-weights trains a classifier on random features "
                "(a linear probe needs pretrained weights: --init-weights FILE)"
            )
        if self.frozen:
            n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
            self.say(f"frozen: {', '.join(self.frozen)}; {n_train:,} of {self.n_params:,} parameters train")
        self.mean, self.std, self.norm_from = input_normalization(
            cfg.normalize, data.mean, data.std, cfg.init_weights, data.train.image_shape[0]
        )
        self.model = model

    def setup_loaders(self) -> None:
        cfg, data = self.cfg, self.data
        self.transform = None
        if cfg.augment and getattr(self.task, "batch_augment", True):  # detection parses its own (box-aware)
            from ..data.transforms import parse_augment

            own = getattr(self.task, "parse_augment", None)  # a task with its own augmentation (segment: joint)
            self.transform = own(cfg.augment) if own else parse_augment(cfg.augment, data.train.image_shape, stats=data)
        global_batch = cfg.batch_size * self.world
        self.train_loader = self.task.train_loader(data, cfg, self.mean, self.std, global_batch, self.transform)
        self.sharded = getattr(self.train_loader, "sharded", False)
        self.steps_per_epoch = len(self.train_loader) // cfg.accumulate
        if self.steps_per_epoch == 0:
            raise CnnlabError(
                f"a step needs {global_batch * cfg.accumulate} images (batch size x "
                f"processes x accumulate) but the training split has {len(data.train)}",
                "use a smaller --batch-size or --accumulate",
            )
        self.total = total_steps(cfg, self.steps_per_epoch)
        self.epochs = math.ceil(self.total / self.steps_per_epoch)
        self.micro_per_epoch = self.steps_per_epoch * cfg.accumulate
        self.val_loader = self.task.eval_loader(data.val, self.mean, self.std, cfg) if len(data.val) else None
        if self.resume is None and hasattr(self.model, "init_from_data") and not cfg.init_weights:
            # data-dependent initialisation (airbench's whitening layer: patch statistics of 5,000 images)
            self.model.init_from_data(self.train_loader.normalize(data.train.images[:5000]).to(self.device))

    def compute_threads(self, threads: int) -> int:
        """The compute threads once the loader's worker processes (a streamed data set) have their cores."""
        workers = getattr(self.train_loader, "workers", 0)
        if not workers or self.cfg.threads:
            return threads
        return runtime.configure(max(1, threads - workers))

    def setup_run_dir(self) -> None:
        """The run folder: rank 0 claims it (locked for the run's life) and tells the others its name."""
        self.fingerprint = data_fingerprint(self.data)
        run_dir = None
        if self.resume is not None:
            run_dir = self._held.enter_context(claim_run_dir(self.resume, resume=True)) if self.main else self.resume
            note = check_data_fingerprint(run_dir, self.fingerprint, self.data_changed) if self.main else None
            if note:
                self.say(f"note: {note}")
        elif self.main:
            run_dir = self._held.enter_context(
                claim_run_dir(self.cfg.out or default_run_dir(self.cfg), self.cfg.overwrite)
            )
        self.run_dir = Path(ddp.gather_objects(str(run_dir) if run_dir else None, self.info)[0])

    def write_config(self, threads: int, compiled: bool) -> None:
        """config.json (the settings and what they resolved to) and the metadata saved beside the weights."""
        cfg, data = self.cfg, self.data
        model_module = None if self.source is not None else _registered_module(cfg.model)
        origin = {
            **({"model_source": self.source} if self.source else {}),
            **({"model_module": model_module} if model_module else {}),
        }
        if self.main:
            write_json(
                self.run_dir / "config.json",
                {
                    **cfg.to_dict(),
                    "out": str(self.run_dir),
                    "resolved": {
                        "device": str(self.device),
                        "threads": threads,
                        "precision": self.precision,
                        "params": self.n_params,
                        "processes": self.world,
                        "steps": self.total,
                        "steps_per_epoch": self.steps_per_epoch,
                        "epochs": self.epochs,
                        "compile": compiled,
                        "augment": repr(self.transform) if self.transform else None,
                        "classes": data.classes,
                        "mean": self.mean,
                        "std": self.std,
                        "normalization": self.norm_from,
                        "data_fingerprint": self.fingerprint,
                        **origin,
                        "task": self.task.name,
                        **({"elastic_run_id": ddp.elastic_run_id()} if ddp.elastic() else {}),
                    },
                },
            )
        self.meta = {
            "model": cfg.model,
            "model_args": cfg.model_args,
            "classes": data.classes,
            "input_size": list(data.train.image_shape),
            "mean": self.mean,
            "std": self.std,
            "background": background_of(data.train),
            **origin,
            **self.task.weights_meta(),
        }

    # -- the loop -----------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Epochs of steps; after each, evaluation, the best weights and a checkpoint."""
        for epoch in range(self.pos["epoch"], self.epochs + 1):
            if self.cbs.stopped:  # a resumed run that early stopping had already ended
                break
            seconds = self.train_epoch(epoch)
            record, stop_reason = self.evaluate(epoch, seconds)
            self.metrics.append(record)
            self.keep_best(epoch, record)
            self.cbs.epoch_end(record)  # before the checkpoint, which saves the callbacks' states
            self.save_checkpoint(epoch + 1, 0, {}, 0.0)
            self.report(epoch, record, stop_reason, seconds)
            if self.step >= self.total or stop_reason:
                break
        return self.finish()

    def train_epoch(self, epoch: int) -> float:
        """One pass over the training split (a resumed epoch from its checkpoint's batch); its seconds."""
        self.cbs.epoch_start(epoch)
        resumed = epoch == self.pos["epoch"]
        start = self.pos["batch"] if resumed else 0
        self.sums = RunningSums(self.pos["sums"] if resumed else None)
        self.seconds0 = self.pos.get("seconds", 0.0) if resumed else 0.0
        if hasattr(self.model, "set_epoch"):
            self.model.set_epoch(epoch - 1)
        self.train_loader.set_epoch(epoch)
        self.net.train()
        set_frozen_eval(self.model, self.frozen)
        self.t0 = time.perf_counter()
        global_batch = self.cfg.batch_size * self.world
        with tqdm(
            total=self.micro_per_epoch * global_batch,
            initial=start * global_batch,
            unit="img",
            unit_scale=True,
            leave=False,
            desc=f"epoch {epoch}/{self.epochs}",
            disable=not self.bars,
            dynamic_ncols=True,
        ) as self.bar:
            batch = start
            for x, target in self.train_loader.iter_from(start):
                if batch >= self.micro_per_epoch or self.step >= self.total:
                    break
                batch += 1
                self.train_step(epoch, batch, x, target)
                self.bar.update(global_batch)
                if batch % SYNC_EVERY == 0:
                    self.sync_sums()
            self.sync_sums()
        if self.ema is not None and self.ema.lookahead and self.ema.updates:
            self.ema.copy_to(self.model)  # airbench: the epoch ends on the slow weights
        return self.seconds0 + time.perf_counter() - self.t0

    def train_step(self, epoch: int, batch: int, x, target) -> None:
        """Micro-batch ``batch`` (1-based): forward, the task's loss, backward; every ``accumulate``-th,
        an optimizer step (clipping, schedule, EMA, a checkpoint every ``checkpoint_every`` steps)."""
        cfg = self.cfg
        x, target = _to(x, self.device), _to(target, self.device)
        if not self.sharded:  # a streamed loader reads only this rank's rows
            x, target = ddp.shard(x, self.info), ddp.shard(target, self.info)
        last_micro = batch % cfg.accumulate == 0
        sync = contextlib.nullcontext() if (last_micro or not self.info.enabled) else self.net.no_sync()
        with sync:
            with self.autocast:
                out = self.net(x)
            loss, sums = self.task.loss(out, target)
            (loss / cfg.accumulate).backward()
        self.sums.add(sums, (epoch, self.step + 1))
        if not last_micro:
            return
        if cfg.clip_grad:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.clip_grad)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        if self.cbs.wants_steps:  # a callback listens to every step: read the running loss now
            self.sync_sums()
            self.cbs.step_end(self.step, self.task.train_record(self.sums.totals)["loss"])
        if (
            self.ema is not None
            and (epoch - 1) + batch / self.micro_per_epoch >= cfg.ema_start_epochs
            and self.step % cfg.ema_every == 0
        ):
            self.ema.update(self.model, 0.0 if self.ema.updates == 0 else self.ema.decay_at(self.step, self.total))
        if (
            cfg.checkpoint_every
            and self.step % cfg.checkpoint_every == 0
            and self.step < self.total
            and batch < self.micro_per_epoch
        ):
            self.sync_sums()  # the NaN guard first: a checkpoint holds only weights from finite losses
            self.save_checkpoint(epoch, batch, self.sums.totals, self.seconds0 + time.perf_counter() - self.t0)
        ddp.fail_if_asked(self.step, self.info)  # a test hook: a process lost here (docs/distributed.md)

    def sync_sums(self) -> None:
        """Read the running sums on the host (all ranks together); stop if a batch's loss is not finite."""
        bad = self.sums.sync(lambda t: ddp.all_reduce_(t, self.info))
        if bad is not None:
            loss, (epoch, step) = bad
            raise NonFiniteLoss(
                *nan_stop_message(loss, f"epoch {epoch}, step {step}", self.run_dir, has_checkpoint(self.run_dir))
            )
        if self.bars and self.sums.totals:
            shown = self.task.train_record(self.sums.totals)
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in shown.items() if isinstance(v, float)}, refresh=False)

    def eval_model(self) -> nn.Module:
        """The weights that are evaluated and saved: the EMA's where it averages, else the model's."""
        ema = self.ema
        return ema.module if (ema is not None and not ema.lookahead and ema.updates) else self.model

    def evaluate(self, epoch: int, seconds: float) -> tuple[dict, str]:
        """The epoch's line of metrics.jsonl: its training numbers, the validation numbers (every
        ``eval_every`` epochs and after the last) and, with ``final_test``, the test split's after the
        last epoch - decided after early stopping has seen the validation numbers; it chooses nothing."""
        cfg, task = self.cfg, self.task
        t1 = time.perf_counter()
        model = self.eval_model()
        last = epoch == self.epochs or self.step >= self.total
        evaluated = self.val_loader is not None and (last or (cfg.eval_every > 0 and epoch % cfg.eval_every == 0))
        tta = cfg.tta if last else "none"  # the views cost 2-6x an evaluation: final one only
        val = self.evaluate_split(model, self.val_loader, tta) if evaluated else dict.fromkeys(task.metrics)
        train = task.train_record(self.sums.totals)
        scalars = {k: v for k, v in train.items() if not isinstance(v, list)}
        record = {
            "epoch": epoch,
            "step": self.step,
            **_prefixed("train", scalars),
            **_prefixed("val", val),
            **_prefixed("test", dict.fromkeys(task.metrics)),
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": self.sums.totals.get("seen", 0.0) / max(seconds, 1e-9),
            "seconds": seconds,
            "eval_seconds": 0.0,
            "tta": None,
        }
        stop_reason = self.cbs.stop_reason(record)  # decided on this epoch's validation numbers, before any test
        tested = (last or bool(stop_reason)) and cfg.final_test
        if tested:  # the test split, read now and only now; its numbers choose nothing
            test_loader = task.eval_loader(self.data.test, self.mean, self.std, cfg)
            record.update(_prefixed("test", self.evaluate_split(model, test_loader, tta)))
        record.update(eval_seconds=time.perf_counter() - t1, tta=tta if (evaluated or tested) else None)
        record.update(_prefixed("train", {k: v for k, v in train.items() if k not in scalars}))  # per-head lists last
        return record, stop_reason

    def evaluate_split(self, model: nn.Module, loader, tta: str) -> dict:
        extra = {"tta": tta} if tta != "none" else {}  # test-time views: the tasks whose evaluate() takes them
        return self.task.evaluate(model, loader, self.autocast, self.device, **extra)

    def keep_best(self, epoch: int, record: dict) -> None:
        """best.safetensors: the weights of the epoch with the highest ``val_<monitor>`` so far."""
        key = f"val_{self.task.monitor}"
        if self.main and record.get(key) is not None and (self.best is None or record[key] > self.best[key]):
            self.best = {"epoch": epoch, key: record[key]}
            save_model(self.run_dir / BEST_FILE, _plain(self.eval_model()), {**self.meta, "epoch": epoch})

    def save_checkpoint(self, epoch: int, batch: int, sums: dict, seconds: float) -> None:
        """The exact-resume checkpoint: the next micro-batch is ``batch`` of ``epoch``."""
        rngs = ddp.gather_objects(rng_state(), self.info)
        if not self.main:
            return
        position = {
            "epoch": epoch,
            "batch": batch,
            "step": self.step,
            "sums": dict(sums),
            "seconds": seconds,
            "metrics": self.metrics,
            "best": self.best,
            "callbacks": self.cbs.state_dict(),
        }
        ema = self.ema
        write_checkpoint(
            self.run_dir,
            {
                "model_name": self.cfg.model,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "ema": ema.state_dict() if ema is not None else None,
                "ema_updates": ema.updates if ema is not None else 0,
                "rng": rngs,
                "position": position,
            },
        )

    def restore(self) -> dict:
        """Load the run folder's checkpoint into the model, optimizer, schedule, EMA and RNGs; its position."""
        ckpt = load_checkpoint(self.run_dir)
        if ckpt["model_name"] != self.cfg.model:
            raise CnnlabError(
                f"{self.run_dir}/checkpoint is for {ckpt['model_name']}, the config says {self.cfg.model}"
            )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(ckpt["ema"])
            self.ema.updates = ckpt["ema_updates"]
        rngs = ckpt["rng"]
        set_rng_state(rngs[self.info.rank] if self.info.rank < len(rngs) else rngs[0])
        pos = ckpt["position"]
        self.say(f"resuming {self.run_dir} at epoch {pos['epoch']}, step {pos['step']:,} of {self.total:,}")
        return pos

    def report(self, epoch: int, record: dict, stop_reason: str, seconds: float) -> None:
        """The epoch's line (and the test split's, once) on the terminal or log."""
        describe = self.task.describe
        val, test = _split_of(record, "val"), _split_of(record, "test")
        val_text = (
            f"val {describe(val)}"
            if any(v is not None for v in val.values())
            else "val: not evaluated (--eval-every)"
            if self.val_loader is not None
            else "val: none"
        )
        self.say(
            f"epoch {epoch:>3}/{self.epochs}  train {describe(_split_of(record, 'train'))}  {val_text}  "
            f"{record['images_per_s']:,.0f} img/s  {seconds:.1f}s"
        )
        if stop_reason:
            self.say(f"{stop_reason}: training stopped after epoch {epoch}")
        if any(v is not None for v in test.values()):
            self.say(f"test {describe(test)} (the test split, evaluated once after training; it chose nothing)")

    def finish(self) -> TrainResult:
        """model.safetensors (the EMA's weights where it averages); under DDP each replica's digest."""
        final = _plain(self.eval_model()).to(memory_format=torch.contiguous_format)
        if self.info.enabled:  # every replica must hold the same weights: record each rank's digest
            digests = ddp.gather_objects(state_digest(final), self.info)
            if self.main:
                write_json(
                    self.run_dir / "distributed.json",
                    {
                        "world_size": self.world,
                        "backend": ddp.backend_name(),
                        "state_sha256": digests,
                        "in_sync": len(set(digests)) == 1,
                    },
                )
                if len(set(digests)) != 1:
                    self.say("warning: the replicas' weights differ between ranks (see distributed.json)")
        if self.main:
            save_model(self.run_dir / MODEL_FILE, final, {**self.meta, "epoch": len(self.metrics)})
        self.cbs.train_end()
        ddp.barrier(self.info)
        return TrainResult(self.run_dir, self.metrics, final.eval(), self.task.monitor)


def _prefixed(split: str, numbers: dict) -> dict:
    return {f"{split}_{k}": v for k, v in numbers.items()}


def _split_of(record: dict, split: str) -> dict:
    """A split's numbers from a metrics.jsonl record, without the ``split_`` prefix."""
    return {k[len(split) + 1 :]: v for k, v in record.items() if k.startswith(split + "_")}


def _to(obj, device: torch.device):
    """A batch's tensors (a tensor, or lists / tuples / dicts of them) on ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    return obj


def _registered_module(name: str) -> str | None:
    from .inputs import registered_module

    return registered_module(name)


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
