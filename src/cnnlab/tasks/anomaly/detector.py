"""A fitted detector: backbone + method state, saved as safetensors + JSON (never pickle).

DIR/detector.safetensors   backbone weights ("backbone." keys) and the method's tensors
                           (PaDiM: "padim.mean", "padim.inv_cov", "padim.channels";
                           PatchCore: "patchcore.bank"), with the metadata below in its header
DIR/detector.json          the same metadata, readable: method, backbone, stages, image size,
                           normalisation, threshold and the validation scores it came from
"""

from __future__ import annotations

import json
import resource
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ...errors import CnnlabError
from ...runs import read_model_file, write_json
from . import padim, patchcore
from .features import FeatureExtractor, concat_scales, rebuild_backbone, resolve_stages, to_image_size

FILE = "detector.safetensors"
METHODS = ("padim", "patchcore")
DEFAULT_STAGES = {"padim": (0, 1, 2), "patchcore": (1, 2)}


@dataclass
class Detector:
    method: str
    extractor: FeatureExtractor
    tensors: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)

    @property
    def image_size(self) -> int:
        return self.meta["image_size"]

    @property
    def channels(self) -> int:
        return self.extractor.model.in_chans

    # -- scoring --------------------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self, images: torch.Tensor, batch_size: int = 8, desc: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """uint8 N x C x S x S -> (N image scores, N x S x S heat maps)."""
        scores, maps = [], []
        starts = range(0, len(images), batch_size)
        for s in tqdm(starts, desc=desc, leave=False, disable=desc is None):
            sc, mp = self._predict_batch(images[s : s + batch_size])
            scores.append(sc)
            maps.append(mp)
        return torch.cat(scores).numpy(), torch.cat(maps).numpy()

    def _predict_batch(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.extractor(x)
        sigma = self.meta["sigma"]
        if self.method == "padim":
            feats = concat_scales(maps)[:, self.tensors["padim.channels"]]
            dist = padim.mahalanobis(feats, self.tensors["padim.mean"], self.tensors["padim.inv_cov"])
            heat = to_image_size(dist, self.image_size, sigma)
            return heat.flatten(1).amax(1), heat
        feats = patchcore.local_features(maps)
        bank = self.tensors["patchcore.bank"]
        dist, idx = patchcore.patch_scores(feats, bank)
        score = patchcore.image_scores(feats, bank, dist, idx, self.meta["neighbours"], self.meta["reweight"])
        return score, to_image_size(dist, self.image_size, sigma)

    # -- files ----------------------------------------------------------------------------
    def save(self, out: str | Path) -> Path:
        from safetensors.torch import save_file

        from ... import __version__

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        meta = {**self.meta, "cnnlab_version": __version__}
        tensors = {f"backbone.{k}": v.detach().contiguous() for k, v in self.extractor.model.state_dict().items()}
        tensors.update({k: v.contiguous() for k, v in self.tensors.items()})
        tmp = out / f".{FILE}.tmp"
        save_file(tensors, str(tmp), metadata={"anomaly": json.dumps(meta)})
        tmp.replace(out / FILE)
        write_json(out / "detector.json", meta)
        return out


def load_detector(path: str | Path) -> Detector:
    """A detector saved by :func:`fit` (its folder, or the ``detector.safetensors`` file)."""
    path = Path(path)
    file = path if path.is_file() else path / FILE
    if not file.is_file():
        raise CnnlabError(f"{path} holds no {FILE}", "pass the folder written by `cnnlab anomaly fit --out DIR`")
    tensors, raw = read_model_file(file)
    meta = raw.get("anomaly")
    if not isinstance(meta, dict) or meta.get("method") not in METHODS:
        raise CnnlabError(f"{file}: not an anomaly detector saved by cnnlab", "fit one with `cnnlab anomaly fit`")
    backbone = {k[len("backbone.") :]: v for k, v in tensors.items() if k.startswith("backbone.")}
    model = rebuild_backbone(meta["backbone"], backbone)
    extractor = FeatureExtractor(model, meta["stages"], meta["backbone"]["mean"], meta["backbone"]["std"])
    state = {k: v for k, v in tensors.items() if not k.startswith("backbone.")}
    return Detector(meta["method"], extractor, state, meta)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit_detector(
    images: torch.Tensor,
    method: str,
    model: torch.nn.Module,
    info: dict,
    stages: list | None = None,
    image_size: int = 256,
    batch_size: int = 8,
    seed: int = 0,
    padim_dims: int = 100,
    padim_eps: float = 0.01,
    coreset: float = 0.1,
    proj_dim: int = 128,
    neighbours: int = 9,
    reweight: bool = True,
    sigma: float = 4.0,
    progress: bool = True,
) -> Detector:
    """Fit PaDiM or PatchCore on uint8 N x C x S x S normal images with ``model`` from ``build_backbone``."""
    if method not in METHODS:
        raise CnnlabError(f"unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    if images.shape[1] != model.in_chans:
        raise CnnlabError(f"images have {images.shape[1]} channels, {info['model']} takes {model.in_chans}")
    names = [f["module"] for f in model.feature_info]
    default = [i for i in DEFAULT_STAGES[method] if i < len(names)] or [0]
    idx = resolve_stages(model, stages if stages else default)
    extractor = FeatureExtractor(model, idx, info["mean"], info["std"])
    meta = dict(
        method=method,
        backbone=info,
        stages=idx,
        stage_names=[names[i] for i in idx],
        image_size=image_size,
        sigma=sigma,
        seed=seed,
        train_images=len(images),
    )
    batches = range(0, len(images), batch_size)
    bar = dict(leave=False, disable=not progress)
    if method == "padim":
        channels = padim.random_channels(extractor.channels, padim_dims, seed)
        stats = padim.PadimStats()
        for s in tqdm(batches, desc="padim: features", **bar):
            stats.update(concat_scales(extractor(images[s : s + batch_size]))[:, channels])
        mean, cov = stats.finish(padim_eps)
        inv = torch.empty(cov.shape, dtype=torch.float32)
        for s in range(0, len(cov), 512):  # float64 inverses in chunks: no second float64 P x d x d tensor
            inv[s : s + 512] = torch.linalg.inv(cov[s : s + 512])
        del cov
        tensors = {"padim.mean": mean.float(), "padim.inv_cov": inv, "padim.channels": channels}
        meta.update(dims=len(channels), eps=padim_eps, feature_shape=list(stats.sum.shape))
    else:
        chunks = []
        for s in tqdm(batches, desc="patchcore: features", **bar):
            f = patchcore.local_features(extractor(images[s : s + batch_size]))
            chunks.append(f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]))
        bank = torch.cat(chunks)
        del chunks
        n = max(1, int(round(coreset * len(bank))))
        keep = patchcore.greedy_coreset(bank, n, proj_dim, seed, progress=progress)
        tensors = {"patchcore.bank": bank[keep].clone()}
        meta.update(
            coreset=coreset,
            bank_patches=len(bank),
            bank_size=n,
            proj_dim=proj_dim,
            neighbours=neighbours,
            reweight=reweight,
        )
        del bank
    return Detector(method, extractor, tensors, meta)
