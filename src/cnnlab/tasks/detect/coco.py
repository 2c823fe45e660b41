"""``--data coco:PATH``: a COCO-format detection set (Lin et al. 2014's ``instances_*.json``).

    PATH/annotations/instances_train2017.json   (or PATH/instances_*.json)
    PATH/train2017/*.jpg                        (or PATH/images/train2017/, PATH/images/, PATH/)
    PATH/annotations/instances_val2017.json     optional: the validation split (else carved from train)
    PATH/annotations/instances_test*.json       optional: a test split with boxes

Categories keep COCO's order of ids and become labels 0..K-1; ``iscrowd`` regions and the
annotations' ``area`` are kept for the evaluation (crowds are not trained on). Images are decoded
one at a time and kept letterboxed at ``image_size`` (default 256), so memory is bounded by the
image count, never by the files' sizes; errors name the file and the annotation.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm

from ...errors import CnnlabError
from .dataset import DetectionDataset, DetectionSplits, carve_validation, make_target, read_letterboxed

DEFAULT_SIZE = 256


def annotation_files(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        raise CnnlabError(
            f"coco: {root} is not a folder",
            "pass --data coco:PATH with the folder that holds annotations/instances_*.json and the image folders",
        )
    files = sorted(root.glob("annotations/instances_*.json")) or sorted(root.glob("instances_*.json"))
    if not files:
        raise CnnlabError(
            f"coco: no instances_*.json in {root} or {root / 'annotations'}",
            "a COCO detection set has annotations/instances_train2017.json (any suffix)",
        )
    found: dict[str, Path] = {}
    for f in files:
        suffix = f.stem[len("instances_") :]
        split = next((s for s in ("train", "val", "test") if suffix.startswith(s)), None)
        if split is None and len(files) == 1:
            split = "train"
        if split is None:
            raise CnnlabError(
                f"coco: {f.name}: cannot tell its split",
                "name it instances_train*.json, instances_val*.json or instances_test*.json",
            )
        if split in found:
            raise CnnlabError(
                f"coco: two {split} annotation files: {found[split].name} and {f.name}", "keep one per split"
            )
        found[split] = f
    if "train" not in found:
        raise CnnlabError(
            f"coco: no training annotations (instances_train*.json) in {root}",
            f"found {', '.join(p.name for p in found.values())}",
        )
    return found


def image_folder(root: Path, suffix: str) -> Path:
    for cand in (root / suffix, root / "images" / suffix, root / "images", root):
        if cand.is_dir():
            return cand
    return root


def _load_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise CnnlabError(f"coco: cannot read {path}: {e}") from e
    except json.JSONDecodeError as e:
        raise CnnlabError(f"coco: {path} is not valid JSON (line {e.lineno}: {e.msg})") from e
    if not isinstance(doc, dict):
        raise CnnlabError(
            f"coco: {path} holds a JSON {type(doc).__name__}, not an object with images, annotations and categories"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise CnnlabError(
                f"coco: {path} has no {key!r} list",
                "a COCO instances file has 'images', 'annotations' and 'categories'",
            )
    return doc


def categories(doc: dict, path: Path) -> tuple[list[int], list[str]]:
    try:
        cats = sorted((int(c["id"]), str(c.get("name", c["id"]))) for c in doc["categories"])
    except (KeyError, TypeError, ValueError) as e:
        raise CnnlabError(f"coco: {path}: a category without an integer 'id' ({e})") from e
    if not cats:
        raise CnnlabError(f"coco: {path} declares no categories")
    return [c for c, _ in cats], [n for _, n in cats]


def _index_images(doc: dict, path: Path) -> dict[int, dict]:
    """The file's image entries by id (each needs 'id' and 'file_name')."""
    images: dict[int, dict] = {}
    for im in doc["images"]:
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise CnnlabError(f"coco: {path}: an image entry without 'id' or 'file_name': {str(im)[:80]}")
        images[im["id"]] = im
    return images


