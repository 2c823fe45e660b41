"""DataOptions from Python and from `cnnlab data`: validation split, resizing, errors, the CLI output."""

from __future__ import annotations

import pytest

from cnnlab.cli import main
from cnnlab.data import DataOptions, load_data
from cnnlab.errors import CnnlabError


def test_defaults_reproduce_the_plain_load():
    a, b = load_data("mnist-sample"), load_data("mnist-sample", DataOptions())
    assert (len(a.train), len(a.val)) == (9_000, 1_000) == (len(b.train), len(b.val))
    assert a.mean == b.mean and (a.val.images == b.val.images).all()


def test_validation_is_carved_from_training_images_and_the_test_split_stays_apart():
    data = load_data("mnist-sample", val_split=0.1, seed=3)
    assert data.train.class_counts() == [900] * 10 and data.val.class_counts() == [100] * 10
    assert "validation split: 10% of each class of the training images, seed 3" in data.describe()
    again = load_data("mnist-sample", {"val_split": 0.1, "seed": 3})
    assert (again.val.images == data.val.images).all()
    assert len(data.test) == 2_000 and data.test.class_counts() == [200] * 10
    # validation images are training images (none of them is a test image)
    train_rows = {bytes(r) for r in load_data("mnist-sample", val_split=0).train.images.flatten(1).numpy()}
    assert all(bytes(r) in train_rows for r in data.val.images.flatten(1).numpy())
    counted = load_data("mnist-sample", val_split=500)
    assert len(counted.val) == 500 and counted.val.class_counts() == [50] * 10
    none = load_data("mnist-sample", val_split=0)
    assert (len(none.train), len(none.val)) == (10_000, 0)


def test_image_size_resizes_fixed_size_sets():
    data = load_data("mnist-sample", image_size=14)
    assert data.train.image_shape == (1, 14, 14) and data.val.image_shape == (1, 14, 14)
    assert "resized from 28x28 to 14x14" in data.describe()


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"val_split": 1.5}, "neither a fraction"),
        ({"bad_images": "ignore"}, "use error"),
        ({"channels": 2}, "channels=2"),
        ({"val_splitt": 0.1}, "did you mean val_split"),
        ({"workers": -1}, "workers=-1"),
    ],
)
def test_bad_options_are_explained(kw, message):
    with pytest.raises(CnnlabError) as e:
        load_data("mnist-sample", **kw)
    assert message in str(e.value)


def test_cli_lists_loads_and_previews(tmp_path, capsys):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    for name in ("cifar10:PATH", "cifar100:PATH", "imagefolder:PATH", "mnist-sample"):
        assert name in out
    png = tmp_path / "grid.png"
    assert (
        main(["data", "mnist-sample", "--val-split", "0.2", "--augment", "crop=2,cutout=6", "--preview", str(png)]) == 0
    )
    out = capsys.readouterr().out
    assert "8,000 training / 2,000 validation" in out and "0: 800/200" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["data", "mnist-sample", "--augment", "flp", "--preview", str(png)]) == 2
    assert "did you mean flip" in capsys.readouterr().err
    assert main(["data", "cifar10:/nonexistent"]) == 2
    assert "does not exist" in capsys.readouterr().err
