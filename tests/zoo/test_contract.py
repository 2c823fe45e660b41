"""The model contract, checked for EVERY registered name (parametrized at collection time, so a
newly registered network is covered automatically).

Cheap by design: every structural check (keys, shapes, parameter counts, output shapes,
``feature_info``, input-size errors) runs on the ``meta`` device, where a forward propagates
shapes without computing anything. Real forwards run only for small networks on small inputs.
"""

from __future__ import annotations

import functools
import math
import re
import warnings

import pytest
import torch
import torch.nn as nn

from cnnlab import CnnlabError, create_model, list_models, model_card
from cnnlab.models.base import SHAPE_PRESERVING, Classifier, _passthrough

NAMES = [n for n in list_models() if model_card(n).task == "classify"]  # detectors: tests/detect
# Real (computing) forwards only for networks the card says are small.
SMALL = [n for n in NAMES if model_card(n).params is not None and model_card(n).params < 8_000_000]
REAL_SIDE = 96  # side of the real-forward input for ImageNet-sized networks


def build_meta(name: str, **kw) -> nn.Module:
    """A meta-device build for shape checks; norms, activations and dropout (shape-preserving, and
    slow on meta) are skipped in its forward."""
    with torch.device("meta"):
        model = create_model(name, **kw)
    for module in model.modules():
        if isinstance(module, SHAPE_PRESERVING):
            module.forward = _passthrough
    return model.eval()


@functools.cache
def shared_meta(name: str) -> nn.Module:
    """One default meta build per name for the read-only checks (meta models hold no data)."""
    return build_meta(name)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def default_input(
    name: str, batch: int = 2, in_chans: int | None = None, side: int | None = None, device: str = "meta"
) -> torch.Tensor:
    c, h, w = model_card(name).input_size
    if side is not None:
        h = w = side
    return (
        torch.randn(batch, in_chans or c, h, w, device=device)
        if device != "meta"
        else torch.empty(batch, in_chans or c, h, w, device="meta")
    )


def other_chans(name: str) -> int:
    return 3 if model_card(name).input_size[0] == 1 else 1


def tolerance(reported: int) -> float:
    """A count ending in 000 is a rounded figure (e.g. 1.8M): allow half a unit of its last digit."""
    if reported % 1000:
        return 0
    unit = 10 ** (len(str(reported)) - len(str(reported).rstrip("0")))
    return unit / 2


def test_registry_is_not_empty():
    assert "lenet5" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_card(name):
    card = model_card(name)
    assert card.name == name
    assert card.paper and card.year and card.source, f"{name}: the card must cite paper, year and source"
    assert len(card.input_size) == 3 and card.input_size[0] in (1, 3)
    assert card.params is None or card.params > 0
    assert card.macs is None or card.macs > 0
    for acc in (card.top1, card.top5):
        assert acc is None or 0 < acc <= 100


@pytest.mark.parametrize("name", NAMES)
def test_param_count_matches_card(name):
    card = model_card(name)
    model = shared_meta(name)
    assert isinstance(model, Classifier)
    count = n_params(model)
    if card.params is not None:
        assert abs(count - card.params) <= tolerance(card.params), (
            f"{name}: built {count:,} parameters, the card says {card.params:,}"
        )


@pytest.mark.parametrize("name", NAMES)
def test_contract_on_meta(name):
    card = model_card(name)
    chans = other_chans(name)
    model = build_meta(name, num_classes=7, in_chans=chans, drop_rate=0.1)
    assert model.num_classes == 7 and model.in_chans == chans
    x = default_input(name, in_chans=chans)

    # feature_info: channels and total stride of each stage, checked with hooks on one meta forward
    info = model.feature_info
    assert info, f"{name}: feature_info is empty"
    seen: dict[str, torch.Size] = {}
    hooks = [
        model.get_submodule(i["module"]).register_forward_hook(
            lambda _m, _i, o, key=i["module"]: seen.__setitem__(key, o.shape)
        )
        for i in info
    ]
    with torch.no_grad():
        feats = model.forward_features(x)
        out = model.forward_head(feats)
        pre = model.forward_head(feats, pre_logits=True)
    for h in hooks:
        h.remove()
    assert out.shape == (2, 7)
    assert pre.dim() == 2 and pre.shape[0] == 2
    assert isinstance(model.get_classifier(), (nn.Linear, nn.Conv2d))
    side = card.input_size[-1]
    reductions = [i["reduction"] for i in info]
    assert reductions == sorted(reductions), f"{name}: reductions must not decrease: {reductions}"
    for i in info:
        shape = seen[i["module"]]
        assert shape[1] == i["channels"], (
            f"{name}: {i['module']} has {shape[1]} channels, feature_info says {i['channels']}"
        )
        expected = side / i["reduction"]
        assert abs(shape[-1] - expected) <= 0.2 * expected + 1, (
            f"{name}: {i['module']} is {shape[-1]} wide at input {side}, reduction {i['reduction']} gives {expected:.1f}"
        )
    if feats.dim() == 4:
        assert feats.shape[1] == info[-1]["channels"]

    # reset_classifier: n outputs, or none (the network becomes a feature extractor = pre_logits)
    model.reset_classifier(5)
    assert model.num_classes == 5 and model.forward_head(feats).shape == (2, 5)
    model.reset_classifier(0)
    assert model.forward_head(feats).shape == pre.shape
    model.reset_classifier(3)
    with torch.no_grad():  # the whole forward (some families override it) gives the new head's outputs
        assert model(x).shape == (2, 3)