def _annotations_per_image(
    doc: dict, path: Path, images: dict[int, dict], label_of: dict[int, int]
) -> dict[int, list[dict]]:
    """The annotations grouped by image id, each checked: a known image and category, a valid [x, y, w, h] box."""
    per: dict[int, list[dict]] = {i: [] for i in images}
    for ann in doc["annotations"]:
        where = f"coco: {path}: annotation {ann.get('id', '?') if isinstance(ann, dict) else str(ann)[:40]}"
        if not isinstance(ann, dict):
            raise CnnlabError(f"{where} is not an object")
        if ann.get("image_id") not in images:
            raise CnnlabError(f"{where} refers to image_id {ann.get('image_id')!r}, which is not in 'images'")
        if ann.get("category_id") not in label_of:
            raise CnnlabError(
                f"{where} has category_id {ann.get('category_id')!r}, which is not in 'categories'"
                f"{' of the training file' if path.stem.find('train') < 0 else ''}"
            )
        box = ann.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            raise CnnlabError(f"{where}: 'bbox' must be four numbers [x, y, width, height], got {box!r}")
        if box[2] < 0 or box[3] < 0:
            raise CnnlabError(f"{where}: negative box size {box[2]} x {box[3]}", "bbox is [x, y, width, height]")
        per[ann["image_id"]].append(ann)
    return per


def _target(anns: list[dict], label_of: dict[int, int], scale: tuple[float, float], image_id: int) -> dict:
    """The target of one letterboxed image: its boxes as corners scaled by ``scale``, labels, crowd flags, areas."""
    sx, sy = scale
    boxes = [
        [
            a["bbox"][0] * sx,
            a["bbox"][1] * sy,
            (a["bbox"][0] + a["bbox"][2]) * sx,
            (a["bbox"][1] + a["bbox"][3]) * sy,
        ]
        for a in anns
    ]
    return make_target(
        boxes,
        [label_of[a["category_id"]] for a in anns],
        [bool(a.get("iscrowd", 0)) for a in anns],
        [float(a.get("area", a["bbox"][2] * a["bbox"][3])) for a in anns],
        scale,
        image_id,
    )


def read_split(
    path: Path,
    root: Path,
    cat_ids: list[int],
    classes: list[str],
    size: int,
    channels: int,
    bad_images: str = "error",
    progress: bool = True,
    notes: list | None = None,
) -> DetectionDataset:
    doc = _load_json(path)
    label_of = {c: i for i, c in enumerate(cat_ids)}
    folder = image_folder(root, path.stem[len("instances_") :])
    images = _index_images(doc, path)
    per = _annotations_per_image(doc, path, images, label_of)
    data, targets, names = [], [], []
    skipped = degenerate = 0
    for image_id in tqdm(sorted(images), desc=f"coco {path.stem}", disable=not progress, leave=False):
        info = images[image_id]
        file = folder / str(info["file_name"])
        try:
            x, scale, _ = read_letterboxed(file, size, channels)
        except CnnlabError as e:
            if bad_images == "skip":
                skipped += 1
                continue
            raise CnnlabError(
                f"coco: image {image_id} of {path.name}: {e.message}",
                e.hint or f"image files are looked up in {folder}",
            ) from e
        anns = [a for a in per[image_id] if a["bbox"][2] > 0 and a["bbox"][3] > 0]
        degenerate += len(per[image_id]) - len(anns)
        targets.append(_target(anns, label_of, scale, image_id))
        data.append(x)
        names.append(str(info["file_name"]))
    if notes is not None and (skipped or degenerate):
        notes.append(f"{path.name}: {skipped} unreadable image(s) skipped, {degenerate} empty box(es) left out")
    if not data:
        raise CnnlabError(f"coco: {path} lists no readable images", f"image files are looked up in {folder}")
    import torch

    return DetectionDataset(torch.stack(data), targets, classes, names)


def read_coco(root: Path, options) -> DetectionSplits:
    files = annotation_files(root)
    cat_ids, classes = categories(_load_json(files["train"]), files["train"])
    size = options.image_size or DEFAULT_SIZE
    notes: list[str] = [
        f"images letterboxed to {size}x{size} (scaled to fit, padded right/bottom); evaluation in the files' pixels"
    ]

    def read(split: str) -> DetectionDataset:
        return read_split(
            files[split], root, cat_ids, classes, size, options.channels, options.bad_images, options.progress, notes
        )

    train = read("train")
    if "val" in files and options.val_split is None:
        val = read("val")
    else:
        train, val, note = carve_validation(train, options.val_split, options.seed)
        if note:
            notes.append(note)
    return DetectionSplits(
        "coco",
        train,
        val,
        source=str(root),
        notes=notes,
        test_reader=(lambda: read("test")) if "test" in files else None,
    )
