"""Weights on demand against a loopback HTTP server: good hash, bad hash, interrupted, offline."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
from contextlib import contextmanager

import pytest
import torch

import cnnlab
from cnnlab.cli import main
from cnnlab.errors import CnnlabError
from cnnlab.models import published
from cnnlab.models.fetch import fetch_weights, sha256_of
from cnnlab.models.published import PUBLISHED, PublishedWeights


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CNNLAB_WEIGHTS_MIRROR", raising=False)
    return tmp_path / "home" / "weights"


def _weight_bytes() -> tuple[bytes, torch.nn.Module]:
    torch.manual_seed(1)
    model = cnnlab.create_model("lenet5")
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue(), model


@contextmanager
def serve(files: dict[str, bytes], cut_at: int | None = None):
    """A loopback server for ``files``; with ``cut_at`` it announces the full length, sends that many
    bytes and closes the connection (an interrupted download)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            name = self.path.rsplit("/", 1)[-1]
            if name not in files:
                self.send_error(404)
                return
            body = files[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if cut_at is None else body[:cut_at])
            self.wfile.flush()
            if cut_at is not None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/models"
    finally:
        server.shutdown()
        server.server_close()


def _entry(body: bytes, sha: str | None = None) -> PublishedWeights:
    sha = sha or hashlib.sha256(body).hexdigest()[:8]
    return PublishedWeights(
        "lenet5", f"https://example.invalid/models/lenet5-{sha}.pth", sha, "torchvision", "TEST", 99.0, None, 28, 28
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_good_hash_downloads_once_and_loads(home, monkeypatch):
    body, model = _weight_bytes()
    entry = _entry(body)
    monkeypatch.setitem(PUBLISHED, "lenet5", entry)
    with serve({entry.filename: body}) as url:
        path = fetch_weights("lenet5", base_url=url, progress=False)
        assert path == home / entry.filename
        assert path.read_bytes() == body
        assert sha256_of(path) == hashlib.sha256(body).hexdigest()
        monkeypatch.setenv("CNNLAB_WEIGHTS_MIRROR", url)
        loaded = cnnlab.create_model("lenet5", pretrained=True)
    # the server is gone: the cached, checked file is used without the network
    again = cnnlab.create_model("lenet5", pretrained=True)
    x = torch.randn(3, 1, 28, 28)
    model.eval(), loaded.eval(), again.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x)) and torch.equal(again(x), model(x))
    assert sorted(p.name for p in home.iterdir()) == [entry.filename, entry.filename + ".sha256"]
    assert loaded.pretrained_cfg["sha256"] == entry.sha256


def test_bad_hash_keeps_nothing(home, monkeypatch):
    body, _ = _weight_bytes()
    entry = _entry(body, sha="00000000")
    monkeypatch.setitem(PUBLISHED, "lenet5", entry)
    with serve({entry.filename: body}) as url, pytest.raises(CnnlabError, match="does not start with") as e:
        fetch_weights("lenet5", base_url=url, progress=False)
    assert "00000000" in str(e.value) and entry.filename in e.value.hint
    assert list(home.iterdir()) == []


def test_interrupted_download_leaves_no_partial_file(home, monkeypatch):
    body, _ = _weight_bytes()
    entry = _entry(body)
    monkeypatch.setitem(PUBLISHED, "lenet5", entry)
    with serve({entry.filename: body}, cut_at=len(body) // 2) as url:
        with pytest.raises(CnnlabError) as e:
            fetch_weights("lenet5", base_url=url, progress=False)
    assert url in str(e.value) and "bytes" in str(e.value)
    assert list(home.iterdir()) == []  # neither the target nor the temporary .part file


def test_offline_names_the_url_and_where_to_put_the_file(home, monkeypatch):
    body, _ = _weight_bytes()
    entry = _entry(body)
    monkeypatch.setitem(PUBLISHED, "lenet5", entry)
    url = f"http://127.0.0.1:{_free_port()}/models"  # nothing listens there
    with pytest.raises(CnnlabError, match="could not download") as e:
        fetch_weights("lenet5", base_url=url, progress=False)
    assert f"{url}/{entry.filename}" in str(e.value)
    assert str(home / entry.filename) in e.value.hint
    # putting the file there by hand is enough: no network needed
    (home / entry.filename).write_bytes(body)
    assert fetch_weights("lenet5", base_url=url, progress=False) == home / entry.filename


def test_a_damaged_cached_file_is_refused(home, monkeypatch):
    body, _ = _weight_bytes()
    entry = _entry(body)
    monkeypatch.setitem(PUBLISHED, "lenet5", entry)
    home.mkdir(parents=True)
    (home / entry.filename).write_bytes(body[:-10] + b"0123456789")
    with pytest.raises(CnnlabError, match="damaged"):
        fetch_weights("lenet5", base_url="http://127.0.0.1:9/none", progress=False)


def test_cli_fetch_through_a_mirror(home, monkeypatch, capsys):
    body, _ = _weight_bytes()
    entry = _entry(body)
    monkeypatch.setitem(PUBLISHED, "lenet5", entry)
    with serve({entry.filename: body}) as url:
        assert main(["weights", "fetch", "lenet5", "--mirror", url, "--json"]) == 0
    out = capsys.readouterr().out
    assert '"loaded": 10' in out and str(home / entry.filename) in out
    assert main(["weights", "fetch", "resnet_nope"]) == 2
    assert "no published weights" in capsys.readouterr().err


def test_pretrained_and_weights_together_are_refused():
    with pytest.raises(CnnlabError, match="not both"):
        cnnlab.create_model("resnet18", pretrained=True, weights="x.pth")


# -- the table itself ----------------------------------------------------------------------
def test_published_table_is_consistent():
    names = set(cnnlab.list_models())
    for name, w in PUBLISHED.items():
        assert name == w.model and name in names
        stem = w.filename.rsplit(".", 1)[0]
        assert stem.rsplit("-", 1)[1] == w.sha256  # the prefix is the one in the published file name
        assert len(w.sha256) in (8, 10) and int(w.sha256, 16) >= 0
        assert w.url.startswith(
            ("https://download.pytorch.org/models/", "https://github.com/rwightman/pytorch-image-models/releases/")
        )
        card = cnnlab.model_card(name)
        if card.top1 is not None:  # the cards quote the same publisher figures
            assert w.top1 == pytest.approx(card.top1, abs=1e-6), name
        assert 0 < w.crop <= w.resize
    assert len(PUBLISHED) >= 45


def test_pretrained_cfg_on_every_model():
    m = cnnlab.create_model("efficientnet_b3")
    cfg = m.pretrained_cfg
    assert m.default_cfg is cfg
    assert cfg["input_size"] == (3, 300, 300) and cfg["interpolation"] == "bicubic"
    assert cfg["crop_pct"] == pytest.approx(300 / 320, abs=1e-4)
    assert cfg["url"].endswith("efficientnet_b3_rwightman-b3899882.pth")
    cfg = published.pretrained_cfg("resnet20")  # CIFAR-10 model, no published weights
    assert cfg["url"] is None and cfg["num_classes"] == 10 and cfg["mean"] is None


def test_cli_list_shows_every_published_file(capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "resnet18-f37072fd.pth" in out and "dm_nfnet_f0-604f9c3a.pth" in out
    assert f"{len(PUBLISHED)} published file(s)" in out
