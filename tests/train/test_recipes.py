"""Named recipes: every file parses into a valid TrainConfig with the papers' numbers; CLI and Python agree."""

from __future__ import annotations

import pytest

from cnnlab.cli import main
from cnnlab.errors import CnnlabError, UnknownNameError
from cnnlab.train.recipes import get_recipe, list_recipes, load_recipe

EXPECTED = {
    "alexnet-imagenet",
    "fast-cifar",
    "fast-cifar-sgd",
    "lenet-mnist",
    "mobilenet-imagenet",
    "resnet-cifar",
    "vgg-imagenet",
}


def test_all_recipes_parse_and_validate():
    assert set(list_recipes()) == EXPECTED
    for name in list_recipes():
        r = get_recipe(name)
        assert r.description and r.source, name
        load_recipe(name)  # validates


def test_resnet_cifar_is_the_papers_recipe():
    c = load_recipe("resnet-cifar")
    assert (c.model, c.optimizer, c.lr, c.momentum, c.weight_decay, c.batch_size) == (
        "resnet20",
        "sgd",
        0.1,
        0.9,
        1e-4,
        128,
    )
    assert (c.steps, c.schedule, c.milestones, c.gamma) == (64000, "multistep", [0.5, 0.75], 0.1)
    assert c.augment == "crop=4,flip" and not c.nesterov


def test_papers_imagenet_recipes():
    a, v, m = load_recipe("alexnet-imagenet"), load_recipe("vgg-imagenet"), load_recipe("mobilenet-imagenet")
    assert (a.lr, a.momentum, a.weight_decay, a.batch_size, a.epochs) == (0.01, 0.9, 5e-4, 128, 90)
    assert "pca=0.1" in a.augment
    assert (v.model, v.lr, v.weight_decay, v.batch_size, v.epochs) == ("vgg16", 0.01, 5e-4, 256, 74)
    assert (m.model, m.weight_decay, m.gamma, m.step_epochs) == ("mobilenet_v2", 4e-5, 0.98, 1)


def test_fast_cifar_sgd_carries_airbench_numbers():
    c = load_recipe("fast-cifar-sgd")
    # airbench94: lr 11.5 per 1024 examples in decoupled form = 11.5 / (1 + 1/(1-0.85)) on the mean loss
    assert c.lr == pytest.approx(11.5 / (1 + 1 / (1 - 0.85)), rel=1e-3)
    # weight decay 0.0153 per 1024 examples, decoupled: lr * wd = 0.0153 / (1 + 1/(1-0.85))
    assert c.lr * c.weight_decay == pytest.approx(0.0153 / (1 + 1 / (1 - 0.85)), rel=1e-2)
    assert (c.model, c.batch_size, c.momentum, c.nesterov, c.label_smoothing) == ("airbench", 1024, 0.85, True, 0.2)
    assert (c.lr_start, c.lr_peak_at, c.lr_end, c.norm_lr_scale) == (0.2, 0.23, 0.07, 64.0)
    assert (c.ema, c.ema_every, c.ema_ramp, c.lookahead, c.tta) == (0.95, 5, 3.0, True, "flip-translate")
    assert c.model_args == {"whiten_bias_epochs": 3} and c.compile == "off"
    # batch-norm and whitening biases shrink by the same lr x wd per step as the weights
    assert c.decay_all


def test_fast_cifar_carries_airbench94_muon_numbers():
    c = load_recipe("fast-cifar")
    assert (c.optimizer, c.muon_lr, c.muon_momentum, c.batch_size, c.epochs) == ("muon", 0.24, 0.6, 2000, 8)
    # airbench94_muon sums the loss over 2,000 images: its SGD rates x 2,000 on cnnlab's mean loss
    assert c.lr == pytest.approx(0.67 * 2000) and c.lr * c.norm_lr_scale == pytest.approx(0.053 * 2000, rel=1e-3)
    assert c.bias_lr_scale == c.norm_lr_scale
    # weight decay 2e-6 per example x 2,000 = a 0.004 shrink per step on the head and (decay_all) the biases
    assert c.lr * c.weight_decay == pytest.approx(2e-6 * 2000, rel=1e-3) and c.decay_all
    assert (c.schedule, c.lr_end, c.ema, c.tta, c.alternating_flip) == ("linear", 0.0, 0.0, "flip-translate", True)
    assert c.model_args == {"whiten_bias_epochs": 3, "scale": 1 / 256, "head_std": 1.0}


def test_overrides_and_model_args_patching():
    c = load_recipe("resnet-cifar", epochs=3, steps=0, **{"model_args.depth": 32})
    assert c.epochs == 3 and c.steps == 0 and c.model_args == {"depth": 32}


def test_unknown_recipe_and_unknown_key_suggest(tmp_path):
    with pytest.raises(UnknownNameError, match="resnet-cifar"):
        get_recipe("resnet-cifr")
    bad = tmp_path / "my.toml"
    bad.write_text('model = "lenet5"\nlearning_rate = 0.1\n')
    with pytest.raises(CnnlabError, match="learning_rate"):
        get_recipe(str(bad))


def test_cli_lists_and_prints_recipes(capsys, tmp_path):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXPECTED)
    assert main(["recipes", "resnet-cifar"]) == 0
    text = capsys.readouterr().out
    assert "milestones = [0.5, 0.75]" in text and "He et al." in text
    copy = tmp_path / "mine.toml"
    copy.write_text(text.replace("batch_size = 128", "batch_size = 64"))
    assert get_recipe(str(copy)).config().batch_size == 64
