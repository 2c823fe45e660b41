"""A restricted unpickler for the CIFAR python batches: data only, never code.

``pickle.load`` runs whatever callable a file names, so a downloaded ``data_batch_1`` could execute
anything. The CIFAR files hold only dicts, lists, bytes, str and numbers, plus NumPy uint8 arrays
(pickled through ``numpy.core.multiarray._reconstruct`` + ``numpy.dtype``, or ``_frombuffer`` in
protocol 5, and ``_codecs.encode`` for byte strings written by Python 3). This unpickler resolves
exactly those names, to wrappers that accept numeric dtypes only, and refuses every other global
with an error naming the file.

Memory is bounded by the file: NumPy pickles an array as an empty ``_reconstruct(ndarray, (0,), ...)``
filled by ``__setstate__`` from the file's own bytes (NumPy checks that they match the declared
shape), so ``_reconstruct`` refuses any other shape and ``numpy.ndarray`` cannot be called to
allocate an array from a few bytes. Every array in the result is checked to be numeric.
"""

from __future__ import annotations

import codecs
import io
import pickle
import struct

import numpy as np

from ..errors import CnnlabError

_NUMERIC_KINDS = "biuf"


def _dtype(name, align=False, copy=True):
    if isinstance(name, bytes):
        name = name.decode("ascii")
    dt = np.dtype(name)
    if dt.kind not in _NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"refused array dtype {name!r} (only numeric arrays are allowed)")
    return np.dtype(name, align, copy)


class _NdarrayName:
    """What the name ``numpy.ndarray`` resolves to: an argument of ``_reconstruct``, never a constructor."""

    def __init__(self, *args, **kwargs):
        raise pickle.UnpicklingError("refused a call of numpy.ndarray (an array must come with its data)")


def _reconstruct(subtype, shape, typecode):
    if subtype is not _NdarrayName:
        raise pickle.UnpicklingError("refused an ndarray subclass")
    if (
        not isinstance(shape, tuple)
        or len(shape) > 32
        or not all(isinstance(v, int) for v in shape)
        or any(v < 0 for v in shape)
        or int(np.prod(shape)) != 0
    ):
        raise pickle.UnpicklingError(
            f"refused an array declared with shape {shape!r} before its data (NumPy writes (0,); the data must follow)"
        )
    return np.ndarray.__new__(np.ndarray, shape, _dtype(typecode))


def _frombuffer(buf, dtype, shape, order):
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"refused array dtype {dtype!r}")
    arr = np.frombuffer(bytes(buf), dtype=dtype)
    return arr.reshape(shape, order="F" if order == "F" else "C")


def _encode(text, encoding="latin1"):
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode with {encoding!r}")
    return codecs.encode(text, "latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
}


class DataUnpickler(pickle.Unpickler):
    """Unpickles builtin containers, bytes, str, numbers and numeric NumPy arrays; nothing else."""

    def find_class(self, module: str, name: str):
        found = _ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: a data file must not name code")
        return found


def load_data_pickle(data: bytes, path) -> object:
    """Unpickle ``data`` (read from ``path``, named in errors) with :class:`DataUnpickler`."""
    try:
        obj = DataUnpickler(io.BytesIO(data), encoding="bytes").load()
        _check_arrays(obj)
        return obj
    except pickle.UnpicklingError as e:
        raise CnnlabError(
            f"{path}: refused to unpickle ({e})",
            "CIFAR batches hold only dicts, lists, strings and uint8 arrays; this file holds "
            "something else. Fetch the official cifar-10/100-python files again",
        ) from e
    except (
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        MemoryError,
        RecursionError,
        OverflowError,
        UnicodeDecodeError,
        struct.error,
    ) as e:
        raise CnnlabError(
            f"{path}: not a readable pickle ({e.__class__.__name__}: {e})",
            "the file is truncated or corrupt; fetch it again",
        ) from e


def _check_arrays(obj, depth: int = 0) -> None:
    """Every ndarray inside ``obj`` has a plain numeric dtype (no fields, no objects)."""
    if depth > 50:
        raise pickle.UnpicklingError("refused containers nested more than 50 deep")
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _NUMERIC_KINDS or obj.dtype.fields is not None or obj.dtype.hasobject:
            raise pickle.UnpicklingError(f"refused array dtype {obj.dtype!r} (only numeric arrays are allowed)")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_arrays(k, depth + 1)
            _check_arrays(v, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            _check_arrays(v, depth + 1)
