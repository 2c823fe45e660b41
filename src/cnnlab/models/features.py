"""timm's ``features_only``: a network whose forward returns its stages' feature maps as a list.

    >>> m = create_model("resnet50", features_only=True, out_indices=(1, 2, 3))
    >>> [f.shape for f in m(torch.randn(1, 3, 224, 224))]   # 512x28x28, 1024x14x14, 2048x7x7
    >>> m.feature_info.channels(), m.feature_info.reduction()  # [512, 1024, 2048], [8, 16, 32]

The stages are the model's ``feature_info`` entries (channels, total stride, the module whose
output is the stage). The forward runs ``forward_features`` and collects those modules' outputs
with forward hooks added for the call; it stops right after the last requested stage, so the
layers behind it cost nothing. The classifier is removed (``reset_classifier(0)``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import CnnlabError


class FeatureInfo(list):
    """``feature_info`` as a list of dicts (``channels``, ``reduction``, ``module``) with timm's
    accessors: ``channels()``, ``reduction()``, ``module_name()`` (all stages, or stage ``idx``)."""

    def _get(self, key: str, idx: int | None):
        return [d[key] for d in self] if idx is None else self[idx][key]

    def channels(self, idx: int | None = None):
        return self._get("channels", idx)

    def reduction(self, idx: int | None = None):
        return self._get("reduction", idx)

    def module_name(self, idx: int | None = None):
        return self._get("module", idx)


class _Enough(Exception):
    """Raised by the hook of the last requested stage: the rest of the network is not needed."""


class FeatureListNet(nn.Module):
    """``model`` cut to its feature stages: ``forward(x)`` -> ``[stage maps]`` in ``out_indices`` order."""

    def __init__(self, model: nn.Module, out_indices=None):
        super().__init__()
        info = list(getattr(model, "feature_info", []) or [])
        name = getattr(model, "model_name", type(model).__name__)
        if not info:
            raise CnnlabError(
                f"{name} declares no feature stages (feature_info is empty)",
                "use model.forward_features(x) for its final feature map",
            )
        n = len(info)
        indices = tuple(range(n)) if out_indices is None else tuple(int(i) for i in out_indices)
        bad = [i for i in indices if not -n <= i < n]
        if bad or not indices:
            raise CnnlabError(
                f"{name}: out_indices {tuple(out_indices or ())} must lie in 0..{n - 1} (or -{n}..-1)",
                f"{name} has {n} stages: "
                + ", ".join(f"{i}: {d['module']} ({d['channels']} ch, /{d['reduction']})" for i, d in enumerate(info)),
            )
        self.out_indices = tuple(i % n for i in indices)
        if hasattr(model, "reset_classifier"):
            model.reset_classifier(0)
        self.model = model
        self.feature_info = FeatureInfo(dict(info[i]) for i in self.out_indices)
        self.model_name = name
        self.in_chans = getattr(model, "in_chans", None)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        wanted = [d["module"] for d in self.feature_info]
        last = max(self.out_indices)
        last_module = self.model.feature_info[last]["module"]
        found: dict[str, torch.Tensor] = {}
        handles = []

        def keep(path: str):
            def hook(_module, _inputs, output):
                found[path] = output
                if path == last_module:
                    raise _Enough

            return hook

        for path in dict.fromkeys(wanted):
            handles.append(self.model.get_submodule(path).register_forward_hook(keep(path)))
        try:
            run = getattr(self.model, "run_checked", None)
            if run is not None:
                run(self.model.forward_features, x, method="forward_features")
            else:
                self.model.forward_features(x)
        except _Enough:
            pass
        finally:
            for h in handles:
                h.remove()
        return [found[p] for p in wanted]
