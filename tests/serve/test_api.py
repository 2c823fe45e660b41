"""The JSON API of `cnnlab serve`, through Starlette's test client: every answer checked against the
library called directly or against numbers computed here."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import stroke_png
from PIL import Image

import cnnlab
from cnnlab.images import to_array
from cnnlab.predict import center_like_mnist, predict
from cnnlab.serve import api_models, exposure_warning
from cnnlab.serve.app import STATIC

ROOT = Path(__file__).resolve().parents[2]


def png_of(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def post_png(client, data: bytes, query: str = ""):
    return client.post("/api/predict" + query, content=data, headers={"content-type": "image/png"})


# ------------------------------------------------------------------ the page itself


def test_page_and_every_asset_are_served_locally(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    refs = re.findall(r'(?:src|href)="([^"#]+)"', r.text)
    assert refs and all(ref.startswith("/static/") or ref.startswith("data:") for ref in refs), refs
    for f in sorted(STATIC.iterdir()):
        text = f.read_text()
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{f.name} refers to {urls}: every asset must be local"
        imports = re.findall(r'from "\./([^"]+)"', text)
        for name in imports:
            assert (STATIC / name).is_file(), f"{f.name} imports a missing {name}"
        assert client.get(f"/static/{f.name}").status_code == 200


def test_demo_run_was_trained_on_first_start_with_progress(demo_run, client):
    assert demo_run.first_status["state"] == "training"
    epochs = demo_run.overrides["epochs"]
    assert re.search(rf"epoch \d+/{epochs} done", demo_run.first_status["message"])
    s = client.get("/api/status").json()
    assert s["demo"]["state"] == "ready" and s["default_run"] == "demo"
    (run,) = s["runs"]
    assert run["model"] == "lenet5" and run["epochs_done"] == epochs and run["has_model"]
    assert run["val_top1"] > 85  # held-out split of mnist-sample after 2 epochs or more


# ------------------------------------------------------------------ draw and predict


def test_prediction_of_a_drawn_one_agrees_with_cnnlab_predict(client, demo_run, tmp_path):
    data = stroke_png()
    r = post_png(client, data)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["top"][0]["class"] == "1"
    assert len(got["top"]) == 5
    probs = [t["probability"] for t in got["top"]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
    file = tmp_path / "one.png"
    file.write_bytes(data)
    (ref,) = predict(demo_run.path, [file], top_k=5)
    assert [t["class"] for t in got["top"]] == [c for c, _ in ref.top]
    assert probs == pytest.approx([p for _, p in ref.top], abs=1e-6)


def test_the_input_the_network_saw_is_the_mnist_style_centring(client):
    data = stroke_png(points=((60, 30), (90, 120)))
    got = post_png(client, data).json()
    expected = center_like_mnist(to_array(Image.open(io.BytesIO(data)), 1), 28)[..., 0]
    seen = np.array(got["input"]["matrix"])
    assert seen.shape == (28, 28)
    assert np.abs(seen.astype(int) - expected.astype(int)).max() <= 1  # normalised and back: rounding only
    assert (png_of(got["input"]["png"]) == seen).all()


def test_feature_maps_of_every_layer_are_mosaics_of_the_right_size(client):
    got = post_png(client, stroke_png()).json()
    layers = {layer["name"]: layer for layer in got["layers"]}
    # LeNet-5: 6 maps of 28x28 (c1), 6 of 14x14 (s2), 16 of 10x10 (c3), 16 of 5x5 (s4), then vectors
    for name, (c, h, rows, cols) in {
        "features.c1": (6, 28, 2, 3),
        "features.s2": (6, 14, 2, 3),
        "features.c3": (16, 10, 4, 4),
        "features.s4": (16, 5, 4, 4),
    }.items():
        layer = layers[name]
        assert layer["shape"] == [c, h, h] and layer["kind"] == "maps"
        assert (layer["rows"], layer["cols"]) == (rows, cols) == (math.ceil(c / cols), math.ceil(math.sqrt(c)))
        img = png_of(layer["png"])
        assert img.shape == (rows * h + rows - 1, cols * h + cols - 1, 3)
        assert img.std() > 5, f"{name} is blank"
    assert layers["output"]["shape"] == [10] and layers["output"]["kind"] == "vector"
    assert png_of(layers["output"]["png"]).shape == (1, 10, 3)
    cam = png_of(got["gradcam"]["png"])
    assert cam.shape == (112, 112, 3) and cam.std() > 5
    assert got["gradcam"]["class"] == got["top"][0]["class"]
    assert got["timing_ms"]["total"] > 0


def test_an_image_sent_as_a_form_field_gives_the_same_answer(client):
    data = stroke_png()
    a = post_png(client, data).json()
    b = client.post("/api/predict", files={"file": ("one.png", data, "image/png")}).json()
    assert [t["probability"] for t in a["top"]] == [t["probability"] for t in b["top"]]


def test_a_dark_on_light_photo_is_inverted_and_says_so(client):
    got = post_png(client, stroke_png(background=255, ink=0)).json()
    assert got["top"][0]["class"] == "1"
    assert any("inverted" in n for n in got["notes"])


def test_a_colour_run_gets_colour_pictures(tmp_path):
    import torch
    from starlette.testclient import TestClient

    from cnnlab.runs import save_model
    from cnnlab.serve import build

    run = tmp_path / "cifar-run"
    run.mkdir()
    torch.manual_seed(0)
    model = cnnlab.create_model("resnet20", num_classes=10).eval()
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    save_model(
        run / "model.safetensors",
        model,
        {
            "model": "resnet20",
            "model_args": {},
            "classes": classes,
            "input_size": [3, 32, 32],
            "mean": [0.49, 0.48, 0.45],
            "std": [0.25, 0.24, 0.26],
            "background": "light",
        },
    )
    app, _ = build([run], demo_dir=None)
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    buf = io.BytesIO()
    photo.save(buf, "JPEG")
    got = (
        TestClient(app, base_url="http://127.0.0.1")
        .post("/api/predict", content=buf.getvalue(), headers={"content-type": "image/jpeg"})
        .json()
    )
    assert got["run"] == "cifar-run" and len(got["top"]) == 5 and got["top"][0]["class"] in classes
    assert got["input"]["matrix"] is None and png_of(got["input"]["png"]).shape == (32, 32, 3)
    assert "centre-cropped to the model's aspect ratio" in got["notes"]
    first = got["layers"][0]
    assert first["name"] == "conv1" and first["shape"] == [16, 32, 32] and first["shown"] == 16
    assert got["layers"][-1]["shape"] == [10]
    assert png_of(got["gradcam"]["png"]).shape == (128, 128, 3)
    # resnet20 has 61 leaf layers (convs, norms, ReLUs, pool, fc): more than 60, so one in n is shown
    from cnnlab.serve.inspect import every_layer

    n = len(every_layer(model, torch.zeros(1, 3, 32, 32)))
    step = -(-n // 60)
    assert len(got["layers"]) == len(range(0, n, step)) + ((n - 1) % step != 0) <= 60
    assert any(f"{n} layers: one in {step} is shown" in note for note in got["notes"]) == (n > 60)


# ------------------------------------------------------------------ safe by default


def test_uploads_are_bounded_in_bytes_and_pixels(client):
    limit = client.app.state.limits.max_bytes
    r = post_png(client, b"\x89PNG" + b"0" * limit)
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    bomb = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(bomb, "PNG")  # 100 megapixels in ~12 KB
    assert len(bomb.getvalue()) < 100_000
    r = post_png(client, bomb.getvalue())
    assert r.status_code == 413 and "decompression bomb" in r.json()["error"]
    r = client.post("/api/predict", files={"file": ("big.png", bomb.getvalue(), "image/png")})
    assert r.status_code == 413


@pytest.mark.parametrize(
    "body, ctype, status",
    [
        (b"just text", "image/png", 415),
        (b"%PDF-1.4 not an image", "application/octet-stream", 415),
        (b"anything", "text/plain", 415),
        (b"", "image/png", 400),
    ],
)
def test_only_images_are_accepted(client, body, ctype, status):
    r = client.post("/api/predict", content=body, headers={"content-type": ctype})
    assert r.status_code == status
    assert r.json()["error"] and "Traceback" not in r.text


@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/..%2F..%2Fetc",
        "/api/runs/demo/pictures/../config.json",
        "/api/runs/demo/pictures/%2Fetc%2Fpasswd",
        "/api/runs/demo/pictures/model.safetensors",
        "/api/runs/%2Ftmp/metrics",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
    ],
)
def test_no_file_system_path_is_taken_from_the_client(client, path):
    r = client.get(path)
    assert r.status_code == 404 and r.json()["error"]


def test_a_run_is_chosen_by_id_only(client):
    r = post_png(client, stroke_png(), "?run=/tmp")
    assert r.status_code == 404 and "no run with id" in r.json()["error"]


def test_errors_are_json_never_a_traceback_page(client, monkeypatch):
    def boom():
        raise RuntimeError("secret detail")

    monkeypatch.setattr(api_models, "catalogue", boom)
    r = client.get("/api/models")
    assert r.status_code == 500 and r.json()["error"] == "internal error: RuntimeError"
    assert "Traceback" not in r.text and "secret detail" not in r.text
    assert client.get("/api/nothing-here").json()["status"] == 404
    r = client.delete("/api/predict")
    assert r.status_code == 405 and r.json()["error"]
    r = client.get("/api/status", headers={"host": "attacker.example:8000"})  # DNS rebinding
    assert r.status_code == 400 and "not served here" in r.json()["error"]


def test_binding_beyond_loopback_warns():
    for host in ("127.0.0.1", "localhost", "::1"):
        assert exposure_warning(host) is None
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        assert "other machines" in exposure_warning(host)


# ------------------------------------------------------------------ convolution playground


def _correlate(x, k, stride, pad):
    x = np.pad(np.asarray(x, float), pad)
    kh, kw = k.shape
    oh, ow = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    return np.array(
        [
            [(x[i * stride : i * stride + kh, j * stride : j * stride + kw] * k).sum() for j in range(ow)]
            for i in range(oh)
        ]
    )


def test_every_window_is_the_text_of_cnnlab_explain_conv(client):
    x, k = "3 1 4 1 5; 9 2 6 5 3; 5 8 9 7 9; 3 2 3 8 4; 6 2 6 4 3", "1 0 -1; 2 0 -2; 1 0 -1"
    got = client.post("/api/conv/explain", json={"input": x, "kernel": k, "padding": 1, "stride": 2}).json()
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnlab",
            "explain",
            "conv",
            "--input",
            x,
            "--kernel",
            k,
            "--padding",
            "1",
            "--stride",
            "2",
            "--max-steps",
            "0",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert [s["text"] for s in got["steps"]] == [line for line in cli.splitlines() if line.startswith("out[")]
    want = _correlate(
        np.array([[float(v) for v in row.split()] for row in x.split(";")]),
        np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]]),
        2,
        1,
    )
    assert np.array(got["output"][0]) == pytest.approx(want)
    assert got["axes"][0]["formula"] == "(5 - 3 + 2x1)/2 + 1 = 3" and got["axes"][0]["fits"]
    assert got["steps"][0]["rows"] == [0, 1, 2] and got["steps"][1]["cols"] == [2, 3, 4]


def test_the_lecture_example_and_a_stride_that_does_not_fit(client):
    lecture = {"input": [[0, 1, 2], [3, 4, 5], [6, 7, 8]], "kernel": "0 1; 2 3"}
    got = client.post("/api/conv/explain", json=lecture).json()
    assert [s["value"] for s in got["steps"]] == [19, 25, 37, 43]  # lecture 001
    assert got["steps"][1]["text"] == "out[0, 1] = 1x0 + 2x1 + 4x2 + 5x3 = 25"
    seven = [[7 * r + c for c in range(7)] for r in range(7)]
    # lecture 000: strides 1, 2, 4 fit, 3 does not (its last column is never read); stride 4 > kernel 3
    # fits but skips the middle pixel
    for stride, fits, out, unread in ((1, True, 5, []), (2, True, 3, []), (3, False, 2, [6]), (4, True, 2, [3])):
        got = client.post("/api/conv/explain", json={"input": seven, "filter": "box", "stride": stride}).json()
        assert [a["fits"] for a in got["axes"]] == [fits, fits]
        assert np.array(got["output"][0]).shape == (out, out)
        assert got["axes"][0]["unreached"] == got["axes"][1]["unreached"] == unread
    assert got["axes"][0]["formula"] == "(7 - 3 + 2x0)/4 + 1 = 2"
    got = client.post("/api/conv/explain", json={"input": seven, "filter": "box", "stride": 3}).json()
    assert got["axes"][1]["formula"] == "(7 - 3 + 2x0)/3 + 1 = 2.33333 -> floor -> 2"
    assert "stride 3 does not fit" in got["axes"][1]["message"] and "1, 2, 4" in got["axes"][1]["message"]


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"input": "1 2; 3 4 | 5 6; 7 8", "kernel": "1"}, 400, "single matrix"),
        ({"input": [[0] * 65] * 2, "kernel": "1"}, 400, "64x64"),
        ({"input": "1 2; 3 4", "kernel": "1", "stride": 0}, 400, "outside"),
        ({"input": "1 2; 3 4", "kernel": "1", "padding": "lots"}, 400, "padding"),
        ({"input": "1 2; 3 4", "filter": "sobel"}, 404, "unknown filter"),
        ({"input": "1 2; 3 4", "kernel": "1 2 3; 4 5 6; 7 8 9"}, 400, "larger than"),
        ({"input": [[1, "x"]], "kernel": "1"}, 400, "not a matrix"),
        ({"input": [[0] * 64] * 64, "kernel": [[1] * 11] * 11, "padding": 16}, 400, "products"),
    ],
)
def test_bad_playground_input_is_a_json_error(client, body, status, words):
    r = client.post("/api/conv/explain", json=body)
    assert r.status_code == status and words in r.json()["error"], r.json()


def test_presets_and_a_photo_shrunk_to_a_small_matrix(client):
    p = client.get("/api/conv/presets").json()
    ids = [i["id"] for i in p["inputs"]]
    assert ids[:3] == ["cross-correlation", "padding", "stride"] and "digit" in ids
    digit = next(i for i in p["inputs"] if i["id"] == "digit")["matrix"]
    assert np.array(digit).shape == (28, 28)
    assert {"identity", "box", "gaussian", "sharpen", "edge", "sobel-x"} <= {k["id"] for k in p["kernels"]}
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    got = client.post("/api/conv/image?side=8", content=buf.getvalue(), headers={"content-type": "image/png"}).json()
    m = np.array(got["matrix"])
    assert m.shape == (4, 8) and (m == 76).all()  # ITU-R 601 luma of pure red: 0.299 x 255 = 76
    assert (
        client.post(
            "/api/conv/image?side=1000", content=buf.getvalue(), headers={"content-type": "image/png"}
        ).status_code
        == 400
    )


# ------------------------------------------------------------------ model explorer


def test_resnet18_summary_and_receptive_field_growth(client):
    got = client.get("/api/summary?model=resnet18").json()
    assert got["totals"]["macs"] == 1_814_073_344 and got["params"]["total"] == 11_689_512
    assert got["input_size"] == [3, 224, 224] and got["layers"][0]["name"] == "conv1"
    sizes = [g["size"][0] for g in got["rf_growth"]]
    assert sizes[:2] == [7, 11]  # 7x7 stride-2 conv, then a 3x3 stride-2 pool: 7 + (3 - 1) x 2
    assert sizes == sorted(sizes)


def test_a_runs_network_summary_is_counted_by_hand(client):
    got = client.get("/api/summary?run=demo").json()
    # LeNet-5 at 1x28x28: c1 6x28x28x25, c3 16x10x10x6x25, c5 120x16x25, f6 120x84, output 84x10
    assert got["totals"]["macs"] == 6 * 28 * 28 * 25 + 16 * 10 * 10 * 6 * 25 + 120 * 16 * 25 + 120 * 84 + 84 * 10
    assert got["input_size"] == [1, 28, 28]


def test_compare_two_to_five_models(client):
    got = client.get("/api/compare?models=resnet18,alexnet&size=224").json()
    assert [m["model"] for m in got["models"]] == ["resnet18", "alexnet"]
    assert got["models"][0]["macs"] == 1_814_073_344
    assert got["models"][1]["macs"] == cnnlab.summary("alexnet", input_size=224).macs
    assert client.get("/api/compare?models=resnet18").status_code == 400
    six = ",".join(["alexnet"] * 6)
    assert "2 to 5" in client.get(f"/api/compare?models={six}").json()["error"]
    r = client.get("/api/compare?models=resnet18,resnet181")
    assert r.status_code == 404 and "resnet18" in r.json()["hint"]
    assert client.get("/api/summary?model=alexnet&size=99999").status_code == 400


def test_only_registered_names_reach_the_analyzer(client, demo_run):
    for name in (str(demo_run.path), "../runs/demo", "/etc/passwd"):
        r = client.get("/api/summary", params={"model": name})
        assert r.status_code == 404 and "unknown" in r.json()["error"]
        assert client.get("/api/compare", params={"models": f"alexnet,{name}"}).status_code == 404
    got = client.get("/api/summary?model=lecture:alexnet").json()  # lecture 004's table: conv1 96x55x55
    assert got["layers"][0]["output_shape"] == [96, 55, 55] and got["input_size"] == [3, 227, 227]


def test_model_list_carries_the_cards(client):
    from cnnlab.analysis import lectures

    models = client.get("/api/models").json()
    registered = cnnlab.list_models()
    assert [m["name"] for m in models] == registered + [f"lecture:{n}" for n in lectures.NETS]
    for m in models[: len(registered) : 10]:
        card = cnnlab.model_card(m["name"])
        assert (m["params"], m["macs"], m["input_size"]) == (card.params, card.macs, list(card.input_size))


def test_summaries_are_cached():
    calls = []
    key = ("test", time.time())
    assert api_models._cached(key, lambda: calls.append(1) or 42) == 42
    assert api_models._cached(key, lambda: calls.append(1) or 43) == 42 and calls == [1]


# ------------------------------------------------------------------ training monitor


def test_monitor_follows_metrics_as_they_are_written(tmp_path):
    from starlette.testclient import TestClient

    from cnnlab.serve import build

    run = tmp_path / "runs" / "exp1"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": "resnet20", "data": "cifar10", "epochs": 3}))
    metrics = run / "metrics.jsonl"
    metrics.write_text(json.dumps({"epoch": 1, "train_loss": 2.0, "val_top1": 30.0}) + "\n")
    app, _ = build([tmp_path / "runs"], demo_dir=None)
    client = TestClient(app, base_url="http://127.0.0.1")
    (entry,) = client.get("/api/runs").json()
    assert entry["id"] == "exp1" and entry["epochs_done"] == 1 and entry["epochs"] == 3 and not entry["has_model"]
    with metrics.open("a") as f:
        f.write(json.dumps({"epoch": 2, "train_loss": 1.5, "val_top1": 45.0}) + "\n")
        f.write('{"epoch": 3, "train_lo')  # the trainer is in the middle of a line
    got = client.get("/api/runs/exp1/metrics?since=1").json()
    assert got["total"] == 2 and [r["epoch"] for r in got["rows"]] == [2]
    (run / "eval").mkdir()
    for name in ("zz-other.png", "eval/confusion.png", "curves.png"):
        Image.new("RGB", (4, 4)).save(run / name)
    assert client.get("/api/runs/exp1").json()["pictures"] == ["curves.png", "eval/confusion.png", "zz-other.png"]
    r = client.get("/api/runs/exp1/pictures/eval/confusion.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    r = client.post("/api/predict?run=exp1", content=stroke_png(), headers={"content-type": "image/png"})
    assert r.status_code == 409 and "no trained model" in r.json()["error"]
    (tmp_path / "runs" / "exp2").mkdir()
    (tmp_path / "runs" / "exp2" / "metrics.jsonl").write_text("")
    assert [e["id"] for e in client.get("/api/runs").json()] == ["exp1", "exp2"]  # new runs appear


# ------------------------------------------------------------------ the command


def test_cnnlab_serve_starts_prints_its_address_and_stops(tmp_path, demo_run):
    from cnnlab.serve.server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", "serve", str(demo_run.path.parent), "--no-demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, line
        import httpx

        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert [e["id"] for e in r.json()] == ["demo"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    r = subprocess.run([sys.executable, "-m", "cnnlab", "serve", "--port", "70000"], capture_output=True, text=True)
    assert r.returncode == 2 and "not a TCP port" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "cnnlab", "serve", str(tmp_path / "nowhere"), "--no-demo"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
