"""Draw and predict: one image through a trained run -> top-5, the 28 x 28 input the network saw,
every layer's feature maps and a Grad-CAM overlay, with the time each part took."""

from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image

from ..predict import prepare
from . import inspect, pictures

TOP_K = 5
MAX_LAYERS = 60  # deeper networks show every n-th layer (and the last): one answer stays a few MB at most
# One intra-op thread for the page's requests: a single small image gains nothing from more, and on a
# busy machine (or beside the demo's training) two threads waiting on each other turned LeNet-5's
# 2 ms forward into 250 ms. OpenMP keeps this per thread: the trainer's threads are not touched.
REQUEST_THREADS = 1


def network_input(x: torch.Tensor, meta: dict) -> np.ndarray:
    """The normalised 1 x C x H x W tensor back to the uint8 H x W x C picture the network saw."""
    c = x.shape[1]
    mean = torch.tensor(meta["mean"]).view(1, c, 1, 1)
    std = torch.tensor(meta["std"]).view(1, c, 1, 1)
    a = ((x * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    return a


def predict_picture(entry, im: Image.Image) -> dict:
    """Everything the draw view shows for one image and run (``entry``: a catalog.RunEntry)."""
    t0 = time.perf_counter()
    torch.set_num_threads(REQUEST_THREADS)
    loaded = entry.model()
    x, notes = prepare(im, loaded.meta)
    t1 = time.perf_counter()
    with entry.lock, torch.no_grad():  # one request at a time per model (hooks are added and removed)
        probs = torch.softmax(loaded.model(x).float(), dim=1)[0]
    top = top_classes(probs, loaded.classes)
    t2 = time.perf_counter()
    with entry.lock:
        maps = inspect.layer_activations(loaded.model, x)
    t3 = time.perf_counter()
    with entry.lock:
        cam = inspect.class_activation_map(loaded.model, x, target=top[0]["index"])
    t4 = time.perf_counter()
    seen = network_input(x, loaded.meta)
    maps, notes = thin_layers(maps, notes)
    grey = seen[..., 0] if seen.shape[2] == 1 else None
    result = {
        "run": entry.id,
        "model": loaded.meta.get("model"),
        "top": top,
        "notes": notes,
        "input": {
            "png": pictures.png_data_url(seen if grey is None else grey),
            "size": list(seen.shape[:2]),
            "matrix": grey.tolist() if grey is not None else None,
        },
        "layers": [layer_picture(name, a) for name, a in maps.items()],
        "gradcam": {
            "png": pictures.png_data_url(pictures.overlay(seen, cam)),
            "class": top[0]["class"],
            "peak": [int(v) for v in np.unravel_index(int(cam.argmax()), cam.shape)],
        },
    }
    t5 = time.perf_counter()
    result["timing_ms"] = {
        "prepare": 1e3 * (t1 - t0),
        "forward": 1e3 * (t2 - t1),
        "feature_maps": 1e3 * (t3 - t2),
        "gradcam": 1e3 * (t4 - t3),
        "pictures": 1e3 * (t5 - t4),
        "total": 1e3 * (t5 - t0),
    }
    return result


def top_classes(probs: torch.Tensor, classes: list[str]) -> list[dict]:
    """The TOP_K most probable classes, most probable first."""
    p, idx = probs.topk(min(TOP_K, probs.numel()))
    return [{"class": classes[i], "index": i, "probability": float(q)} for q, i in zip(p.tolist(), idx.tolist())]


def thin_layers(maps: dict, notes: list[str]) -> tuple[dict, list[str]]:
    """At most about MAX_LAYERS layers: every n-th one and the last, said in a note."""
    names = list(maps)
    if len(names) <= MAX_LAYERS:
        return maps, notes
    step = -(-len(names) // MAX_LAYERS)
    kept = names[::step] + ([names[-1]] if (len(names) - 1) % step else [])
    notes = [*notes, f"{len(names)} layers: one in {step} is shown ({len(kept)} pictures)"]
    return {n: maps[n] for n in kept}, notes


def layer_picture(name: str, a: np.ndarray) -> dict:
    """One layer's output as a picture: a mosaic of its C x H x W feature maps, or a strip of a vector."""
    if a.ndim == 3:
        img, rows, cols = pictures.mosaic(a)
        return {
            "name": name,
            "shape": list(a.shape),
            "kind": "maps",
            "rows": rows,
            "cols": cols,
            "shown": min(a.shape[0], pictures.MAX_CHANNELS),
            "png": pictures.png_data_url(img),
            "min": float(a.min()),
            "max": float(a.max()),
        }
    return {
        "name": name,
        "shape": list(a.shape),
        "kind": "vector",
        "shown": int(a.size),
        "png": pictures.png_data_url(pictures.strip(a)),
        "min": float(a.min()),
        "max": float(a.max()),
    }
