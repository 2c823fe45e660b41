"""Untrusted uploads: bounded bytes, bounded pixels, image formats only.

A request body is read in chunks and refused as soon as it passes ``max_bytes``; the image header
is read before any pixel, and a picture of more than ``max_pixels`` (a decompression bomb: a few
kilobytes of PNG that decode to gigabytes) is refused before it is decoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from .errors import ApiError

FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 8 * 1024 * 1024  # 8 MiB per upload
    max_pixels: int = 24_000_000  # 24 megapixels (a 6000 x 4000 photo)
    max_json_bytes: int = 256 * 1024  # the JSON bodies of the playground


async def read_body(request, limit: int) -> bytes:
    """The request body, refused with 413 once it passes ``limit`` bytes (Content-Length checked first)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(int(declared), limit)
        except ValueError:
            raise ApiError(400, "the Content-Length header is not a number") from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"the upload is larger than {limit:,} bytes (got at least {size:,})",
        "send a smaller image (the server's --max-upload-mb sets the limit)",
    )


async def read_image_upload(request, limits: Limits) -> Image.Image:
    """An image sent as the raw body (Content-Type image/*) or as the ``file`` field of a multipart form."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        data = await _multipart_file(request, limits)
    elif ctype.startswith("image/") or ctype == "application/octet-stream":
        data = await read_body(request, limits.max_bytes)
    else:
        raise ApiError(
            415,
            f"expected an image, got Content-Type {ctype or 'none'!r}",
            "send the image file as the body (image/png, image/jpeg, ...) or as the 'file' form field",
        )
    return decode_image(data, limits)


async def _multipart_file(request, limits: Limits) -> bytes:
    """The ``file`` field of a multipart form, the whole body bounded before the form is parsed."""
    from starlette.requests import Request

    body = await read_body(request, limits.max_bytes + 64 * 1024)  # the file plus the form's own lines
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async with Request(request.scope, replay).form(max_files=1, max_fields=4) as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "the form has no 'file' field with an image")
        data = await upload.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise _too_large(len(data), limits.max_bytes)
    return data


def decode_image(data: bytes, limits: Limits) -> Image.Image:
    """Decode bytes into a Pillow image after checking format and pixel count from the header alone."""
    if not data:
        raise ApiError(400, "the upload is empty", "send an image file")
    if len(data) > limits.max_bytes:
        raise _too_large(len(data), limits.max_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=FORMATS)
            w, h = im.size
            if w * h > limits.max_pixels:
                raise ApiError(
                    413,
                    f"the image is {w} x {h} = {w * h:,} pixels, more than the {limits.max_pixels:,} "
                    "allowed (a decompression bomb is refused before decoding)",
                    "send a smaller picture",
                )
            im.seek(0)  # the first frame of an animation
            im.load()
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ApiError(413, f"image refused: {e}", "send a smaller picture") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise ApiError(
            415, f"not a readable image ({e.__class__.__name__})", f"send one of: {', '.join(FORMATS)}"
        ) from None
    return im