@pytest.mark.parametrize("name", NAMES)
def test_input_sizes(name):
    """A tiny input either works (padding keeps the maps alive: another allowed size) or gives an
    error naming the minimum size, which then works (the search behind the message ran it on meta)."""
    model = shared_meta(name)
    card = model_card(name)
    side = card.input_size[-1]
    try:
        with torch.no_grad():
            assert model(default_input(name, side=2)).shape == (2, card.num_classes)
        return
    except CnnlabError as e:
        found = re.search(r"at least (\d+)x\1", e.message)
        assert found, f"{name}: a too-small input must give an error naming the minimum size: {e}"
    minimum = int(found.group(1))
    assert 2 < minimum <= side
    if minimum == side:  # a fixed-size network (LeNet-5): a bigger input must name the size it needs
        with pytest.raises(CnnlabError, match=str(side)):
            model(default_input(name, side=side + 8))
    elif name in SMALL:
        with torch.no_grad():
            assert model(default_input(name, side=minimum)).shape == (2, card.num_classes)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_channels_is_a_clear_error(name):
    model = shared_meta(name)
    c = model_card(name).input_size[0]
    with pytest.raises(CnnlabError, match=f"{c}-channel"):
        model(default_input(name, in_chans=c + 1))


@pytest.mark.parametrize("name", SMALL)
def test_real_forward_small_networks(name):
    """Numbers, not just shapes: the two halves compose, pre_logits == the reset head, training works."""
    torch.manual_seed(0)
    card = model_card(name)
    side = card.input_size[-1] if card.input_size[-1] <= REAL_SIDE else REAL_SIDE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = create_model(name, num_classes=4, drop_rate=0.2).eval()
    x = default_input(name, side=side, device="cpu")
    with torch.no_grad():
        out = model(x)
        feats = model.forward_features(x)
        assert torch.allclose(model.forward_head(feats), out, atol=1e-5, rtol=1e-4)
        pre = model.forward_head(feats, pre_logits=True)
        assert torch.isfinite(out).all() and out.shape == (2, 4)
    model.reset_classifier(0)
    with torch.no_grad():
        assert torch.allclose(model(x), pre, atol=1e-5, rtol=1e-4)
    model.reset_classifier(4)
    model.train()
    loss = model(x).float().logsumexp(1).mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# -- scripting and export: a few small networks ------------------------------------------------
SCRIPT = [n for n in ("lenet5", "lenet5_1998", "nin", "alexnet_original", "mobilenet_v2", "resnet20") if n in NAMES]
ONNX = [n for n in ("lenet5_1998", "resnet20") if n in NAMES] + [
    pytest.param(n, marks=pytest.mark.slow) for n in ("googlenet", "inception_v4") if n in NAMES
]


def _small_input(name: str) -> torch.Tensor:
    card = model_card(name)  # the default size: these networks are small
    return torch.randn(1, *card.input_size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", SCRIPT)
def test_torchscript(name):
    model = create_model(name).eval()
    x = _small_input(name)
    scripted = torch.jit.script(model)
    with torch.no_grad():
        assert torch.allclose(scripted(x), model(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ONNX)
def test_onnx_export_matches_onnxruntime(name, tmp_path):
    import onnxruntime as ort

    model = create_model(name).eval()
    x = _small_input(name)
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=True, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape
    assert float(abs(got - want).max()) <= 1e-4 * max(1.0, float(abs(want).max()))


def test_tolerance_rule():
    assert tolerance(61_706) == 0 and tolerance(61_100_840) == 0
    assert tolerance(1_800_000) == 50_000 and tolerance(3_400_000) == 50_000
    assert math.isclose(tolerance(25_557_000), 500)
