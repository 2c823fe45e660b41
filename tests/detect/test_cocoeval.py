"""Our COCO box evaluation against pycocotools' COCOeval, every number to 1e-6, on fixtures built
here: several images and classes, missed objects, duplicate and background detections, a class
without ground truth, crowd regions, annotation areas different from the box areas, objects in all
three size ranges, and more than 100 detections in an image (maxDets)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

from cnnlab.tasks.detect.cocoeval import STATS, Detections, GroundTruth, evaluate_boxes, format_table  # noqa: E402


def random_fixture(seed: int, n_images: int = 6, n_classes: int = 4):
    """Ground truth and detections (our corner form), on a 1/4-pixel grid (exact in binary)."""
    rng = np.random.default_rng(seed)
    gts, dts = [], []
    for _ in range(n_images):
        k = int(rng.integers(0, 7))
        side = rng.choice([8, 24, 31, 32, 33, 50, 95, 96, 97, 120, 160], size=(k, 2)).astype(float)
        xy = np.round(rng.uniform(0, 300, size=(k, 2)) * 4) / 4
        boxes = np.concatenate([xy, xy + side], 1)
        labels = rng.integers(0, n_classes - 1, size=k)  # the last class never has ground truth
        crowd = rng.random(k) < 0.15
        area = np.where(rng.random(k) < 0.3, side.prod(1) * rng.uniform(0.3, 1.2, size=k), side.prod(1))
        gts.append(GroundTruth(boxes, labels, crowd, area))
        d_boxes, d_scores, d_labels = [], [], []
        for b, c in zip(boxes, labels):
            for _ in range(int(rng.integers(0, 4))):  # 0: missed; 2-3: duplicates
                jitter = np.round(rng.normal(0, 0.12, size=4) * (b[2:] - b[:2]).repeat(2) * 4) / 4
                nb = b + jitter
                nb[2:] = np.maximum(nb[2:], nb[:2] + 1)
                d_boxes.append(nb)
                d_scores.append(float(np.round(rng.random(), 3)))  # rounded: some ties
                d_labels.append(int(c) if rng.random() < 0.85 else int(rng.integers(0, n_classes)))
        for _ in range(int(rng.integers(0, 5))):  # background detections, some of the empty class
            xy0 = np.round(rng.uniform(0, 300, 2) * 4) / 4
            d_boxes.append(np.concatenate([xy0, xy0 + rng.choice([10, 40, 110], 2)]))
            d_scores.append(float(np.round(rng.random(), 3)))
            d_labels.append(int(rng.integers(0, n_classes)))
        dts.append(Detections(np.array(d_boxes).reshape(-1, 4), np.array(d_scores), np.array(d_labels)))
    return gts, dts, n_classes


def many_detections_fixture():
    """One image with 150 detections of one class on 3 objects: maxDets 1/10/100 cut them."""
    rng = np.random.default_rng(7)
    boxes = np.array([[10, 10, 60, 60], [100, 100, 130, 120], [0, 150, 200, 260]], float)
    gt = GroundTruth(boxes, np.zeros(3, int))
    src = boxes[rng.integers(0, 3, 150)]
    d = src + np.round(rng.normal(0, 3, size=(150, 4)) * 4) / 4
    d[:, 2:] = np.maximum(d[:, 2:], d[:, :2] + 1)
    return [gt], [Detections(d, rng.random(150), np.zeros(150, int))], 1


def pycocotools_stats(gts, dts, n_classes):
    images = [{"id": i + 1, "width": 640, "height": 480} for i in range(len(gts))]
    anns, results = [], []
    for i, (g, d) in enumerate(zip(gts, dts)):
        for b, c, crowd, area in zip(g.boxes, g.labels, g.iscrowd, g.area):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "iscrowd": int(crowd),
                    "area": float(area),
                    "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                }
            )
        for b, s, c in zip(d.boxes, d.scores, d.labels):
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "score": float(s),
                    "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                }
            )
    coco = COCO()
    coco.dataset = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": k + 1, "name": str(k)} for k in range(n_classes)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize(
    "fixture",
    [*(lambda s=s: random_fixture(s) for s in range(6)), many_detections_fixture],
    ids=[*(f"random{s}" for s in range(6)), "maxdets"],
)
def test_every_number_matches_pycocotools(fixture):
    gts, dts, n_classes = fixture()
    ref = pycocotools_stats(gts, dts, n_classes)
    ours = evaluate_boxes(gts, dts, num_classes=n_classes)
    for i, (key, *_rest) in enumerate(STATS):
        assert ours[key] == pytest.approx(ref.stats[i], abs=1e-6), key
    # the raw arrays too: every class, area range, threshold, recall point and maxDets
    np.testing.assert_allclose(ours["precision"], ref.eval["precision"], atol=1e-6)
    np.testing.assert_allclose(ours["recall"], ref.eval["recall"], atol=1e-6)


def test_fixtures_exercise_the_rules():
    """The random fixtures hold what the rules are about (else the comparison proves little)."""
    gts = [g for s in range(6) for g in random_fixture(s)[0]]
    areas = np.concatenate([g.area for g in gts])
    assert (areas < 32**2).any() and ((areas > 32**2) & (areas < 96**2)).any() and (areas > 96**2).any()
    assert np.concatenate([g.iscrowd for g in gts]).any()
    assert any(len(g.boxes) == 0 for g in gts)


def test_hand_counted_case():
    """Two objects, three detections: a hit, a duplicate of it (a false positive), a miss.
    Sorted: TP (p=1, r=.5), FP (p=.5, r=.5); recall never reaches 1, so precision is 1 at the
    51 recall points 0..0.5 and 0 above: AP50 = 51/101."""
    gt = GroundTruth([[0, 0, 10, 10], [50, 50, 60, 60]], [0, 0])
    dt = Detections([[0, 0, 10, 10], [1, 0, 10, 10], [200, 200, 210, 210]], [0.9, 0.8, 0.1], [0, 0, 0])
    out = evaluate_boxes([gt], [dt], num_classes=1)
    assert out["ap50"] == pytest.approx(51 / 101)
    assert out["ar100"] == pytest.approx(0.5)
    assert out["ap_large"] == -1  # no object of that size


def test_crowd_region_absorbs_detections():
    """Detections inside a crowd box match it (IoU over the detection's own area) and are ignored,
    not counted as false positives."""
    gt = GroundTruth([[0, 0, 100, 100], [200, 200, 240, 240]], [0, 0], iscrowd=[True, False])
    dt = Detections([[10, 10, 20, 20], [30, 30, 40, 40], [200, 200, 240, 240]], [0.9, 0.95, 0.5], [0, 0, 0])
    out = evaluate_boxes([gt], [dt], num_classes=1)
    assert out["ap"] == pytest.approx(1.0)


def test_table_columns_in_lecture_order():
    stats = {key: 0.5 for key, *_ in STATS}
    stats["ap_large"] = -1
    text = format_table(stats, "val")
    head = text.splitlines()[1].split()
    assert head[:6] == ["AP", "AP50", "AP75", "APS", "APM", "APL"]
    assert text.splitlines()[2].split()[5] == "-" and "val split" in text
