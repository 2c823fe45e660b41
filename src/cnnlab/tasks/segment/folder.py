"""``segfolder:PATH``: images and masks as files, the layout of PASCAL VOC / Cityscapes-style exports.

    PATH/images/NAME.jpg|png|...   PATH/masks/NAME.png      pairs by file stem
    PATH/classes.txt               optional: one class per line, line i = label i ("NAME" or "NAME R G B")

or the same ``images/`` + ``masks/`` pair under ``PATH/train/``, ``PATH/val/`` (validation) and
``PATH/test/`` (read only when asked for). Without ``val/`` a seeded random 10% of the training
images (``--val-split``) is the validation split.

Masks hold class indices: 8-bit greyscale or palette PNGs (VOC's palette PNGs store the index per
pixel), or 16-bit ones with values below 256; 255 means "ignore" (VOC's object borders). Colour (RGB)
masks are read through the colours of ``classes.txt``; a line named ``ignore`` gives the ignored colour.
Without ``classes.txt`` the classes are ``0 .. max label`` found in the training masks.

Images are decoded one at a time (:func:`cnnlab.images.open_image`, which bounds the pixels a file may
declare) and kept at the working size: ``--image-size S`` scales each image to cover S x S and takes
the centre crop (bilinear; the mask the same way with nearest neighbours), otherwise every image must
have the first one's size. A mask of another size than its image, an image without a mask, or a mask
without an image is an error naming the files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ...data.dataset import resize_images
from ...data.options import DataOptions
from ...errors import CnnlabError
from ...images import check_regular_file, max_pixels, open_image, to_array
from .dataset import SegmentationDataset, SegmentationSplits, carve_validation
from .metrics import IGNORE_INDEX

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
LAYOUT_HINT = (
    "expected PATH/images/*.png with PATH/masks/*.png (same file stems), or that pair under "
    "PATH/train/ (+ PATH/val/, PATH/test/)"
)


def read_classes(path: Path) -> tuple[list[str], list[tuple[int, int, int]] | None, tuple[int, int, int] | None]:
    """(class names, their colours or None, the ignored colour or None) from a classes.txt."""
    names, colours, ignore = [], [], None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        colour = None
        if len(parts) >= 4 and all(p.isdigit() and int(p) <= 255 for p in parts[-3:]):
            colour = tuple(int(p) for p in parts[-3:])
            line = " ".join(parts[:-3])
        if line.lower() == "ignore":
            if colour is None:
                raise CnnlabError(f"{path}:{number}: 'ignore' needs a colour ('ignore R G B')")
            ignore = colour
            continue
        names.append(line)
        colours.append(colour)
    if not names:
        raise CnnlabError(f"{path} lists no classes", "one class name per line; line 1 is label 0")
    if any(c is None for c in colours) and any(c is not None for c in colours):
        raise CnnlabError(
            f"{path}: some classes have a colour and some do not", "give every class a colour ('NAME R G B') or none"
        )
    palette = None if colours[0] is None else colours
    if palette is not None and len(set(palette)) != len(palette):
        raise CnnlabError(f"{path}: two classes share a colour", "each class needs its own colour")
    return names, palette, ignore


def read_mask(path: Path, palette=None, ignore=None) -> np.ndarray:
    """H x W uint8 class indices from a mask file (see the module docstring for the formats)."""
    check_regular_file(path, "a mask file")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels():
                raise CnnlabError(
                    f"{path}: {w}x{h} pixels is more than the {max_pixels():,} cnnlab decodes",
                    "raise --max-pixels if the file is trusted",
                )
            im.load()
            mode = im.mode
            a = np.asarray(im)
    except CnnlabError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise CnnlabError(
            f"{path}: not a readable mask image ({e.__class__.__name__}: {e})", "masks are PNG files of class indices"
        ) from e
    if mode in ("RGB", "RGBA"):
        if palette is None:
            raise CnnlabError(
                f"{path} is a colour mask, but no class colours are known",
                "write classes.txt with a colour per class ('NAME R G B'), or store masks as 8-bit "
                "class indices (greyscale or palette PNG)",
            )
        return _colours_to_labels(a[..., :3], palette, ignore, path)
    if a.ndim != 2:
        raise CnnlabError(
            f"{path}: a {mode} mask with {a.shape[-1]} channels", "masks are single-channel class indices"
        )
    if a.dtype == bool:
        return a.astype(np.uint8)
    if a.size and (a.min() < 0 or a.max() > 255):
        raise CnnlabError(f"{path}: label {int(a.max())} is out of range", "class indices are 0..254, 255 = ignore")
    return a.astype(np.uint8)


def _colours_to_labels(rgb: np.ndarray, palette, ignore, path: Path) -> np.ndarray:
    key = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    table = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(palette)}
    if ignore is not None:
        table[(ignore[0] << 16) | (ignore[1] << 8) | ignore[2]] = IGNORE_INDEX
    values, inverse = np.unique(key, return_inverse=True)
    unknown = [int(v) for v in values if int(v) not in table]
    if unknown:
        v = unknown[0]
        raise CnnlabError(
            f"{path}: colour ({v >> 16}, {(v >> 8) & 255}, {v & 255}) is not a class colour of classes.txt",
            "add it to classes.txt (or as 'ignore R G B')",
        )
    return np.array([table[int(v)] for v in values], np.uint8)[inverse.reshape(key.shape)]


def _files(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."):
            if p.stem in out:
                raise CnnlabError(
                    f"segfolder: {out[p.stem].name} and {p.name} in {folder} share the stem {p.stem!r}",
                    "images and masks are paired by file stem: keep one file per stem",
                )
            out[p.stem] = p
    return out


def pair_files(folder: Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs of ``folder/images`` and ``folder/masks``, by stem; unpaired files are errors."""
    images_dir, masks_dir = folder / "images", folder / "masks"
    for d in (images_dir, masks_dir):
        if not d.is_dir():
            raise CnnlabError(f"segfolder: {d} not found", LAYOUT_HINT)
    images, masks = _files(images_dir), _files(masks_dir)
    lonely = sorted(set(images) - set(masks))
    if lonely:
        raise CnnlabError(
            f"segfolder: image {images[lonely[0]]} has no mask ({masks_dir}/{lonely[0]}.png)"
            + (f", and {len(lonely) - 1} more image(s) neither" if len(lonely) > 1 else ""),
            "every image needs a mask with the same file stem",
        )
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise CnnlabError(
            f"segfolder: mask {masks[orphans[0]]} has no image in {images_dir}"
            + (f", and {len(orphans) - 1} more mask(s) neither" if len(orphans) > 1 else ""),
            "remove the mask or add its image (same file stem)",
        )
    if not images:
        raise CnnlabError(f"segfolder: no images in {images_dir}", f"image files: {', '.join(IMAGE_EXTENSIONS)}")
    return [(images[s], masks[s]) for s in sorted(images)]


