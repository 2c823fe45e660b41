"""timm's and torchinfo's conventions: features_only, global_pool, pretrained_cfg, summary with a batch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import cnnlab
from cnnlab.errors import CnnlabError

# one network of each family shape: residual stages, plain VGG stack, inverted residuals (2 kinds),
# dense blocks, inception (aux heads), NF stages, shuffle units, a CIFAR net, LeNet (fixed size)
_SLOW = pytest.mark.slow  # 70-130 M parameters: seconds of weight initialisation alone
FAMILIES = [
    ("resnet18", 32),
    ("mobilenet_v2", 32),
    ("efficientnet_b0", 32),
    ("googlenet", 32),
    ("inception_v3", 75),
    ("shufflenet_v2_x0_5", 32),
    ("mobilenet_v3_small", 32),
    ("mcunet", 32),
    ("resnet20", 32),
    ("lenet5", 28),
    pytest.param("densenet121", 32, marks=_SLOW),
    pytest.param("vgg11", 32, marks=_SLOW),
    pytest.param("nfnet_f0", 32, marks=_SLOW),
]


@pytest.mark.parametrize("name,side", FAMILIES)
def test_features_only_matches_feature_info(name, side):
    model = cnnlab.create_model(name, features_only=True).eval()
    info = model.feature_info
    chans = cnnlab.model_card(name).input_size[0]
    fixed = name == "lenet5"  # its last stage (C5) covers the whole 28 x 28 input
    with torch.no_grad():
        feats = model(torch.randn(2, chans, side, side))
        bigger = None if fixed else model(torch.randn(1, chans, side + 64, side + 64))
    assert isinstance(feats, list) and len(feats) == len(info)
    for i, (f, d) in enumerate(zip(feats, info)):
        assert f.shape[0] == 2 and f.shape[1] == d["channels"], (name, d)
        if bigger is not None:
            # the declared total stride, independent of padding: 64 more input pixels give 64 / reduction
            # more output pixels, whatever the borders do
            grow = bigger[i].shape[-1] - f.shape[-1]
            assert grow == 64 // d["reduction"], (name, d, f.shape, bigger[i].shape)
    assert info.channels() == [d["channels"] for d in info]
    assert info.reduction() == sorted(info.reduction())


def test_features_only_values_and_out_indices():
    torch.manual_seed(0)
    full = cnnlab.create_model("resnet18").eval()
    feats_model = cnnlab.create_model("resnet18", features_only=True, out_indices=(1, -1)).eval()
    feats_model.model.load_state_dict({k: v for k, v in full.state_dict().items() if not k.startswith("fc.")})
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        f1, f3 = feats_model(x)
        # independent path: the stem and the stages called one by one
        y = full.maxpool(full.relu(full.bn1(full.conv1(x))))
        l2 = full.layer2(full.layer1(y))
        l4 = full.layer4(full.layer3(l2))
    assert torch.equal(f1, l2) and torch.equal(f3, l4)
    assert feats_model.feature_info.channels() == [128, 512]
    assert feats_model.feature_info.reduction() == [8, 32]
    with pytest.raises(CnnlabError, match="out_indices"):
        cnnlab.create_model("resnet18", features_only=True, out_indices=(4,))
    with pytest.raises(CnnlabError, match="features_only"):
        cnnlab.create_model("resnet18", out_indices=(1,))


def test_features_only_stops_after_the_last_requested_stage():
    model = cnnlab.create_model("resnet18", features_only=True, out_indices=(0,)).eval()
    calls = []
    model.model.layer2.register_forward_hook(lambda *a: calls.append("layer2"))
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert calls == []


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "shufflenet_v2_x0_5", "efficientnet_b0", "googlenet"])
def test_global_pool_variants(name):
    torch.manual_seed(0)
    avg = cnnlab.create_model(name).eval()
    mx = cnnlab.create_model(name, global_pool="max").eval()
    mx.load_state_dict(avg.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fmap = avg.forward_features(x)
        assert torch.allclose(avg(x), avg.forward_head(fmap), atol=1e-6)
        # independent: the classifier applied to the channel means / maxima
        cls = avg.get_classifier()
        assert torch.allclose(avg(x), cls(fmap.mean((2, 3))), atol=1e-5)
        assert torch.allclose(mx(x), cls(F.adaptive_max_pool2d(fmap, 1).flatten(1)), atol=1e-5)
        assert not torch.equal(mx(x), avg(x))  # the max path was taken
        avg.reset_classifier(0, global_pool="")  # timm: no classifier, no pooling
        assert torch.equal(avg(x), fmap)


def test_global_pool_refusals():
    with pytest.raises(CnnlabError, match="num_classes=0"):
        cnnlab.create_model("resnet18", global_pool="")
    for name in ("vgg11", "vit_ti_16", "lenet5"):
        with pytest.raises(CnnlabError, match="not available"):
            cnnlab.create_model(name, global_pool="max")
    with pytest.raises(CnnlabError, match="unknown global_pool"):
        cnnlab.create_model("resnet18", global_pool="avgmax")
    m = cnnlab.create_model("resnet18", num_classes=0, global_pool="")
    m.reset_classifier(10)  # a new classifier: pooled again
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 10)
    m.reset_classifier(0, global_pool="")
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 512, 2, 2)


def test_max_pool_survives_scripting():
    m = cnnlab.create_model("resnet20", global_pool="max").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(torch.jit.script(m)(x), m(x), atol=1e-5)


def test_torchinfo_forms_of_summary():
    a = cnnlab.summary("resnet18", input_size=(4, 3, 224, 224))
    b = cnnlab.summary("resnet18", batch=4)
    assert a.batch == 4 and a.input_size == (3, 224, 224)
    assert a.macs == b.macs == 4 * 1_814_073_344  # torchvision's 1.81 GMACs per image
    assert a.total_mult_adds == a.macs and a.trainable_params == a.total_params == 11_689_512  # torchinfo's names
    c = cnnlab.summary("resnet18", input_size=[2, 3, 112, 112])
    assert c.batch == 2 and c.input_size == (3, 112, 112)
    d = cnnlab.summary(cnnlab.create_model("resnet18"), input_data=torch.randn(2, 3, 112, 112))
    assert d.macs == c.macs
    with pytest.raises(CnnlabError, match="batch"):
        cnnlab.summary("resnet18", input_size=(4, 3, 224, 224), batch=2)
