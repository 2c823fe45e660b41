"""Weights on demand: download a published weight file into the cache, check its hash, return the path.

    >>> path = fetch_weights("resnet18")        # ~/.cache/cnnlab/weights/resnet18-f37072fd.pth
    >>> model = create_model("resnet18", pretrained=True)   # the same, then load_weights

- Cache: ``$CNNLAB_HOME/weights`` (default ``~/.cache/cnnlab/weights``). A file already there is
  used without the network once its SHA-256 has been checked (the full digest is kept next to
  it in ``FILE.sha256`` with the size and modification time it was checked at).
- Download: streamed to a temporary file in the cache folder with a progress bar, hashed on the
  way, checked against the published prefix (``models/published.py``), flushed to disk and only
  then renamed to its final name: an interrupted or corrupted download never leaves a file the
  next call would take for the weights.
- Mirror: ``base_url=`` (or ``$CNNLAB_WEIGHTS_MIRROR``) replaces the publisher's folder with
  another one serving the same file names (an internal mirror; the tests' loopback server).
- Offline: a :class:`CnnlabError` names the URL that failed and the path to put the file at by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import CnnlabError
from .published import PublishedWeights, published_weights

CHUNK = 1 << 20
TIMEOUT = 30.0  # seconds without a byte before a download is abandoned
MAX_BYTES = 4 << 30  # no published classification weight file is near 4 GiB


def cnnlab_home() -> Path:
    return Path(os.environ.get("CNNLAB_HOME") or Path.home() / ".cache" / "cnnlab").expanduser()


def weights_dir() -> Path:
    return cnnlab_home() / "weights"


def source_url(w: PublishedWeights, base_url: str | None = None) -> str:
    base = base_url or os.environ.get("CNNLAB_WEIGHTS_MIRROR")
    return f"{base.rstrip('/')}/{w.filename}" if base else w.url


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _checked(path: Path, w: PublishedWeights) -> bool:
    """A cached file whose hash was checked at its current size and modification time, or checked now."""
    st = path.stat()
    try:
        rec = json.loads(_stamp(path).read_text())
        if rec["size"] == st.st_size and rec["mtime_ns"] == st.st_mtime_ns and rec["sha256"].startswith(w.sha256):
            return True
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    digest = sha256_of(path)
    if not digest.startswith(w.sha256):
        raise CnnlabError(
            f"{path}: SHA-256 {digest[:16]}... does not start with the published {w.sha256} ({w.publisher} {w.model})",
            f"the file is damaged or not {w.filename}; delete it and run `cnnlab weights fetch {w.model}`",
        )
    _write_stamp(path, digest)
    return True


def _write_stamp(path: Path, digest: str) -> None:
    st = path.stat()
    tmp = _stamp(path).with_suffix(".tmp")
    tmp.write_text(json.dumps({"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    os.replace(tmp, _stamp(path))


def fetch_weights(
    name: str, *, base_url: str | None = None, progress: bool = True, cache_dir: str | Path | None = None
) -> Path:
    """The path of ``name``'s published weight file in the cache, downloaded and checked if needed."""
    w = published_weights(name)
    folder = Path(cache_dir) if cache_dir is not None else weights_dir()
    target = folder / w.filename
    if target.is_file() and _checked(target, w):
        return target
    url = source_url(w, base_url)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CnnlabError(
            f"cannot create the weights cache {folder}: {e.strerror}", "set CNNLAB_HOME to a writable folder"
        ) from e
    digest = _download(url, target, w, progress)
    _write_stamp(target, digest)
    return target


def _download(url: str, target: Path, w: PublishedWeights, progress: bool) -> str:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, size, expected = _stream(url, out, target, w, progress)
            out.flush()
            os.fsync(out.fileno())
        if expected is not None and size != expected:
            raise CnnlabError(
                f"the download of {url} stopped after {size:,} of {expected:,} bytes", _by_hand(url, target)
            )
        if not digest.startswith(w.sha256):
            raise CnnlabError(
                f"{url}: the downloaded file's SHA-256 {digest[:16]}... does not start with the "
                f"published {w.sha256}; it was not kept",
                "the server sent another file (a proxy's error page, a changed release); " + _by_hand(url, target),
            )
        os.replace(tmp, target)
        return digest
    finally:
        tmp.unlink(missing_ok=True)


def _stream(url: str, out, target: Path, w: PublishedWeights, progress: bool) -> tuple[str, int, int | None]:
    from tqdm.auto import tqdm

    h = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
            length = resp.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            if expected is not None and expected > MAX_BYTES:
                raise CnnlabError(
                    f"{url} announces {expected:,} bytes, more than any weight file cnnlab fetches",
                    _by_hand(url, target),
                )
            with tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=w.filename,
                disable=not progress,
                leave=False,
            ) as bar:
                while True:
                    block = resp.read(CHUNK)
                    if not block:
                        break
                    size += len(block)
                    if size > MAX_BYTES:
                        raise CnnlabError(f"{url} sent more than {MAX_BYTES:,} bytes", _by_hand(url, target))
                    h.update(block)
                    out.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as e:
        raise CnnlabError(f"could not download {url}: HTTP {e.code} {e.reason}", _by_hand(url, target)) from e
    except urllib.error.URLError as e:
        raise CnnlabError(f"could not download {url}: {e.reason} (offline?)", _by_hand(url, target)) from e
    except (OSError, ValueError, http.client.HTTPException) as e:  # reset, IncompleteRead, timeout mid-body
        raise CnnlabError(f"the download of {url} failed after {size:,} bytes: {e}", _by_hand(url, target)) from e
    return h.hexdigest(), size, expected


def _by_hand(url: str, target: Path) -> str:
    return (
        f"download {url} on a machine with internet access and copy it to {target} (keep the name; "
        f"cnnlab checks its SHA-256 before use), or set CNNLAB_HOME / CNNLAB_WEIGHTS_MIRROR"
    )
