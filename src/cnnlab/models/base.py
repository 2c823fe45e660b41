"""The contract every cnnlab network keeps (tested for every registered name).

``forward(x) == forward_head(forward_features(x))``; ``forward_head(x, pre_logits=True)`` stops
before the final classifier; ``reset_classifier(n)`` swaps the final classifier for one with
``n`` outputs (``0``: identity, the network becomes a feature extractor); ``feature_info``
lists the channels and total stride (``reduction``) of each stage's output.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ..errors import CnnlabError

GLOBAL_POOLS = ("avg", "max", "")


class Classifier(nn.Module):
    """Base class of the zoo: a feature extractor followed by a classification head.

    Subclasses set ``classifier_path`` (dotted path of the final ``nn.Linear`` or 1x1
    ``nn.Conv2d``, e.g. ``"fc"`` or ``"classifier.6"``) and implement ``forward_features`` and
    ``forward_head``.
    """

    classifier_path: str = "fc"
    # global poolings this network can take (timm's ``global_pool``): its forward_head starts with a
    # global average pool, so a max-pooled (N x C x 1 x 1) map through it is the max-pooled head.
    # Families whose head is something else (flatten, 7 x 7 pool, class token) set ().
    head_pools: tuple[str, ...] = GLOBAL_POOLS

    def __init__(self, num_classes: int, in_chans: int):
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.feature_info: list[dict] = []
        self.pool_type = "avg"

    # -- the two halves -----------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define forward_features")

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # pragma: no cover
        raise TypeError(f"{type(self).__name__} must define forward_head")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():
            return self._forward_pooled(x)
        return self._forward_checked(x)

    def _forward_pooled(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        if self.pool_type == "":  # timm's global_pool="": the unpooled feature map (num_classes=0)
            return x
        if self.pool_type == "max":
            x = torch.amax(x, dim=(2, 3), keepdim=True)  # the head's average pool of a 1 x 1 map is itself
        return self.forward_head(x)

    @torch.jit.unused
    def _forward_checked(self, x: torch.Tensor) -> torch.Tensor:
        return self.run_checked(self._forward_pooled, x)

    def set_global_pool(self, global_pool: str) -> None:
        """timm's ``global_pool``: ``"avg"`` (the default), ``"max"`` (global max pooling before the
        head) or ``""`` (no pooling and no head: ``forward`` returns the feature map; needs
        ``num_classes=0``)."""
        name = getattr(self, "model_name", type(self).__name__)
        if global_pool not in GLOBAL_POOLS:
            raise CnnlabError(
                f"{name}: unknown global_pool {global_pool!r}",
                "use 'avg', 'max' or '' (no pooling, with num_classes=0)",
            )
        if global_pool != "avg" and global_pool not in self.head_pools:
            raise CnnlabError(
                f"{name}: global_pool={global_pool!r} is not available: its head does not start "
                f"with a global average pool",
                "forward_features(x) gives the feature map",
            )
        if global_pool == "" and self.num_classes != 0:
            raise CnnlabError(
                f"{name}: global_pool='' returns the unpooled feature map, which no classifier follows",
                "pass num_classes=0 with it (timm's convention)",
            )
        self.pool_type = global_pool

    @torch.jit.unused
    def run_checked(self, fn, x: torch.Tensor, method: str | None = None):
        """``fn(x)`` in eager mode with a wrong input turned into a :class:`CnnlabError`: the wrong
        rank or channel count (``check_input``, two comparisons), or an input too small for the
        network (PyTorch's own "too small" errors only: then the minimum size is searched on the
        meta device and named; ``method`` is the model's method to search with, default
        ``forward_head(forward_features(x))``). Every other error propagates as it is."""
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return fn(x)
        check_input(self, x)
        try:
            return fn(x)
        except RuntimeError as e:
            if not is_too_small(e):
                raise
            raise input_size_error(self, x, e, method) from e

    # -- the classifier -----------------------------------------------------------------
    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.classifier_path)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the final classifier by a freshly initialised one with ``num_classes`` outputs
        (and, as timm's, set the global pooling when ``global_pool`` is given)."""
        self._reset_head(num_classes)
        if global_pool is not None:
            self.set_global_pool(global_pool)
        elif self.pool_type == "" and num_classes != 0:
            self.pool_type = "avg"  # a new classifier needs pooled features

    def _reset_head(self, num_classes: int) -> None:
        old = self.get_classifier()
        ref = next(self.parameters(), None)  # the new layer lives where the network lives (cpu, meta, ...)
        where = dict(device=ref.device, dtype=ref.dtype) if ref is not None else {}
        if num_classes == 0:
            new: nn.Module = nn.Identity()
        elif isinstance(old, nn.Linear):
            new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None, **where)
        elif isinstance(old, nn.Conv2d):
            new = nn.Conv2d(
                old.in_channels,
                num_classes,
                old.kernel_size,
                old.stride,
                old.padding,
                bias=old.bias is not None,
                **where,
            )
        elif isinstance(old, nn.Identity) and getattr(self, "_removed_head", None) is not None:
            kind, args = self._removed_head  # the layer reset_classifier(0) removed, rebuilt with n outputs
            new = (
                nn.Linear(args[0], num_classes, bias=args[1], **where)
                if kind == "linear"
                else nn.Conv2d(args[0], num_classes, args[2], args[3], args[4], bias=args[1], **where)
            )
        elif isinstance(old, nn.Identity) and hasattr(self, "num_features"):
            new = nn.Linear(self.num_features, num_classes, **where)
        else:
            raise TypeError(f"cannot reset a classifier of type {type(old).__name__}")
        if isinstance(old, nn.Linear):
            self._removed_head = ("linear", (old.in_features, old.bias is not None))
        elif isinstance(old, nn.Conv2d):
            self._removed_head = (
                "conv",
                (old.in_channels, old.bias is not None, old.kernel_size, old.stride, old.padding),
            )
        parent_path, _, leaf = self.classifier_path.rpartition(".")
        parent = self.get_submodule(parent_path) if parent_path else self
        setattr(parent, leaf, new)
        self.num_classes = num_classes


