"""Deeper plain networks train worse; residual networks of the same depth do not (the degradation problem).

He, Zhang, Ren, Sun 2016, "Deep Residual Learning for Image Recognition": Fig. 1 (plain-20 vs
plain-56 on CIFAR-10: the deeper network has higher *training* error) and Fig. 6 (plain-20/32/44/56
get worse with depth, ResNet-20/32/44/56/110 better); section 4.2's recipe (`resnet-cifar`).
"""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Verdict
from .common import CIFAR_10K, final, pct

DEPTHS = (20, 32, 56)
CONFIGS = tuple(
    Config(
        f"{kind}{d}",
        f"{kind}{d}",
        group="plain" if kind == "plain" else "ResNet",
        label=f"{'plain' if kind == 'plain' else 'ResNet'}-{d}",
    )
    for kind in ("plain", "resnet")
    for d in DEPTHS
)


def verdict(results) -> Verdict:
    depths = sorted({int(n[-2:]) for n in results})
    lo, hi = depths[0], depths[-1]
    p_lo, p_hi = final(results, f"plain{lo}", "train_error"), final(results, f"plain{hi}", "train_error")
    r_lo, r_hi = final(results, f"resnet{lo}", "train_error"), final(results, f"resnet{hi}", "train_error")
    plain_worse = p_hi > p_lo + 1.0
    resnet_ok = r_hi <= r_lo + 1.0
    facts = (
        f"plain-{hi}'s final training error is {pct(p_hi)} against plain-{lo}'s {pct(p_lo)}, and ResNet-{hi}'s "
        f"is {pct(r_hi)} against ResNet-{lo}'s {pct(r_lo)}"
    )
    if plain_worse and resnet_ok:
        return Verdict(True, f"{facts}: the deeper plain network trains worse, the deeper residual one does not")
    why = []
    if not plain_worse:
        why.append(f"plain-{hi} is not more than a point worse than plain-{lo}")
    if not resnet_ok:
        penalty = (
            f" (the shortcuts cut the {hi - lo} extra layers' penalty from {p_hi - p_lo:+.1f} to "
            f"{r_hi - r_lo:+.1f} points)"
            if plain_worse and r_hi - r_lo < p_hi - p_lo
            else ""
        )
        why.append(
            f"ResNet-{hi} still trains worse than ResNet-{lo} here{penalty}: in the paper the deeper ResNet "
            "pulls ahead over its 64k-iteration schedule, far longer than this budget"
        )
    return Verdict(False, f"{facts}; {' and '.join(why)}")


EXPERIMENT = Experiment(
    name="degradation",
    title="Plain vs residual networks of growing depth (CIFAR-10)",
    claim="Adding layers to a plain network makes its *training* error higher (degradation), so it is an "
    "optimisation problem, not over-fitting; with identity shortcuts the deeper network trains at least as "
    "well as the shallower one.",
    lecture="lecture 000 and lecture 002 (ResNet slides: 'Training error ... with 20-layer and 56-layer \"plain\" "
    "networks')",
    paper="He et al. 2016, Deep Residual Learning for Image Recognition, Fig. 1 and Fig. 6 (CIFAR-10)",
    configs=CONFIGS,
    compare=Compare(metric="train_error", figure="curves", curves=("train_error", "val_error")),
    recipe="resnet-cifar",
    budgets={
        "quick": Budget(
            epochs=5,
            subset=CIFAR_10K,
            configs=("plain20", "plain56", "resnet20", "resnet56"),
            overrides={"warmup_epochs": 1},
            note="depths 20 and 56 only, 10,000 training images (1,000 per class), 5 epochs with the "
            "recipe's /10 steps at 50% and 75% and a 1-epoch linear warm-up (without it, lr 0.1 threw "
            "ResNet-56's loss up to 2.96 in the first epoch and it ended 8 epochs at plain-56's training "
            "error, 77% vs 79%): the gap between plain-20 and plain-56 opens in the first epochs (Fig. 6), "
            "but the paper's curves run for 64k iterations",
        ),
        "full": Budget(
            note="the paper's schedule: 64k iterations of batch 128 (~182 epochs of 45k images), "
            "/10 at 32k and 48k, all six networks"
        ),
    },
    verdict=verdict,
)