def _cover_box(w: int, h: int, size: int) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """The resize and centre crop of :func:`cnnlab.images.resize_and_center_crop` for a size x size target."""
    scale = max(size / w, size / h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (nw - size) // 2, (nh - size) // 2
    return (nw, nh), (left, top, left + size, top + size)


def read_pairs(
    pairs: list[tuple[Path, Path]],
    channels: int,
    size: int | None,
    palette=None,
    ignore=None,
    progress: bool = False,
    desc: str = "segfolder",
) -> SegmentationDataset:
    """Decode the pairs one at a time into preallocated uint8 tensors (memory: N x (C + 1) x H x W bytes)."""
    from tqdm.auto import tqdm

    images = masks = None
    shape = None
    for i, (ipath, mpath) in enumerate(tqdm(pairs, desc=desc, leave=False, disable=not progress)):
        im = open_image(ipath, reduce_to=size)
        mask = read_mask(mpath, palette, ignore)
        if (mask.shape[1], mask.shape[0]) != _declared_size(ipath):
            w, h = _declared_size(ipath)
            raise CnnlabError(
                f"segfolder: mask {mpath} is {mask.shape[1]}x{mask.shape[0]} but its image {ipath} is {w}x{h}",
                "a mask must have its image's size (pixel for pixel)",
            )
        if size is not None:
            (nw, nh), box = _cover_box(*_declared_size(ipath), size)
            a = np.asarray(
                Image.fromarray(to_array(im, channels).squeeze(-1) if channels == 1 else to_array(im, channels))
                .resize((nw, nh), Image.BILINEAR)
                .crop(box),
                np.uint8,
            ).reshape(size, size, channels)
            m = np.asarray(Image.fromarray(mask).resize((nw, nh), Image.NEAREST).crop(box), np.uint8)
        else:
            a, m = to_array(im, channels), mask
        if shape is None:
            shape = a.shape
            need = len(pairs) * (channels + 1) * shape[0] * shape[1]
            _check_memory(need, len(pairs), shape)
            images = torch.empty(len(pairs), channels, shape[0], shape[1], dtype=torch.uint8)
            masks = torch.empty(len(pairs), shape[0], shape[1], dtype=torch.uint8)
        elif a.shape != shape:
            raise CnnlabError(
                f"segfolder: {ipath} is {a.shape[1]}x{a.shape[0]} but {pairs[0][0]} is {shape[1]}x{shape[0]}",
                "give --image-size S to bring every image (and mask) to S x S",
            )
        images[i] = torch.from_numpy(np.array(a.transpose(2, 0, 1), np.uint8))  # writable copies
        masks[i] = torch.from_numpy(np.array(m, np.uint8))
    return images, masks


def _declared_size(path: Path) -> tuple[int, int]:
    """Width and height of an image file as stored (EXIF rotation applied, as :func:`to_array` does)."""
    with Image.open(path) as im:
        w, h = im.size
        if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
            w, h = h, w
    return w, h


def _check_memory(need: int, n: int, shape) -> None:
    from ...data.imagefolder import _human, _memory_limit

    limit = _memory_limit(DataOptions())
    if need > limit:
        raise CnnlabError(
            f"segfolder: {n:,} images at {shape[1]}x{shape[0]} with masks need {_human(need)} in memory, "
            f"more than the {_human(limit)} allowed (half the free memory)",
            "use --image-size S to store them smaller",
        )


def read_segfolder(root: Path, options: DataOptions) -> SegmentationSplits:
    if not root.is_dir():
        raise CnnlabError(f"segfolder: folder {root} does not exist", LAYOUT_HINT)
    split_root = root / "train" if (root / "train").is_dir() else root
    classes_file = next((p for p in (root / "classes.txt", split_root / "classes.txt") if p.is_file()), None)
    names, palette, ignore = read_classes(classes_file) if classes_file else (None, None, None)

    def read(pairs, what):
        return _as_dataset(
            read_pairs(
                pairs, options.channels, options.image_size, palette, ignore, options.progress, f"segfolder {what}"
            ),
            names,
        )

    train = read(pair_files(split_root), "train")
    if names is None:  # the classes are the labels found in the training masks
        top = int(train.labels[train.labels != IGNORE_INDEX].max()) if (train.labels != IGNORE_INDEX).any() else 0
        names = [str(i) for i in range(top + 1)]
        train = SegmentationDataset(train.images, train.labels, names)
    _check_labels(train, names, split_root)
    val = None
    if split_root != root and (root / "val").is_dir():
        val = read(pair_files(root / "val"), "val")
        val = SegmentationDataset(val.images, val.labels, names)
        _check_labels(val, names, root / "val")
    test_reader = None
    if split_root != root and (root / "test").is_dir():
        test_pairs = pair_files(root / "test")  # indexed now (a missing mask fails before training), read when asked

        def test_reader():
            t = read(test_pairs, "test")
            t = SegmentationDataset(t.images, t.labels, names)
            _check_labels(t, names, root / "test")
            return t

    notes = [
        f"classes from {classes_file}"
        if classes_file
        else f"no classes.txt: classes are the labels 0..{len(names) - 1} found in the training masks"
    ]
    if options.image_size:
        notes.append(
            f"images scaled to cover {options.image_size}x{options.image_size} and centre-cropped "
            "(bilinear; masks nearest-neighbour)"
        )
    return finish_splits(
        f"segfolder:{root}",
        train,
        val,
        test_reader,
        options,
        source=str(root),
        palette=palette,
        notes=notes,
        resized=True,
    )


def _as_dataset(pair, names) -> SegmentationDataset:
    images, masks = pair
    return SegmentationDataset(images, masks, names or ["0"])


def _check_labels(data: SegmentationDataset, names: list[str], where: Path) -> None:
    found = torch.unique(data.labels)
    bad = [int(v) for v in found if int(v) >= len(names) and int(v) != IGNORE_INDEX]
    if bad:
        n = int((data.labels == bad[0]).flatten(1).any(1).nonzero()[0])
        raise CnnlabError(
            f"segfolder: a mask under {where} (image {n + 1} in name order) holds label {bad[0]}, but "
            f"there are {len(names)} classes (0..{len(names) - 1}; 255 = ignore)",
            "list every class in classes.txt, or fix the mask",
        )


def resize_masks(masks: torch.Tensor, size: int) -> torch.Tensor:
    """N x H x W uint8 masks to size x size by nearest neighbour (pixel centres, as the images' bilinear)."""
    import torch.nn.functional as F

    out = torch.empty(len(masks), size, size, dtype=torch.uint8)
    for start in range(0, len(masks), 256):
        part = masks[start : start + 256, None].float()
        out[start : start + 256] = F.interpolate(part, size=(size, size), mode="nearest-exact")[:, 0].to(torch.uint8)
    return out


def finish_splits(
    name: str,
    train: SegmentationDataset,
    val: SegmentationDataset | None,
    test: SegmentationDataset | Callable[[], SegmentationDataset] | None,
    options: DataOptions,
    source: str,
    palette=None,
    notes: list[str] | None = None,
    resized: bool = False,
) -> SegmentationSplits:
    """Resize (fixed-size tensors, unless the reader did it) and carve the validation split."""
    from .dataset import empty_segmentation

    notes = list(notes or [])
    size = options.image_size
    if size and not resized and train.image_shape[1:] != (size, size):

        def fit(d: SegmentationDataset) -> SegmentationDataset:
            return SegmentationDataset(resize_images(d.images, size), resize_masks(d.labels, size), d.classes)

        h, w = train.image_shape[1:]
        train = fit(train)
        val = fit(val) if val is not None else None
        if test is not None:
            unresized = test

            def read_resized_test() -> SegmentationDataset:
                return fit(unresized() if callable(unresized) else unresized)

            test = read_resized_test
        notes.append(f"resized from {h}x{w} to {size}x{size} (images bilinear, masks nearest-neighbour)")
    split = options.val_split
    keeps_own_val = val is not None and len(val) and split is None  # the data set's own validation images
    if keeps_own_val:
        notes.append(f"validation split: the data set's own {len(val):,} validation images")
    elif split == 0:
        if val is not None and len(val):
            train = SegmentationDataset(
                torch.cat([train.images, val.images]), torch.cat([train.labels, val.labels]), train.classes
            )
        val = None
        notes.append("no validation split (val_split=0): nothing is selected during training")
    else:
        split = 0.1 if split is None else split
        own = f"; its own validation images ({len(val):,}) are not used" if val is not None and len(val) else ""
        train, val = carve_validation(train, split, options.seed)
        what = f"{split:.0%}" if split < 1 else f"{int(split):,} images"
        notes.append(f"validation split: {what} of the training images, random with seed {options.seed}{own}")
    if val is None:
        val = empty_segmentation(train)
    return SegmentationSplits(name, train, val, source=source, notes=notes, test_reader=test, palette=palette)
