"""Decoding image files into fixed-size uint8 arrays, in worker processes.

An *item* is where one image's bytes are: a file path, or a :class:`TarMember` (a byte range of a
tar archive, for WebDataset shards). :func:`decode_image` turns one item into ``channels x size x
size`` uint8 (shorter side resized to ``size``, centre crop); :func:`decode_all` decodes a list of
items in ``workers`` forked processes, writing into an array the caller gives (in memory, or a
memory-mapped cache file), so the decoded set never has to fit in memory twice.
"""

from __future__ import annotations

import io
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from typing import NamedTuple

import numpy as np

from .dataset import per_image_sums

CHUNK = 64  # images per task: large enough to amortise the task's pickling, small for the progress bar


class TarMember(NamedTuple):
    """One member of a tar archive: the archive's path, the offset and size of the member's data."""

    tar: str
    offset: int
    size: int
    name: str  # the member's name inside the archive (for messages)

    def __str__(self) -> str:
        return f"{self.tar}:{self.name}"


class _MemberBytes(io.BytesIO):
    """A member's bytes as a file object whose str() names the archive and member (for messages)."""

    def __init__(self, data: bytes, label: str):
        super().__init__(data)
        self.label = label

    def __str__(self) -> str:
        return self.label

    __repr__ = __str__


def read_member(m: TarMember) -> _MemberBytes:
    with open(m.tar, "rb") as f:
        f.seek(m.offset)
        data = f.read(m.size)
    if len(data) != m.size:
        raise OSError(f"{m}: the archive ends inside the member (truncated file)")
    return _MemberBytes(data, str(m))


def decode_image(item, size: int, channels: int, info: dict | None = None) -> np.ndarray:
    """One item -> size x size x channels uint8: shorter side resized to ``size``, centre crop.

    ``info["upsampled"]`` (when a dict is given) says whether the image was smaller than ``size``.
    """
    from ..images import open_image, resize_and_center_crop, to_array

    source = read_member(item) if isinstance(item, TarMember) else item
    # regular files only, within the pixel limit; JPEG decoded at a reduced scale, large images box-reduced
    im = open_image(source, reduce_to=size)
    if info is not None:
        info["upsampled"] = min(im.size) < size
    arr = to_array(im, channels)  # EXIF orientation, 16-bit scaled, alpha composited on white, then RGB or L
    return resize_and_center_crop(arr, size, size)


def error_text(e: Exception, item) -> str:
    """An exception's message without the item's own name (the caller names it once)."""
    text = getattr(e, "message", None) or str(e)  # a CnnlabError's message without its hint
    for name in (repr(str(item)), str(item)):
        text = text.replace(name, "the file")
    return f"{e.__class__.__name__}: {text}"


def decode_chunk(task):
    items, size, channels = task
    out = np.zeros((len(items), channels, size, size), dtype=np.uint8)
    errors = []
    info = {"upsampled": False}
    small = 0
    for i, item in enumerate(items):
        try:
            out[i] = decode_image(item, size, channels, info).transpose(2, 0, 1)
            small += info["upsampled"]
        except Exception as e:  # noqa: BLE001 - any decoder failure is a bad image, reported with its path
            errors.append((i, error_text(e, item)))
    return out, errors, small, per_image_sums(out)


def decode_all(
    items: list,
    size: int,
    channels: int,
    workers: int,
    progress: bool,
    out: np.ndarray | None = None,
    sums: np.ndarray | None = None,
) -> tuple[np.ndarray, list[tuple[int, str]], int, np.ndarray]:
    """Decode every item into ``out`` (default: a new array); returns (the N x C x size x size uint8
    array, [(index, error)], how many were upsampled, N x C x 2 per-image pixel sums) with failures
    left zero."""
    from tqdm import tqdm

    from ..progress import bar_enabled

    tasks = [
        ([i if isinstance(i, TarMember) else str(i) for i in items[k : k + CHUNK]], size, channels)
        for k in range(0, len(items), CHUNK)
    ]
    images = out if out is not None else np.zeros((len(items), channels, size, size), dtype=np.uint8)
    sums = sums if sums is not None else np.zeros((len(items), channels, 2), dtype=np.float64)
    errors: list[tuple[int, str]] = []
    upsampled = 0
    bar = tqdm(
        total=len(items),
        unit="img",
        desc="decoding",
        disable=not bar_enabled(progress),
        leave=False,
        dynamic_ncols=True,
    )
    workers = min(workers, len(tasks))

    def collect(k, result):
        nonlocal upsampled
        arr, errs, small, part_sums = result
        upsampled += small
        images[k * CHUNK : k * CHUNK + len(arr)] = arr
        sums[k * CHUNK : k * CHUNK + len(arr)] = part_sums
        errors.extend((k * CHUNK + i, msg) for i, msg in errs)
        bar.update(len(arr))

    try:
        if workers <= 1:
            for k, t in enumerate(tasks):
                collect(k, decode_chunk(t))
        else:
            # fork: workers start instantly and import nothing; they only run Pillow and NumPy
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
                for k, result in enumerate(pool.map(decode_chunk, tasks)):
                    collect(k, result)
    finally:
        bar.close()
    return images, sorted(errors), upsampled, sums