def check_input(model: nn.Module, x: torch.Tensor) -> None:
    """A 4-D ``N x in_chans x H x W`` tensor, or a :class:`CnnlabError` saying what is wrong."""
    name = getattr(model, "model_name", type(model).__name__)
    in_chans = getattr(model, "in_chans", None)
    if x.dim() != 4:
        raise CnnlabError(
            f"{name} takes a batch of images N x C x H x W, got a {x.dim()}-D tensor of shape {tuple(x.shape)}",
            "add a batch dimension with x.unsqueeze(0)" if x.dim() == 3 else None,
        )
    if in_chans is not None and x.shape[1] != in_chans:
        raise CnnlabError(
            f"{name} was built for {in_chans}-channel inputs, got {x.shape[1]} channels",
            f"build it with in_chans={x.shape[1]}, or convert the images",
        )


# PyTorch's messages (CPU and meta kernels) for a feature map that shrank below a kernel, a pooling
# window or a reflection pad, or to nothing: the errors a larger input would cure.
TOO_SMALL_MESSAGES = (
    "Output size is too small",
    "Kernel size can't be greater than actual input size",
    "smaller than kernel size",
    "Padding size should be less than the corresponding input dimension",
    "tensor with optional 0 dim batch size",
)


def is_too_small(error: RuntimeError) -> bool:
    """Whether ``error`` is PyTorch saying the input (or a feature map) is too small."""
    text = str(error)
    return any(m in text for m in TOO_SMALL_MESSAGES)


# Modules whose output has their input's shape: a shape-only forward can skip them. (On the meta
# device batch norm and activations cost milliseconds each: they run Python reference code.)
SHAPE_PRESERVING = (
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.Tanh,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
)


def _passthrough(x: torch.Tensor) -> torch.Tensor:
    return x


