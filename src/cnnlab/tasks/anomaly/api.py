"""The three things a user does: ``fit``, ``score``, ``evaluate`` (the CLI calls these)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import CnnlabError
from ...runs import prepare_run_dir, write_json
from . import metrics
from .data import load_images, load_masks, resolve_data, split_train
from .detector import METHODS, Detector, fit_detector, load_detector, peak_rss_mib
from .features import build_backbone


def fit(
    data: str,
    method: str = "padim",
    backbone: str = "resnet18",
    out: str | Path | None = None,
    weights: str | None = None,
    image_size: int | None = None,
    val_fraction: float = 0.1,
    quantile: float = 0.99,
    overwrite: bool = False,
    progress: bool = True,
    **options,
) -> Detector:
    """Fit on ``train/good`` minus a held-out normal part, on which the thresholds are chosen.

    ``options`` go to the method: ``stages``, ``batch_size``, ``seed``, ``padim_dims``, ``padim_eps``,
    ``coreset``, ``proj_dim``, ``neighbours``, ``reweight``, ``sigma``.
    """
    t0 = time.perf_counter()
    ds = resolve_data(data)
    if out is not None:
        out = prepare_run_dir(out, overwrite)
    if method not in METHODS:
        raise CnnlabError(f"unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    seed = options.get("seed", 0)
    fit_paths, val_paths = split_train(ds.train, val_fraction, seed)
    model, info = build_backbone(backbone, weights, seed)
    chans = model.in_chans
    size = image_size or (128 if data.startswith("defects-sample") else 256)
    train = load_images(fit_paths, size, chans, "reading train/good" if progress else None)
    det = fit_detector(train, method, model, info, image_size=size, progress=progress, **options)
    del train
    val = load_images(val_paths, size, chans)
    val_scores, val_maps = det.predict(val, desc="validation" if progress else None)
    det.meta.update(
        data=ds.name,
        val_images=[str(p) for p in val_paths],
        val_scores=val_scores.tolist(),
        quantile=quantile,
        image_threshold=metrics.normal_threshold(val_scores, quantile),
        pixel_threshold=metrics.normal_threshold(val_maps.reshape(len(val_maps), -1).max(1), quantile),
        map_low=float(np.median(val_maps)),
        fit_seconds=round(time.perf_counter() - t0, 2),
        fit_peak_rss_mib=round(peak_rss_mib(), 1),
    )
    if out is not None:
        det.save(out)
        # what repeats the fit; also what makes DIR a cnnlab run folder that --overwrite may replace
        write_json(
            Path(out) / "config.json",
            dict(
                task="anomaly",
                model=info["model"],
                data=data,
                method=method,
                backbone=backbone,
                weights=weights,
                image_size=size,
                val_fraction=val_fraction,
                quantile=quantile,
                **options,
            ),
        )
    return det


@dataclass
class Scored:
    file: str
    score: float
    anomalous: bool
    overlay: str | None = None


def score(detector: str | Path | Detector, images: list[str | Path], out: str | Path | None = None) -> list[Scored]:
    """Score image files; with ``out``, write ``<stem>_anomaly.png`` overlays there."""
    from .viz import save_overlay

    det = detector if isinstance(detector, Detector) else load_detector(detector)
    paths = [Path(p) for p in images]
    x = load_images(paths, det.image_size, det.channels)
    scores, maps = det.predict(x)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
    result = []
    for i, p in enumerate(paths):
        overlay = None
        if out is not None:
            overlay = str(Path(out) / f"{p.stem}_anomaly.png")
            save_overlay(Path(overlay), x[i].numpy(), maps[i], float(scores[i]), det.meta, p.name)
        result.append(Scored(str(p), float(scores[i]), bool(scores[i] > det.meta["image_threshold"]), overlay))
    return result


def evaluate(detector: str | Path | Detector, data: str, out: str | Path | None = None, progress: bool = True) -> dict:
    """Image AUROC, pixel AUROC, PRO (FPR <= 0.3) and a per-defect table on the test split."""
    from .viz import save_grid

    det = detector if isinstance(detector, Detector) else load_detector(detector)
    ds = resolve_data(data)
    if not ds.test:
        raise CnnlabError(f"{ds.name} has no test images", "evaluate needs test/good and test/<defect> folders")
    t0 = time.perf_counter()
    x = load_images([t.path for t in ds.test], det.image_size, det.channels, "reading test" if progress else None)
    masks = load_masks(ds.test, det.image_size)
    scores, maps = det.predict(x, desc="scoring test" if progress else None)
    seconds = time.perf_counter() - t0
    labels = [t.defect for t in ds.test]
    y = np.array([lab != "good" for lab in labels])
    thr = det.meta["image_threshold"]
    res: dict = dict(
        split="test",
        data=ds.name,
        method=det.method,
        backbone=det.meta["backbone"]["model"],
        images=len(labels),
        image_threshold=thr,
        threshold_from="held-out train/good (validation)",
    )
    if y.any() and (~y).any():
        res["image_auroc"] = metrics.auroc(scores, y)
    if masks.any():
        res["pixel_auroc"] = metrics.auroc(maps, masks)
        res["pro_0.3"] = metrics.pro_auc(maps, masks, 0.3)
    res["accuracy_at_threshold"] = float(np.mean((scores > thr) == y))
    good = np.array([lab == "good" for lab in labels])
    table = []
    for d in ["good"] + ds.defects:
        sel = np.array([lab == d for lab in labels])
        row = dict(
            group=d,
            images=int(sel.sum()),
            mean_score=float(scores[sel].mean()),
            flagged=float((scores[sel] > thr).mean()),
        )
        if d != "good" and good.any():
            both = sel | good
            row["image_auroc"] = metrics.auroc(scores[both], y[both])
            row["pixel_auroc"] = metrics.auroc(maps[sel], masks[sel])
        table.append(row)
    res["per_group"] = table
    res["score_seconds"] = round(seconds, 2)
    res["seconds_per_image"] = round(seconds / len(labels), 4)
    res["peak_rss_mib"] = round(peak_rss_mib(), 1)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        save_grid(out / "heatmaps.png", x.numpy(), maps, masks, labels, scores, det.meta)
        res["grid"] = str(out / "heatmaps.png")
        write_json(out / "evaluation.json", res)
    return res


def format_table(res: dict) -> str:
    lines = [f"{res['method']} on {res['backbone']}, {res['data']} ({res['split']} split, {res['images']} images)"]
    for key in ("image_auroc", "pixel_auroc", "pro_0.3", "accuracy_at_threshold"):
        if key in res:
            lines.append(f"  {key:22s} {res[key]:.4f}")
    lines.append(f"  threshold {res['image_threshold']:.4g} (chosen on held-out normal train images)")
    lines.append(f"  {'group':12s} {'images':>6s} {'image AUROC':>12s} {'pixel AUROC':>12s} {'flagged':>8s}")
    for r in res["per_group"]:
        ia = f"{r['image_auroc']:.4f}" if "image_auroc" in r else "-"
        pa = f"{r['pixel_auroc']:.4f}" if "pixel_auroc" in r else "-"
        lines.append(f"  {r['group']:12s} {r['images']:6d} {ia:>12s} {pa:>12s} {r['flagged']:8.0%}")
    return "\n".join(lines)
