"""Vision transformers need more data than CNNs: ViT-Ti/4 vs ResNet-110 on 10%, 30%, 100% of CIFAR-10."""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Subset, Verdict
from .common import final, pct

FRACTIONS = (0.1, 0.3, 1.0)
VIT = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05, "schedule": "onecycle", "label_smoothing": 0.1}
RESNET = {"schedule": "onecycle"}

CONFIGS = tuple(
    Config(
        f"{kind}-{int(f * 100)}",
        model,
        overrides=over,
        subset=Subset(fraction=f),
        group=label,
        x=100 * f,
        label=f"{label}, {f:.0%}",
    )
    for kind, model, over, label in (
        ("vit", "vit_ti_4_32", VIT, "ViT-Ti/4"),
        ("resnet", "resnet110", RESNET, "ResNet-110"),
    )
    for f in FRACTIONS
)


def verdict(results) -> Verdict:
    lo, hi = int(100 * min(FRACTIONS)), int(100 * max(FRACTIONS))
    gap_lo = final(results, f"vit-{lo}", "val_error") - final(results, f"resnet-{lo}", "val_error")
    gap_hi = final(results, f"vit-{hi}", "val_error") - final(results, f"resnet-{hi}", "val_error")
    v = {n: pct(final(results, n, "val_error")) for n in results}
    facts = (
        f"the ViT's held-out error is {gap_lo:+.1f} points from the ResNet's with {lo}% of the data and "
        f"{gap_hi:+.1f} with {hi}% (ViT {v[f'vit-{lo}']} -> {v[f'vit-{hi}']}, "
        f"ResNet {v[f'resnet-{lo}']} -> {v[f'resnet-{hi}']})"
    )
    if gap_lo > 0 and gap_hi < gap_lo:
        return Verdict(True, f"{facts}: the CNN wins on little data and the gap shrinks with more")
    return Verdict(False, f"{facts}: the gap does not shrink with more data at this budget")


EXPERIMENT = Experiment(
    name="vit-vs-cnn",
    title="ViT vs CNN on growing fractions of CIFAR-10",
    claim="A vision transformer, lacking the CNN's locality and translation equivariance, is worse than a CNN of "
    "similar cost when data are scarce; the gap shrinks as the data grow (and reverses at ImageNet-21k/JFT "
    "scale, out of reach here).",
    lecture="lecture 003 ('When pre-trained on ImageNet with 1.3M images, ViT is slightly worse than ResNet ... "
    "larger datasets ... tie or outperform')",
    paper="Dosovitskiy et al. 2021, An Image is Worth 16x16 Words, Fig. 3 and Fig. 4 (accuracy vs pre-training "
    "data size)",
    configs=CONFIGS,
    compare=Compare(metric="val_error", figure="xy", x_label="% of the CIFAR-10 training images"),
    recipe="resnet-cifar",
    budgets={
        "quick": Budget(
            overrides={"steps": 100, "epochs": 1},
            subset=Subset(val_per_class=200),
            configs=("vit-10", "vit-100", "resnet-10", "resnet-100"),
            note="10% and 100% only, 100 steps of batch 128 per run (same compute at every data fraction): far "
            "too few for either network to converge; the comparison is of early training",
        ),
        "full": Budget(
            overrides={"steps": 35000, "epochs": 1}, note="35k steps of batch 128 (100 epochs of the full set) per run"
        ),
    },
    verdict=verdict,
    notes="The ViT (vit_ti_4_32: DeiT-Ti encoder, 4x4 patches, 65 tokens, 365 MMACs) trains with AdamW 1e-3, "
    "weight decay 0.05, label smoothing 0.1 (DeiT's optimiser); ResNet-110 (253 MMACs, the closest CIFAR "
    "ResNet in cost) with the ResNet recipe's SGD. Both use a one-cycle schedule and crop + flip.",
)
