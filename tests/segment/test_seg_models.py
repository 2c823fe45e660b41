"""FCN-32s/16s/8s and U-Net: logits at the input size for any size, bilinear upsampling, the zoo entries."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnlab import CnnlabError, create_model, list_models, model_card
from cnnlab.tasks.segment.upsample import bilinear_kernel, fit_to, upsampler

SEGMENTERS = ["fcn32s", "fcn16s", "fcn8s", "unet"]


def test_registered_as_segmentation_networks():
    assert list_models(task="segment") == sorted(SEGMENTERS)
    assert not set(SEGMENTERS) & set(list_models(task="classify"))
    assert set(SEGMENTERS) <= set(list_models())
    for name in SEGMENTERS:
        card = model_card(name)
        assert card.task == "segment" and card.year == 2015 and card.paper and card.source


@pytest.mark.parametrize("name", SEGMENTERS)
@pytest.mark.parametrize("size", [(32, 32), (37, 53), (1, 1), (65, 8)])
def test_output_is_logits_at_the_input_size(name, size):
    torch.manual_seed(0)
    model = create_model(name, backbone="resnet20", num_classes=5, in_chans=1).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, *size))
    assert out.shape == (2, 5, *size) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", SEGMENTERS)
@pytest.mark.parametrize("backbone", ["resnet18", "vgg11", "mobilenet_v2"])
def test_imagenet_backbones_on_odd_sizes(name, backbone):
    """Stride-32 backbones (shapes on the meta device: nothing is computed)."""
    with torch.device("meta"):
        model = create_model(name, backbone=backbone, num_classes=21).eval()
    for size in [(97, 131), (224, 224), (33, 31)]:
        with torch.no_grad():
            assert model(torch.empty(1, 3, *size, device="meta")).shape == (1, 21, *size)


def test_unused_backbone_layers_are_removed():
    """The classifier (and, for FCN-16s, the stages after the last one used) hold no parameters."""
    with torch.device("meta"):
        fcn = create_model("fcn8s", backbone="vgg11", num_classes=3)
        full = create_model("vgg11")
    keys = fcn.state_dict().keys()
    assert not any(k.startswith("backbone.model.classifier") for k in keys)  # fc6 / fc7 / fc8: 123 M parameters
    n_fcn = sum(p.numel() for p in fcn.backbone.parameters())
    n_features = sum(p.numel() for p in full.features.parameters())
    assert n_fcn == n_features


def test_bilinear_kernel_and_transposed_upsampling():
    # the 4 x 4 kernel of a 2x upsampling: outer product of [1/4, 3/4, 3/4, 1/4]
    k = torch.tensor([0.25, 0.75, 0.75, 0.25])
    assert torch.allclose(bilinear_kernel(4), k[:, None] * k[None, :])
    for factor in (2, 4, 8, 32):
        layer = upsampler(3, factor)
        x = torch.rand(1, 3, 5, 7)
        with torch.no_grad():
            y = layer(x)
        assert y.shape == (1, 3, 5 * factor, 7 * factor)
        ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
        inner = (slice(None), slice(None), slice(factor, -factor), slice(factor, -factor))
        assert torch.allclose(y[inner], ref[inner], atol=1e-5)  # equal away from the border
    assert upsampler(2, 3)(torch.rand(1, 2, 4, 4)).shape == (1, 2, 12, 12)  # an odd factor, exactly


def test_fit_to_crops_top_left_and_pads_by_replication():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    assert torch.equal(fit_to(x, 2, 3), x[..., :2, :3])
    y = fit_to(x, 4, 5)
    assert y.shape == (1, 1, 4, 5) and torch.equal(y[..., :3, :4], x)
    assert torch.equal(y[..., 3, :4], x[..., 2, :]) and torch.equal(y[..., :3, 4], x[..., :, 3])


def test_skip_scores_start_at_zero():
    """Long et al. 2015 (section 4.2): the fused skip layers start at zero, so a fresh FCN-8s adds nothing
    to its coarse scores until it learns to."""
    model = create_model("fcn8s", backbone="resnet20", num_classes=4, in_chans=1)
    assert len(model.score) == 3
    for layer in list(model.score)[1:]:
        assert not layer.weight.any() and not layer.bias.any()
    assert model.score[0].weight.abs().sum() > 0


def test_fcn16s_is_fcn32s_plus_a_zero_skip_at_start():
    """With the skip at zero, FCN-16s = (2x bilinear, then R/2 x bilinear) of the deepest scores."""
    torch.manual_seed(0)
    model = create_model("fcn16s", backbone="resnet20", num_classes=3, in_chans=1, dropout=0.0).eval()
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        feats = model.backbone(x)
        deep = model.score[0](feats[model._take[0]])
        want = model.up_final(model.up2[0](deep))
        assert torch.allclose(model(x), fit_to(want, 16, 16), atol=1e-6)


def test_backbone_without_the_needed_stages_is_a_clear_error():
    with pytest.raises(CnnlabError, match="stride 14"):
        create_model("fcn8s", backbone="lenet5", num_classes=3, in_chans=1)  # LeNet-5: strides 2, 4, 28
    with pytest.raises(CnnlabError, match="unknown model"):
        create_model("unet", backbone="resnet_nope")


def test_wrong_channels_is_a_clear_error():
    model = create_model("unet", backbone="resnet20", num_classes=3, in_chans=1)
    with pytest.raises(CnnlabError, match="1-channel"):
        model(torch.randn(1, 3, 16, 16))


def test_backbone_weights_load_into_the_encoder(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    clf = create_model("resnet20", num_classes=10)
    path = tmp_path / "resnet20.safetensors"
    save_file({k: v.contiguous() for k, v in clf.state_dict().items()}, str(path))
    seg = create_model("fcn8s", backbone="resnet20", backbone_weights=str(path), num_classes=4)
    assert torch.equal(seg.backbone.model.conv1.weight, clf.conv1.weight)
    assert torch.equal(seg.backbone.model.layer3[0].conv1.weight, clf.layer3[0].conv1.weight)


def test_summary_counts_a_segmentation_network():
    from cnnlab.analysis.summary import summary

    s = summary("fcn32s", input_size=(3, 64, 64))
    model = create_model("fcn32s")
    assert s.total_params == sum(p.numel() for p in model.parameters())
    # the final 32x upsampling: 21 -> 21 channels, 64 x 64 kernel, evaluated on a 2 x 2 map
    up = next(r for r in s.layers if r.name == "up_final")
    assert up.macs == 21 * 21 * 64 * 64 * 2 * 2


def test_gradients_reach_every_head_parameter():
    model = create_model("unet", backbone="resnet20", num_classes=3, in_chans=1)
    out = model(torch.randn(2, 1, 24, 24))
    F.cross_entropy(out, torch.randint(0, 3, (2, 24, 24))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    assert isinstance(model.head, nn.Conv2d)
