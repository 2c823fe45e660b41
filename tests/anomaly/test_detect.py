"""PaDiM and PatchCore on the generated defect set reach image AUROC >= 0.9; files round-trip; CLI.

The backbone is resnet18 with its random initialisation: on these textures its shallow stages are
discriminative enough (docs/anomaly.md gives the numbers, and where a trained backbone is needed).
The fast versions work at 64 px; the slow ones at the demo's 128 px.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from cnnlab.cli import main
from cnnlab.runs import run_dir_problem
from cnnlab.tasks.anomaly import evaluate, fit, load_detector, score


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    old = os.environ.get("CNNLAB_CACHE")
    path = tmp_path_factory.mktemp("cache")
    os.environ["CNNLAB_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("CNNLAB_CACHE", None)
    else:
        os.environ["CNNLAB_CACHE"] = old


def test_padim_fast(tmp_path):
    det = fit("defects-sample", "padim", "resnet18", out=tmp_path / "det", image_size=64, padim_dims=50, progress=False)
    res = evaluate(det, "defects-sample", progress=False)
    assert res["image_auroc"] >= 0.9, res
    assert 0.5 < res["pixel_auroc"] <= 1 and 0 <= res["pro_0.3"] <= 1
    # the threshold comes from held-out normal images: no test file among them
    assert all("/train/good/" in p for p in det.meta["val_images"])
    assert det.meta["image_threshold"] == pytest.approx(np.quantile(det.meta["val_scores"], 0.99))
    # the saved detector scores exactly as the fitted one
    again = load_detector(tmp_path / "det")
    from cnnlab.tasks.anomaly.data import load_images, resolve_data

    paths = [t.path for t in resolve_data("defects-sample").test[::7]]
    x = load_images(paths, 64, 3)
    s1, m1 = det.predict(x)
    s2, m2 = again.predict(x)
    np.testing.assert_allclose(s1, s2, rtol=1e-5)
    np.testing.assert_allclose(m1, m2, rtol=1e-5, atol=1e-5)


def test_patchcore_fast(tmp_path):
    det = fit(
        "defects-sample",
        "patchcore",
        "resnet18",
        image_size=64,
        stages=["layer1", "layer2"],
        coreset=0.05,
        progress=False,
    )
    assert det.meta["bank_size"] == round(0.05 * det.meta["bank_patches"])
    res = evaluate(det, "defects-sample", progress=False)
    assert res["image_auroc"] >= 0.9, res


@pytest.mark.slow
@pytest.mark.parametrize("method,opts", [("padim", {}), ("patchcore", {"stages": [0, 1]})])
def test_demo_size(method, opts, tmp_path):
    det = fit("defects-sample", method, "resnet18", progress=False, **opts)
    res = evaluate(det, "defects-sample", out=tmp_path, progress=False)
    assert res["image_auroc"] >= 0.95 and res["pixel_auroc"] >= 0.9, res


def test_cli_fit_score_evaluate(tmp_path, capsys):
    out = tmp_path / "det"
    assert (
        main(
            [
                "anomaly",
                "fit",
                "--data",
                "defects-sample:grain",
                "--method",
                "padim",
                "--backbone",
                "resnet18",
                "--image-size",
                "48",
                "--stages",
                "0",
                "1",
                "--dims",
                "20",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "image threshold" in capsys.readouterr().out
    meta = json.loads((out / "detector.json").read_text())
    assert meta["method"] == "padim" and meta["stage_names"] == ["layer1", "layer2"] and meta["dims"] == 20
    assert run_dir_problem(out) is None  # a cnnlab run folder: --overwrite may replace it
    root = os.environ["CNNLAB_CACHE"]
    img = f"{root}/defects-sample-v1/grain/test/hole/000.png"
    assert main(["anomaly", "score", str(out), img, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["overlay"].endswith("000_anomaly.png") and os.path.getsize(rows[0]["overlay"]) > 1000
    assert main(["anomaly", "evaluate", str(out), "--data", "defects-sample:grain", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["split"] == "test" and {r["group"] for r in res["per_group"]} == {"good", "hole", "scratch", "stain"}
    assert os.path.getsize(out / "evaluation" / "heatmaps.png") > 1000
    # API and CLI agree
    assert score(out, [img])[0].score == pytest.approx(rows[0]["score"])


def test_cli_errors(tmp_path, capsys):
    assert main(["anomaly", "fit", "--data", "mvtec:" + str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["anomaly", "score", str(tmp_path), "x.png"]) == 2
    assert "detector.safetensors" in capsys.readouterr().err
    assert (
        main(["anomaly", "fit", "--data", "defects-sample", "--backbone", "resnet1", "--out", str(tmp_path / "o")]) == 2
    )
    assert "resnet18" in capsys.readouterr().err
