"""load_weights: file formats, checkpoint wrappers, in_chans adaptation, classifier replacement and
the one-message report of everything that does not fit."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn
from safetensors.torch import save_file

from cnnlab import CnnlabError, create_model, load_weights
from cnnlab.models.base import Classifier
from cnnlab.models.weights import adapt_input_channels
from cnnlab.runs import save_model


class Tiny(Classifier):
    """conv(3x3) -> BN -> ReLU -> global pool -> fc: enough to exercise every rule."""

    classifier_path = "fc"

    def __init__(self, num_classes: int = 10, in_chans: int = 3, width: int = 8):
        super().__init__(num_classes, in_chans)
        self.conv = nn.Conv2d(in_chans, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, num_classes)
        self.num_features = width

    def forward_features(self, x):
        return torch.relu(self.bn(self.conv(x)))

    def forward_head(self, x, pre_logits: bool = False):
        x = x.mean((2, 3))
        return x if pre_logits else self.fc(x)


def trained(seed: int = 0, **kw) -> Tiny:
    torch.manual_seed(seed)
    m = Tiny(**kw)
    with torch.no_grad():
        m.bn.running_mean.normal_()
        m.bn.running_var.uniform_(0.5, 2)
    return m.eval()


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_plain_state_dict_is_a_torchvision_file(tmp_path):
    src = trained()
    torch.save(src.state_dict(), tmp_path / "w.pth")
    dst = trained(seed=1)
    report = load_weights(dst, tmp_path / "w.pth")
    assert report.source == "torchvision" and report.loaded == len(src.state_dict())
    assert same_weights(src, dst)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 7},
        lambda sd: {"model": {f"_orig_mod.{k}": v for k, v in sd.items()}},
        lambda sd: {f"module.module.{k}": v for k, v in sd.items()},
    ],
)
def test_checkpoint_wrappers_and_prefixes(tmp_path, wrap):
    src = trained()
    torch.save(wrap(src.state_dict()), tmp_path / "ckpt.pth")
    dst = trained(seed=1)
    load_weights(dst, tmp_path / "ckpt.pth")
    assert same_weights(src, dst)


def test_ema_weights_are_preferred_unless_asked_otherwise(tmp_path):
    raw, ema = trained(0), trained(2)
    torch.save({"state_dict": raw.state_dict(), "state_dict_ema": ema.state_dict()}, tmp_path / "c.pth")
    dst = trained(1)
    assert load_weights(dst, tmp_path / "c.pth").source == "timm"
    assert same_weights(ema, dst)
    load_weights(dst, tmp_path / "c.pth", use_ema=False)
    assert same_weights(raw, dst)


def test_safetensors_and_cnnlab_run_files(tmp_path):
    src = trained()
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "plain.safetensors"))
    save_model(tmp_path / "model.safetensors", src, {"model": "tiny", "classes": list("abcdefghij")})
    for name, source in (("plain.safetensors", "timm"), ("model.safetensors", "cnnlab")):
        dst = trained(1)
        assert load_weights(dst, tmp_path / name).source == source
        assert same_weights(src, dst)


def test_grey_model_from_rgb_weights_sums_the_kernels(tmp_path):
    """A grey image g through the summed kernel == (g, g, g) through the RGB kernels."""
    rgb = trained()
    torch.save(rgb.state_dict(), tmp_path / "rgb.pth")
    grey = Tiny(in_chans=1).eval()
    report = load_weights(grey, tmp_path / "rgb.pth")
    assert report.adapted_first_conv == "conv.weight: 3 -> 1 channels"
    g = torch.randn(2, 1, 9, 9)
    with torch.no_grad():
        assert torch.allclose(grey(g), rgb(g.expand(-1, 3, -1, -1)), atol=1e-5)


def test_four_channel_rule_repeats_rgb_and_rescales():
    w = torch.arange(2 * 3 * 1 * 1, dtype=torch.float32).view(2, 3, 1, 1)
    w4 = adapt_input_channels(w, 4)
    # R, G, B, R scaled by 3/4: the response to a constant image keeps its size
    assert torch.equal(w4[:, :, 0, 0], torch.tensor([[0, 1, 2, 0], [3, 4, 5, 3]]) * 0.75)
    assert torch.equal(adapt_input_channels(w, 3), w)
    assert torch.equal(adapt_input_channels(w, 1)[:, 0, 0, 0], torch.tensor([3.0, 12.0]))
    with pytest.raises(CnnlabError, match="only 3-channel"):
        adapt_input_channels(torch.zeros(2, 2, 1, 1), 1)


def test_classifier_of_another_size_is_dropped_with_a_warning(tmp_path):
    src = trained(num_classes=10)
    torch.save(src.state_dict(), tmp_path / "w.pth")
    dst = trained(seed=1, num_classes=4)
    fc_before = dst.fc.weight.clone()
    with pytest.warns(UserWarning, match=r"classifier .*fc.weight \(10, 8\).* num_classes=4"):
        report = load_weights(dst, tmp_path / "w.pth")
    assert report.dropped_classifier == ["fc.bias", "fc.weight"]
    assert torch.equal(dst.conv.weight, src.conv.weight) and torch.equal(dst.fc.weight, fc_before)
    headless = trained(seed=1, num_classes=10)
    headless.reset_classifier(0)  # a feature extractor takes the backbone, drops the head
    with pytest.warns(UserWarning):
        load_weights(headless, tmp_path / "w.pth")
    assert torch.equal(headless.conv.weight, src.conv.weight)


def test_everything_else_that_does_not_fit_is_one_clear_error(tmp_path):
    sd = trained().state_dict()
    sd.pop("bn.running_var")
    sd["stray.weight"] = torch.zeros(3)
    sd["bn.weight"] = torch.zeros(5)
    torch.save(sd, tmp_path / "bad.pth")
    dst = trained(1)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(CnnlabError) as err:
        load_weights(dst, tmp_path / "bad.pth")
    text = str(err.value)
    assert "1 missing from the file: bn.running_var" in text
    assert "1 not in the model: stray.weight" in text
    assert "1 shape mismatch: bn.weight: file (5,) vs model (8,)" in text
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items())  # nothing half-loaded
    with pytest.warns(UserWarning, match="loaded only the matching tensors"):
        report = load_weights(dst, tmp_path / "bad.pth", strict=False)
    assert report.loaded == len(sd) - 2


def test_old_files_without_num_batches_tracked_load(tmp_path):
    src = trained()
    torch.save({k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}, tmp_path / "o.pth")
    load_weights(trained(1), tmp_path / "o.pth")


def test_unsafe_and_broken_files_are_refused_with_the_fix(tmp_path):
    torch.save(trained(), tmp_path / "pickled_module.pth")  # a whole pickled module, not a state dict
    with pytest.raises(CnnlabError, match="not a plain state dict .*Tiny.*weights_only=True") as err:
        load_weights(trained(1), tmp_path / "pickled_module.pth")
    assert "torch.save(model.state_dict()" in err.value.hint
    (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CnnlabError, match="not a readable PyTorch weight file"):
        load_weights(trained(1), tmp_path / "cut.pth")
    with pytest.raises(CnnlabError, match="not found"):
        load_weights(trained(1), tmp_path / "missing.pth")
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "no_weights.pth")
    with pytest.raises(CnnlabError, match="no state dict found"):
        load_weights(trained(1), tmp_path / "no_weights.pth")
    with pytest.raises(CnnlabError, match="unknown weight source"):
        load_weights(trained(1), tmp_path / "no_weights.pth", source="keras")


def test_create_model_weights_argument_and_lenet_round_trip(tmp_path):
    src = create_model("lenet5").eval()
    torch.save(src.state_dict(), tmp_path / "lenet.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to drop, nothing to warn about
        dst = create_model("lenet5", weights=str(tmp_path / "lenet.pth")).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(src(x), dst(x))


def test_cli_weights_inspects_checks_and_converts(tmp_path, capsys):
    from cnnlab.cli import main
    from cnnlab.runs import load_run

    src = create_model("lenet5").eval()
    torch.save(
        {"state_dict_ema": {f"module.{k}": v for k, v in src.state_dict().items()}, "epoch": 3}, tmp_path / "ckpt.pth"
    )
    assert main(["weights", str(tmp_path / "ckpt.pth")]) == 0
    out = capsys.readouterr().out
    assert "state_dict_ema" in out and "timm" in out and "61,706" in out  # parameters, running stats excluded
    out_file = tmp_path / "lenet7.safetensors"
    assert (
        main(
            ["weights", str(tmp_path / "ckpt.pth"), "--model", "lenet5", "--num-classes", "7", "--save", str(out_file)]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "loaded 8 tensors" in out and "dropped classifier output.bias, output.weight" in out
    run = load_run(out_file)
    assert run.model.num_classes == 7 and torch.equal(run.model.features.c1.weight, src.features.c1.weight)
    assert main(["weights", str(tmp_path / "ckpt.pth"), "--model", "lenet5_1998"]) == 2
    assert "features.c3.weight" in capsys.readouterr().err
