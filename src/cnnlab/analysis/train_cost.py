"""Training cost in FLOPs and time from the analyzer's forward multiply-adds (lectures 000 and 001).

    total FLOPs = forward MACs/image x FLOPs per MAC x training factor x images x epochs
    time        = total FLOPs / (peak FLOP/s x utilisation)

Assumptions, printed with every estimate:

- a multiply-add is 2 FLOPs (lecture 001's slide counts it as 1: ``--flops-per-mac 1``);
- a training step costs 3 forward passes: the forward, and a backward that computes the gradients
  with respect to both the activations and the weights, each about one forward (Kaplan et al. 2020,
  "Scaling laws for neural language models", §2.1: C ~ 6N per token = 3 x the forward 2N).
  Lecture 000's 1.5e23 counts 2 (forward + one backward); lecture 001's 10 PF counts the forward
  only (factor 1);
- the device runs at ``utilisation`` x its peak (1.0: the peak, "with infinite bandwidth" as lecture 000
  says; real training reaches roughly 30-50% on GPUs and 38% of the bf16 GEMM peak on this CPU,
  ../shared/research/perf-anchors.md);
- only the layers' multiply-adds are counted (no bias, normalisation, activation, optimizer or data
  loading work).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CnnlabError, UnknownNameError


@dataclass(frozen=True)
class Hardware:
    name: str
    tflops: float
    precision: str
    source: str


# dense (no structured sparsity) peak throughput, from the vendors' datasheets
HARDWARE = {
    h.name: h
    for h in [
        Hardware(
            "h100", 67.0, "fp32", "NVIDIA H100 Tensor Core GPU datasheet (SXM5): FP32 67 TFLOPS (lecture 000's figure)"
        ),
        Hardware(
            "h100-bf16",
            989.4,
            "bf16 tensor cores",
            "NVIDIA H100 datasheet (SXM5): BF16 Tensor Core 1,979 TFLOPS with sparsity, 989.4 dense",
        ),
        Hardware("a100", 19.5, "fp32", "NVIDIA A100 Tensor Core GPU datasheet: FP32 19.5 TFLOPS"),
        Hardware("a100-bf16", 312.0, "bf16 tensor cores", "NVIDIA A100 datasheet: BF16 Tensor Core 312 TFLOPS (dense)"),
        Hardware("v100", 15.7, "fp32", "NVIDIA Tesla V100 datasheet (SXM2): FP32 15.7 TFLOPS"),
        Hardware("v100-fp16", 125.0, "fp16 tensor cores", "NVIDIA Tesla V100 datasheet (SXM2): Tensor 125 TFLOPS"),
        Hardware(
            "titan-rtx",
            16.3,
            "fp32",
            "NVIDIA TITAN RTX product page: 16.3 TFLOPS FP32, 130 Tensor TFLOPS (lecture 001 prints 12 TFLOPS)",
        ),
        Hardware("lecture-cpu", 0.15, "fp32", "lecture 001, \"GPU performance\": Intel i7, 0.15 TFLOPS"),
        Hardware(
            "lecture-gpu", 12.0, "fp32", "lecture 001, \"GPU performance\": 12 TFLOPS (printed for the Titan RTX)"
        ),
        Hardware(
            "this-cpu",
            0.33,
            "fp32",
            "torch.mm 4096^2 on 2 threads, measured on a quiet moment: 330 GFLOP/s "
            "(../shared/research/perf-anchors.md; `--measure` re-measures)",
        ),
        Hardware(
            "this-cpu-bf16",
            1.68,
            "bf16 (AMX)",
            "torch.mm 4096^2 bf16 on 2 threads: 1,680 GFLOP/s (../shared/research/perf-anchors.md)",
        ),
    ]
}

IMAGENET_TRAIN_IMAGES = 1_281_167


def measure_mm_peak(dtype: str = "fp32", n: int = 2048, repeats: int = 3) -> float:
    """This machine's matrix-multiply throughput in TFLOP/s (best of ``repeats`` ``n x n`` products)."""
    import time

    import torch

    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e12


def hardware(name: str) -> Hardware:
    key = name.lower()
    if key not in HARDWARE:
        raise UnknownNameError("hardware", name, list(HARDWARE), "or give --tflops X")
    return HARDWARE[key]