def shape_only_copy(model: nn.Module) -> nn.Module:
    """A meta-device copy of ``model`` for shape propagation: nothing is computed, and the
    shape-preserving layers (norms, activations, dropout) are skipped entirely."""
    # the memo hands deepcopy meta stand-ins for every tensor, so no weight is ever copied
    memo: dict[int, torch.Tensor] = {
        id(p): nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad) for p in model.parameters()
    }
    memo.update({id(b): torch.empty_like(b, device="meta") for b in model.buffers()})
    meta = copy.deepcopy(model, memo).eval()
    for module in meta.modules():
        if isinstance(module, SHAPE_PRESERVING):
            module.forward = _passthrough
    return meta


def min_input_size(model: nn.Module, limit: int = 1024, method: str | None = None) -> int | None:
    """Smallest square input side the network accepts, found by forwards on the meta device
    (shapes only, nothing computed): of ``forward_head(forward_features(x))``, or of the model's
    method ``method`` (e.g. a forward through auxiliary heads). ``None`` if even ``limit`` fails."""
    meta = shape_only_copy(model)
    chans = getattr(model, "in_chans", 3)

    def ok(size: int) -> bool:
        try:
            x = torch.empty(1, chans, size, size, device="meta")
            with torch.no_grad():
                getattr(meta, method)(x) if method else meta.forward_head(meta.forward_features(x))
            return True
        except (RuntimeError, CnnlabError, ValueError, IndexError):
            return False

    # Grow the side geometrically (a too-small input fails in the first layers, so failures are
    # cheap), then bisect between the last failure and the first success.
    lo, hi, size = 0, None, 4
    while size <= limit:
        if ok(size):
            hi = size
            break
        lo, size = size, (size * 3 + 1) // 2
    if hi is None:
        card = getattr(model, "card", None)  # a fixed-size network (LeNet-5's head needs exactly 28x28)
        if card is None or not ok(card.input_size[-1]):
            return None
        lo, hi = 0, card.input_size[-1]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def input_size_error(model: nn.Module, x: torch.Tensor, error: RuntimeError, method: str | None = None) -> Exception:
    """A :class:`CnnlabError` naming the minimum size if ``x`` is too small, else the original error."""
    card = getattr(model, "card", None)
    if card is not None and min(x.shape[-2:]) >= card.input_size[-1] and method is None:
        return error  # not too small: some other problem
    size = min_input_size(model, limit=max(1024, *x.shape[-2:]), method=method)
    if size is None or min(x.shape[-2:]) >= size:
        return error
    name = getattr(model, "model_name", type(model).__name__)
    return CnnlabError(
        f"{name} needs inputs of at least {size}x{size} pixels, got {x.shape[-2]}x{x.shape[-1]} "
        f"(the feature maps shrink below the kernel or pooling window)",
        f"resize the images to {size}x{size} or more (default: "
        f"{'x'.join(map(str, getattr(getattr(model, 'card', None), 'input_size', ())[1:])) or '?'})",
    )


class PooledMLPClassifier(Classifier):
    """``features`` -> ``avgpool`` -> flatten -> ``classifier`` (a Sequential of linear layers, ReLU and
    dropout ending in the final linear layer): AlexNet's and VGG's form, with torchvision's keys."""

    classifier_path = "classifier.6"
    head_pools = ()  # a fixed-size (7 x 7 / 6 x 6) adaptive pool feeds the fully connected layers

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        last = len(self.classifier) - 1
        for i, layer in enumerate(self.classifier):  # pre_logits stops before the final linear layer
            if not (pre_logits and i == last):
                x = layer(x)
        return x


class AuxHeadsClassifier(Classifier):
    """A network with auxiliary classifiers (GoogLeNet, Inception-v3), torchvision's keys.

    Subclasses define ``_features(x, with_aux)`` returning ``(features, *aux_logits)`` and
    ``_forward_with_aux(x)`` (the training-mode output with the auxiliary logits); the head is
    ``avgpool`` -> flatten -> ``dropout`` -> ``fc``. In eval mode, or with ``aux_logits=False``, the
    forward is the plain contract.
    """

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x, False)[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor):
        if not (self.aux_logits and self.training):
            return super().forward(x)
        return self.run_checked(self._forward_with_aux, x, method="_forward_with_aux")
