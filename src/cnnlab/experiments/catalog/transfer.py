"""Fine-tuning a pretrained backbone beats training from scratch when labels are few.

The backbone is a ResNet-20 trained on six CIFAR-10 classes (airplane, automobile, bird, cat, deer,
dog); the target task is the other four (frog, horse, ship, truck) with 10, 50 or 250 labelled
images per class. Four ways to use the labels: train from scratch, a linear probe (frozen
backbone, new head), fine-tuning everything, fine-tuning with the backbone at 1/10 of the rate.
"""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Subset, Verdict
from .common import final, lower, pct

SOURCE = (0, 1, 2, 3, 4, 5)
TARGET = (6, 7, 8, 9)
LABELS = (10, 50, 250)
METHODS = {  # name -> (label, overrides, starts from the backbone)
    "scratch": ("from scratch", {}, False),
    "probe": ("linear probe", {"freeze": "backbone"}, True),
    "finetune": ("fine-tune", {}, True),
    "finetune-lowlr": ("fine-tune, backbone lr x0.1", {"backbone_lr_scale": 0.1}, True),
}
# target runs: batch 20, a fixed number of steps whatever the label budget, held-out only at the end
TARGET_TRAINING = {
    "batch_size": 20,
    "steps": 300,
    "eval_every": 0,
    "lr": 0.02,
    "schedule": "cosine",
    "warmup_epochs": 0.0,
}

CONFIGS = (Config("backbone", "resnet20", subset=Subset(classes=SOURCE), label="backbone (6 source classes)"),) + tuple(
    Config(
        f"{m}-{n}",
        "resnet20",
        overrides={**TARGET_TRAINING, **over},
        subset=Subset(classes=TARGET, per_class=n),
        init_from="backbone" if pre else None,
        group=label,
        x=n,
        label=f"{label}, {n}/class",
    )
    for m, (label, over, pre) in METHODS.items()
    for n in LABELS
)


def verdict(results) -> Verdict:
    n = min(LABELS)
    scratch = final(results, f"scratch-{n}", "val_error")
    best_ft = min(final(results, f"finetune-{n}", "val_error"), final(results, f"finetune-lowlr-{n}", "val_error"))
    probe = final(results, f"probe-{n}", "val_error")
    facts = (
        f"with {n} labels per class the held-out error is {pct(scratch)} from scratch, {pct(probe)} for the "
        f"linear probe and {pct(best_ft)} for the better fine-tuning"
    )
    if lower(best_ft, scratch):
        return Verdict(True, facts)
    return Verdict(False, f"{facts}: fine-tuning did not beat training from scratch by more than a point")


EXPERIMENT = Experiment(
    name="transfer",
    title="Transfer: scratch vs linear probe vs fine-tuning on few labels (CIFAR-10, 6 -> 4 classes)",
    claim="With few labelled images, starting from a backbone trained on other data (fine-tuning, or a linear "
    "probe on frozen features) beats training the same network from scratch; the advantage shrinks as "
    "labels grow.",
    lecture="lecture 004 (transfer learning: 'Train with feature extraction first before fine-tuning')",
    paper="Yosinski et al. 2014, How transferable are features in deep neural networks?, Fig. 2; Kornblith et al. "
    "2019, Do Better ImageNet Models Transfer Better?",
    configs=CONFIGS,
    compare=Compare(metric="val_error", figure="xy", x_label="labelled training images per class", log_x=True),
    recipe="resnet-cifar",
    budgets={
        "quick": Budget(
            epochs=10,
            subset=Subset(val_per_class=200),
            note="backbone: 10 epochs on the six source classes (27,000 images); each target run 300 steps of batch 20",
        ),
        "full": Budget(
            epochs=100, note="backbone: 100 epochs on the six source classes; each target run 300 steps of batch 20"
        ),
    },
    verdict=verdict,
    notes="The target runs set `steps`, so their schedule does not depend on the budget's epochs; only the "
    "backbone's training changes between budgets. The linear probe keeps the backbone's batch-norm statistics "
    "(frozen modules stay in eval mode).",
)