@dataclass
class TrainCost:
    model: str
    macs_per_image: int
    images: int
    epochs: float
    flops_per_mac: int
    train_factor: float
    tflops: float
    utilisation: float
    hardware: str

    @property
    def forward_flops_per_image(self) -> float:
        return self.macs_per_image * self.flops_per_mac

    @property
    def total_flops(self) -> float:
        return self.forward_flops_per_image * self.train_factor * self.images * self.epochs

    @property
    def seconds(self) -> float:
        return self.total_flops / (self.tflops * 1e12 * self.utilisation)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "macs_per_image": self.macs_per_image,
            "images": self.images,
            "epochs": self.epochs,
            "flops_per_mac": self.flops_per_mac,
            "train_factor": self.train_factor,
            "tflops": self.tflops,
            "utilisation": self.utilisation,
            "hardware": self.hardware,
            "total_flops": self.total_flops,
            "seconds": self.seconds,
            "time": duration(self.seconds),
        }

    def text(self) -> str:
        f = self.forward_flops_per_image
        passes = {
            1: "forward only",
            2: "forward + backward (backward = 1 forward)",
            3: "forward + backward (backward = 2 forwards: activation and weight gradients)",
        }
        lines = [
            f"training cost of {self.model}",
            f"  forward: {self.macs_per_image:,} MACs/image x {self.flops_per_mac} FLOPs/MAC = {f:.4g} FLOPs/image",
            f"  training step = {self.train_factor:g} x forward ({passes.get(self.train_factor, 'as given')})",
            f"  {f:.4g} x {self.train_factor:g} x {self.images:,} images x {self.epochs:g} epochs = "
            f"{self.total_flops:.3g} FLOPs",
            f"  on {self.hardware}: {self.tflops:g} TFLOPS x {self.utilisation:.0%} utilisation -> "
            f"{self.total_flops:.3g} / {self.tflops * self.utilisation:.4g}e12 = {self.seconds:,.0f} s = "
            f"{duration(self.seconds)}",
            "  assumptions: only multiply-adds of conv/linear/matmul layers are counted; peak throughput x "
            "utilisation (memory bandwidth, data loading and the optimizer are free)",
        ]
        return "\n".join(lines)


def duration(seconds: float) -> str:
    """4.2e9 s -> '133 years'; 853 s -> '14.2 min'."""
    for unit, s in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= s:
            return f"{seconds / s:,.4g} {unit}"
    return f"{seconds:.3g} s"


def train_cost(
    model,
    images: int = IMAGENET_TRAIN_IMAGES,
    epochs: float = 90,
    device: str | None = None,
    tflops: float | None = None,
    utilisation: float = 1.0,
    train_factor: float = 3.0,
    flops_per_mac: int = 2,
    input_size=None,
) -> TrainCost:
    """``model``: a registered or ``lecture:`` name, a module, a ``Summary``, or forward MACs per image (int)."""
    if isinstance(model, int):
        name, macs = f"{model:,} MACs/image", model
    else:
        from .records import Summary
        from .summary import summary

        s = model if isinstance(model, Summary) else summary(model, input_size=input_size)
        name, macs = s.model, s.macs // s.batch
    if tflops is None:
        hw = hardware(device or "this-cpu")
        tflops, label = hw.tflops, f"{hw.name} ({hw.precision}; {hw.source})"
    else:
        if tflops <= 0:
            raise CnnlabError(f"--tflops must be positive, got {tflops}")
        label = f"a {tflops:g}-TFLOPS device" if device is None else device
    if not 0 < utilisation <= 1:
        raise CnnlabError(f"utilisation must be in (0, 1], got {utilisation}", "e.g. --utilisation 0.4 for 40%")
    if images < 1 or epochs <= 0 or train_factor <= 0 or flops_per_mac not in (1, 2):
        raise CnnlabError(
            "images >= 1, epochs > 0, train factor > 0 and FLOPs per MAC 1 or 2, got "
            f"{images}, {epochs}, {train_factor}, {flops_per_mac}"
        )
    return TrainCost(
        name,
        int(macs),
        int(images),
        float(epochs),
        int(flops_per_mac),
        float(train_factor),
        float(tflops),
        float(utilisation),
        label,
    )


def hardware_table() -> str:
    rows = [f"  {h.name:<14}{h.tflops:>8g} TFLOPS  {h.precision:<18} {h.source}" for h in HARDWARE.values()]
    return "\n".join(rows)
