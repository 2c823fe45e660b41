"""Hand-made image features of the pipeline CNNs replaced (lecture 004, "Prior to CNNs").

- colour histogram: counts of quantised colours; "throws out spatial information";
- HOG, histograms of oriented gradients (Dalal & Triggs 2005): per cell of ``c x c`` pixels a histogram
  of gradient orientations weighted by gradient magnitude, normalised over overlapping blocks of cells;
  "templates of gradient". Written here with scikit-image's conventions (``skimage.feature.hog``:
  centred differences, unsigned orientations in [0, 180), hard binning, cell means, L2-Hys by
  default), so the tests can check it against scikit-image to 1e-6;
- bag of visual words: dense patches -> k-means codebook ("visual vocabulary") -> per image the
  histogram of nearest code words.

Every extractor maps a uint8 ``N x C x H x W`` tensor or array (a data set's images) to an ``N x D``
float64 matrix; :data:`FEATURES` names them for ``cnnlab features``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import CnnlabError

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")


def _as_nchw(images) -> np.ndarray:
    a = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise CnnlabError(f"expected images N x C x H x W, got shape {a.shape}")
    return a


# ------------------------------------------------------------------ colour histogram


def color_histogram(images, bins: int = 8) -> np.ndarray:
    """Joint colour histogram (``bins^C`` cells for C <= 3 channels), each image's counts divided by its pixels."""
    a = _as_nchw(images)
    n, c = a.shape[:2]
    if c > 3 or bins < 1 or bins**c > 4096:
        raise CnnlabError(
            f"a joint histogram of {c} channel(s) with {bins} bins per channel has {bins**c} cells",
            "use 1-3 channels and at most 16 bins",
        )
    q = np.minimum(a.astype(np.int64) * bins // 256, bins - 1)  # the bin of each channel value
    index = np.zeros(q.shape[:1] + q.shape[2:], dtype=np.int64)
    for ch in range(c):
        index = index * bins + q[:, ch]
    flat = index.reshape(n, -1)
    out = np.zeros((n, bins**c))
    for i in range(n):
        out[i] = np.bincount(flat[i], minlength=bins**c)
    return out / flat.shape[1]


# ------------------------------------------------------------------ HOG


def _gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred differences along rows and columns; 0 on the border rows/columns (scikit-image's rule)."""
    g_row = np.zeros_like(image)
    g_col = np.zeros_like(image)
    g_row[1:-1, :] = image[2:, :] - image[:-2, :]
    g_col[:, 1:-1] = image[:, 2:] - image[:, :-2]
    return g_row, g_col


def _normalize_block(block: np.ndarray, method: str, eps: float = 1e-5) -> np.ndarray:
    if method == "L1":
        return block / (np.abs(block).sum() + eps)
    if method == "L1-sqrt":
        return np.sqrt(block / (np.abs(block).sum() + eps))
    if method == "L2":
        return block / np.sqrt((block**2).sum() + eps**2)
    if method == "L2-Hys":
        out = block / np.sqrt((block**2).sum() + eps**2)
        out = np.minimum(out, 0.2)
        return out / np.sqrt((out**2).sum() + eps**2)
    from ..errors import UnknownNameError

    raise UnknownNameError("block normalisation", method, BLOCK_NORMS)


def hog(
    image,
    orientations: int = 9,
    pixels_per_cell=(8, 8),
    cells_per_block=(3, 3),
    block_norm: str = "L2-Hys",
    transform_sqrt: bool = False,
    feature_vector: bool = True,
) -> np.ndarray:
    """HOG of one ``H x W`` (grey) or ``H x W x C`` image (the channel with the largest gradient wins per pixel).

    1. gradients by centred differences, magnitude ``sqrt(g_r^2 + g_c^2)``, unsigned angle in [0, 180);
    2. each cell: per orientation bin (``180/orientations`` degrees wide) the mean magnitude of its pixels
       whose angle falls in the bin;
    3. each block of ``b x b`` cells (stride one cell): its histograms concatenated and normalised.

    Returns ``(blocks_r, blocks_c, b_r, b_c, orientations)``, raveled when ``feature_vector``.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim not in (2, 3):
        raise CnnlabError(f"hog takes one H x W or H x W x C image, got shape {img.shape}")
    if transform_sqrt:
        img = np.sqrt(img)
    if img.ndim == 3:  # per pixel, the channel with the largest gradient magnitude
        grads = [_gradients(img[:, :, ch]) for ch in range(img.shape[2])]
        mags = np.stack([np.hypot(r, c) for r, c in grads])
        best = mags.argmax(axis=0)
        g_row = np.choose(best, [r for r, _ in grads])
        g_col = np.choose(best, [c for _, c in grads])
    else:
        g_row, g_col = _gradients(img)
    c_row, c_col = pixels_per_cell
    b_row, b_col = cells_per_block
    s_row, s_col = img.shape[:2]
    n_cells_row, n_cells_col = s_row // c_row, s_col // c_col
    n_blocks_row, n_blocks_col = n_cells_row - b_row + 1, n_cells_col - b_col + 1
    if n_blocks_row < 1 or n_blocks_col < 1:
        raise CnnlabError(
            f"a {s_row}x{s_col} image has {n_cells_row}x{n_cells_col} cells of {c_row}x{c_col}, fewer "
            f"than one block of {b_row}x{b_col} cells",
            "use smaller cells or blocks",
        )
    magnitude = np.hypot(g_row, g_col)
    angle = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    width = 180 / orientations
    hist = np.zeros((n_cells_row, n_cells_col, orientations))
    mag = magnitude[: n_cells_row * c_row, : n_cells_col * c_col]
    ang = angle[: n_cells_row * c_row, : n_cells_col * c_col]
    for i in range(orientations):
        # bin i holds angles in [i w, (i + 1) w)
        inside = np.where((ang >= width * i) & (ang < width * (i + 1)), mag, 0.0)
        hist[:, :, i] = inside.reshape(n_cells_row, c_row, n_cells_col, c_col).sum(axis=(1, 3)) / (c_row * c_col)
    blocks = np.zeros((n_blocks_row, n_blocks_col, b_row, b_col, orientations))
    for r in range(n_blocks_row):
        for c in range(n_blocks_col):
            blocks[r, c] = _normalize_block(hist[r : r + b_row, c : c + b_col], block_norm)
    return blocks.ravel() if feature_vector else blocks


def hog_features(
    images, orientations: int = 9, pixels_per_cell: int = 7, cells_per_block: int = 2, block_norm: str = "L2-Hys"
) -> np.ndarray:
    """HOG of every image of a batch (defaults sized for 28x28 digits: 4x4 cells of 7 pixels, 3x3 blocks of 2x2
    cells, 324 values)."""
    a = _as_nchw(images).astype(np.float64) / 255.0
    rows = []
    for im in a:
        one = im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0)
        rows.append(hog(one, orientations, (pixels_per_cell,) * 2, (cells_per_block,) * 2, block_norm))
    return np.stack(rows)


# ------------------------------------------------------------------ bag of visual words


def dense_patches(image: np.ndarray, size: int = 7, stride: int = 4) -> np.ndarray:
    """All ``size x size`` patches (C x size x size, flattened) on a grid of ``stride``: ``P x (C size^2)``."""
    c, h, w = image.shape
    if size > min(h, w):
        raise CnnlabError(f"patch size {size} is larger than the {h}x{w} image")
    out = [
        image[:, i : i + size, j : j + size].ravel()
        for i in range(0, h - size + 1, stride)
        for j in range(0, w - size + 1, stride)
    ]
    return np.asarray(out, dtype=np.float64)


def _normalize_patches(p: np.ndarray) -> np.ndarray:
    """Each patch divided by its norm plus a floor (0.5, in units of pixel values in [0, 1]): the shape of
    a stroke counts, its contrast less, and blank patches stay near zero (their own word)."""
    return p / (np.linalg.norm(p, axis=1, keepdims=True) + 0.5)


def kmeans(x: np.ndarray, k: int, iterations: int = 20, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007); returns the ``k x D`` centres."""
    rng = np.random.default_rng(seed)
    if len(x) < k:
        raise CnnlabError(f"k-means needs at least k = {k} points, got {len(x)}", "use a smaller codebook")
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        probs = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
        centres.append(x[rng.choice(len(x), p=probs)])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(axis=1))
    c = np.asarray(centres)
    for _ in range(iterations):
        assign = _nearest(x, c)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(axis=0)
    return c


def _nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = (x**2).sum(1)[:, None] - 2 * x @ centres.T + (centres**2).sum(1)[None]
    return d.argmin(axis=1)


@dataclass
class BagOfWords:
    """A visual vocabulary learnt from dense patches of training images, and the encoder it defines."""

    codebook: np.ndarray  # k x (C size^2)
    size: int = 7
    stride: int = 4

    @classmethod
    def fit(cls, images, k: int = 64, size: int = 7, stride: int = 4, max_images: int = 500, seed: int = 0):
        a = _as_nchw(images).astype(np.float64) / 255.0
        pick = np.random.default_rng(seed).permutation(len(a))[:max_images]
        patches = np.concatenate([_normalize_patches(dense_patches(a[i], size, stride)) for i in pick])
        return cls(kmeans(patches, k, seed=seed), size, stride)

    def encode(self, images) -> np.ndarray:
        """Per image: the fraction of its patches whose nearest code word is each word (``N x k``)."""
        a = _as_nchw(images).astype(np.float64) / 255.0
        k = len(self.codebook)
        out = np.zeros((len(a), k))
        for i, im in enumerate(a):
            words = _nearest(_normalize_patches(dense_patches(im, self.size, self.stride)), self.codebook)
            out[i] = np.bincount(words, minlength=k) / len(words)
        return out


# ------------------------------------------------------------------ by name


@dataclass(frozen=True)
class FeatureKind:
    name: str
    what: str
    fit: Callable | None  # learns from the training images (bovw), or None


def _pixels(images) -> np.ndarray:
    a = _as_nchw(images)
    return a.reshape(len(a), -1).astype(np.float64) / 255.0


FEATURES = {
    "pixels": FeatureKind(
        "pixels", "the raw pixels / 255, stretched into a column (the lecture's linear classifier)", None
    ),
    "colorhist": FeatureKind("colorhist", "joint colour histogram, 8 bins per channel (no spatial information)", None),
    "hog": FeatureKind(
        "hog", "histograms of oriented gradients: 9 bins, 7x7-pixel cells, 2x2-cell blocks, L2-Hys", None
    ),
    "bovw": FeatureKind(
        "bovw",
        "bag of visual words: 7x7 dense patches (stride 4), 64-word k-means codebook from the training images",
        BagOfWords.fit,
    ),
}


def feature_extractor(kind: str, train_images=None, seed: int = 0) -> Callable[[object], np.ndarray]:
    """A function images -> N x D for ``kind``; ``bovw`` learns its codebook from ``train_images``."""
    if kind not in FEATURES:
        from ..errors import UnknownNameError

        raise UnknownNameError("feature", kind, list(FEATURES), "cnnlab features --help")
    if kind == "pixels":
        return _pixels
    if kind == "colorhist":
        return color_histogram
    if kind == "hog":
        return hog_features
    if train_images is None:
        raise CnnlabError("bag of visual words learns its codebook from training images: pass train_images")
    return BagOfWords.fit(train_images, seed=seed).encode
