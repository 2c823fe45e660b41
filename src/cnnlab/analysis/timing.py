"""Measured latency (``cnnlab summary --time``): a real forward pass, kept apart from the counts.

Warm-up passes, then repeated timed passes; the median and the minimum are reported, with the
achieved GFLOP/s (analytic FLOPs / median time). Per-layer times come from a separate run with
module hooks (their small overhead stays out of the total). Nothing here changes a count.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn


@dataclass
class Timing:
    batch: int
    warmup: int
    repeats: int
    threads: int
    median_s: float
    min_s: float
    gflops_per_s: float | None = None
    layers: dict[str, float] = field(default_factory=dict)  # leaf module -> median seconds

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self, top: int = 10) -> str:
        lines = [
            f"measured latency (separate from the counts): median {self.median_s * 1e3:,.2f} ms, "
            f"min {self.min_s * 1e3:,.2f} ms over {self.repeats} runs after {self.warmup} warm-up, batch "
            f"{self.batch}, {self.threads} thread(s)"
            + (f"; {self.gflops_per_s:.3g} GFLOP/s achieved" if self.gflops_per_s else "")
        ]
        if self.layers:
            total = sum(self.layers.values()) or 1.0
            lines.append("slowest layers (median, hooks on leaf modules):")
            for name, t in sorted(self.layers.items(), key=lambda kv: -kv[1])[:top]:
                lines.append(f"  {name:<40} {t * 1e3:9.3f} ms  {100 * t / total:5.1f}%")
        return "\n".join(lines)


def measure(
    model: nn.Module,
    input_size: tuple[int, ...],
    batch: int = 1,
    warmup: int = 2,
    repeats: int = 10,
    per_layer: bool = True,
    flops: int | None = None,
    progress: bool = False,
) -> Timing:
    """Time ``model`` on random input of shape ``(batch, *input_size)`` in eval mode, no grad."""
    from ..errors import CnnlabError

    if repeats < 1 or warmup < 0 or batch < 1:
        raise CnnlabError(
            f"timing needs repeats >= 1, warmup >= 0 and batch >= 1 (got repeats={repeats}, "
            f"warmup={warmup}, batch={batch})",
            "e.g. --repeats 10",
        )
    if any(p.device.type == "meta" for p in model.parameters()):
        raise CnnlabError("cannot time a model on the meta device", "build it on cpu (cnnlab.create_model(name))")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    x = torch.randn((batch, *input_size), generator=torch.Generator().manual_seed(0), dtype=dtype).to(device)
    was_training = {m: m.training for m in model.modules()}
    model.eval()
    it = range(warmup + repeats)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="timing", unit="pass", leave=False)
    times = []
    try:
        with torch.no_grad():
            for i in it:
                t0 = time.perf_counter()
                model(x)
                dt = time.perf_counter() - t0
                if i >= warmup:
                    times.append(dt)
            layers = _per_layer(model, x, max(3, repeats // 2)) if per_layer else {}
    finally:
        for m, flag in was_training.items():
            m.training = flag
    med = statistics.median(times)
    return Timing(
        batch, warmup, repeats, torch.get_num_threads(), med, min(times), flops / med / 1e9 if flops else None, layers
    )


def _per_layer(model: nn.Module, x: torch.Tensor, repeats: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {}
    starts: dict[int, float] = {}
    handles = []

    def pre(name):
        def hook(mod, args):
            starts[id(mod)] = time.perf_counter()

        return hook

    def post(name):
        def hook(mod, args, out):
            samples.setdefault(name, []).append(time.perf_counter() - starts.pop(id(mod), time.perf_counter()))

        return hook

    for name, mod in model.named_modules():
        if name and not any(True for _ in mod.children()):
            handles.append(mod.register_forward_pre_hook(pre(name)))
            handles.append(mod.register_forward_hook(post(name)))
    try:
        for _ in range(repeats):
            model(x)
    finally:
        for h in handles:
            h.remove()
    return {name: statistics.median(v) * len(v) / repeats for name, v in samples.items()}
