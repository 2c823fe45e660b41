"""Feature embeddings: the penultimate features of many images projected to 2-D (PCA, or t-SNE
from scikit-learn, the optional extra ``cnnlab[viz]``)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..errors import CnnlabError
from .hooks import inspecting

EMBEDDING_METHODS = ("pca", "tsne")


def classifier_layer(model: nn.Module) -> nn.Module:
    """The final classifier: ``get_classifier()`` of cnnlab models, else the last ``nn.Linear``."""
    if hasattr(model, "get_classifier"):
        return model.get_classifier()
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise CnnlabError(
            f"{type(model).__name__} has no linear classifier to read the features before",
            "pass a model ending in nn.Linear",
        )
    return linear[-1]


def penultimate_features(
    model: nn.Module, images: torch.Tensor, batch: int = 256, progress: bool = False
) -> np.ndarray:
    """``N x F`` float32: what the final classifier reads for each normalised image of ``images``."""
    got: list[torch.Tensor] = []
    head = classifier_layer(model)
    handle = head.register_forward_pre_hook(lambda m, args: got.append(args[0].detach().flatten(1).float()))
    starts = range(0, images.shape[0], batch)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, unit="batch", desc="features", leave=False)
    try:
        with inspecting(model), torch.no_grad():
            for i in starts:
                model(images[i : i + batch].float())
    finally:
        handle.remove()
    if not got:
        raise CnnlabError("the classifier layer never ran", "pass a model whose forward ends in its classifier")
    return torch.cat(got).numpy()


def pca_2d(features: np.ndarray) -> np.ndarray:
    """The first two principal components (signs fixed: each axis's largest loading is positive)."""
    f = features.astype(np.float64)
    f = f - f.mean(axis=0)
    _, _, vt = np.linalg.svd(f, full_matrices=False)
    vt = vt[:2]
    vt *= np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])[:, None]
    out = f @ vt.T
    if out.shape[1] < 2:  # one feature: the second axis is zero
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out.astype(np.float32)


def tsne_2d(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    try:
        from sklearn.manifold import TSNE
    except ImportError as e:
        raise CnnlabError(
            "t-SNE needs scikit-learn, which is not installed",
            "pip install 'cnnlab[viz]' (or scikit-learn), or use --method pca",
        ) from e
    n = features.shape[0]
    if n < 4:
        raise CnnlabError(f"t-SNE needs at least 4 images, got {n}", "use more images or --method pca")
    perplexity = min(perplexity, (n - 1) / 3)
    return (
        TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
        .fit_transform(features.astype(np.float32))
        .astype(np.float32)
    )


def project(features: np.ndarray, method: str = "pca", seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    if method not in EMBEDDING_METHODS:
        raise CnnlabError(f"unknown embedding method {method!r}", f"choose one of {', '.join(EMBEDDING_METHODS)}")
    return pca_2d(features) if method == "pca" else tsne_2d(features, seed, perplexity)


def embedding(
    model: nn.Module,
    images: torch.Tensor,
    method: str = "pca",
    batch: int = 256,
    seed: int = 0,
    perplexity: float = 30.0,
    progress: bool = False,
) -> np.ndarray:
    """``N x 2`` float32: the penultimate features of the normalised ``images`` (N x C x H x W)
    projected by ``method`` ("pca" or "tsne")."""
    if method not in EMBEDDING_METHODS:
        raise CnnlabError(f"unknown embedding method {method!r}", f"choose one of {', '.join(EMBEDDING_METHODS)}")
    return project(penultimate_features(model, images, batch, progress), method, seed, perplexity)


def dataset_embedding(
    model: nn.Module, meta: dict, spec: str, n: int = 2000, method: str = "pca", seed: int = 0, progress: bool = False
) -> dict:
    """Embed ``n`` images (a seeded random subset) of the held-out split of data set ``spec``, normalised
    with the run's ``meta`` mean/std. Returns coords, labels, classes, thumbnails (H x W x C in [0, 1])
    and the split's name."""
    from ..data import load_data

    c, h, w = meta["input_size"]
    data = load_data(spec)
    if tuple(data.val.images.shape[1:]) != (c, h, w):
        if h != w or data.val.images.shape[1] != c:
            raise CnnlabError(
                f"{spec}: images are {tuple(data.val.images.shape[1:])}, the model takes {(c, h, w)}",
                "embed a data set of the kind the model was trained on",
            )
        data = load_data(spec, image_size=h)
    split = data.val
    if n < 2:
        raise CnnlabError(f"--n {n}: need at least 2 images")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(split), generator=gen)[:n]
    raw = split.images[idx].float().div_(255)
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(1, c, 1, 1)
    coords = embedding(model, (raw - mean) / std, method=method, seed=seed, progress=progress)
    return dict(
        coords=coords,
        labels=split.labels[idx].numpy(),
        classes=list(data.classes),
        thumbnails=raw.permute(0, 2, 3, 1).numpy(),
        split="held-out",
    )
