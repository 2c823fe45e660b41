"""The IDX file format of MNIST and Fashion-MNIST (LeCun et al.), gzip-compressed or raw.

Layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then one
big-endian uint32 per dimension, then the data in C order.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import CnnlabError

_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}


def _open(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


MAX_IDX_BYTES = 4 << 30


def idx_shape(path: str | Path) -> tuple[int, ...] | None:
    """The array shape an IDX file's header declares (the header only is read), or None if unreadable
    (``read_idx`` then reports what is wrong when the data is read)."""
    try:
        with _open(Path(path)) as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                return None
            dims = f.read(4 * head[3])
            return struct.unpack(f">{head[3]}I", dims) if len(dims) == 4 * head[3] else None
    except (OSError, EOFError, struct.error):
        return None


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw, detected from its bytes) into a NumPy array.

    The header is read first and the data size it declares is checked against the file (raw) or
    read with that bound (gzip), so a header declaring huge dimensions allocates nothing."""
    from ..images import check_regular_file

    path = Path(path)
    check_regular_file(path, "an IDX file")
    try:
        with _open(path) as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _DTYPES or head[3] == 0:
                raise CnnlabError(
                    f"{path}: not an IDX file (header bytes {head.hex(' ') or 'missing'})",
                    "an IDX file starts with 00 00, a type code (08 = uint8) and the number of "
                    "dimensions; check that this is an MNIST-format images or labels file",
                )
            dtype = np.dtype(_DTYPES[head[2]])
            ndim = head[3]
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise CnnlabError(
                    f"{path}: IDX header says {ndim} dimensions but the file ends after {4 + len(dims)} bytes",
                    "the file is truncated or corrupt",
                )
            shape = struct.unpack(f">{ndim}I", dims)
            expected = math.prod(shape) * dtype.itemsize
            if expected > MAX_IDX_BYTES:
                raise CnnlabError(
                    f"{path}: IDX header declares shape {tuple(shape)} ({expected:,} bytes), more "
                    f"than the {MAX_IDX_BYTES >> 30} GiB cnnlab reads",
                    "the file is corrupt",
                )
            raw_size = path.stat().st_size - 4 - 4 * ndim
            if not isinstance(f, gzip.GzipFile) and raw_size != expected:
                raise CnnlabError(
                    f"{path}: IDX header says shape {tuple(shape)} ({expected:,} bytes of data) "
                    f"but the file holds {raw_size:,}",
                    "the file is truncated or corrupt",
                )
            data = f.read(expected + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise CnnlabError(f"{path}: cannot read ({e})", "the file may be truncated; fetch it again") from e
    if len(data) != expected:
        raise CnnlabError(
            f"{path}: IDX header says shape {tuple(shape)} ({expected:,} bytes of data) "
            f"but the file holds {len(data):,}{'+' if len(data) > expected else ''}",
            "the file is truncated or corrupt",
        )
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` (uint8 or int8) as IDX; gzip when ``compress`` or the name ends in ``.gz``."""
    path = Path(path)
    array = np.ascontiguousarray(array)
    code = _CODES.get(array.dtype)
    if code is None:
        raise ValueError(f"write_idx supports uint8 and int8, not {array.dtype}")
    payload = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    path.write_bytes(payload)
