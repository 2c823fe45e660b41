"""cnnlab.fit on what people have: any nn.Module, NumPy arrays, a torch Dataset or DataLoader; the
run reloads (rebuilt from the recorded class and arguments, or into a network the caller builds)."""

from __future__ import annotations

import subprocess
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image
from train_support import PYTHON, child_env

import cnnlab
from cnnlab.data import load_data
from cnnlab.errors import CnnlabError
from cnnlab.train.inputs import as_images, model_source, splits_from

FAST = dict(epochs=1, batch_size=32, precision="fp32", threads=1, progress=False, overwrite=True)


class SmallNet(cnnlab.RecordArgs, nn.Module):
    """Importable from this test module (pytest puts tests/train on sys.path): rebuilt by load_run."""

    def __init__(self, width: int = 6, num_classes: int = 10, in_chans: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, width, 5, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten()
        )
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


class Unrecorded(nn.Module):
    """Takes a required argument and does not record it: cnnlab cannot rebuild it alone."""

    def __init__(self, width):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10)
        )

    def forward(self, x):
        return self.body(x)


@pytest.fixture(scope="module")
def mnist_arrays():
    d = load_data("mnist-sample")
    x = d.train.images[:400, 0].numpy()  # N x H x W uint8
    y = d.train.labels[:400].numpy()
    return x, y


def _png(tmp_path, image: np.ndarray):
    path = tmp_path / "digit.png"
    Image.fromarray(image).save(path)
    return path


def test_fit_a_custom_module_on_arrays_and_reload_it(mnist_arrays, tmp_path):
    x, y = mnist_arrays
    torch.manual_seed(0)
    result = cnnlab.fit(model=SmallNet(width=7), data=(x, y), out=str(tmp_path / "run"), **FAST)
    meta = cnnlab.load_run(result.run_dir).meta
    assert meta["model_source"] == {
        "import": "test_fit_inputs:SmallNet",
        "kwargs": {"width": 7, "num_classes": 10, "in_chans": 1},
        "why": "",
    }
    assert len(result.metrics) == 1 and result.metrics[0]["val_top1"] is not None
    # the validation split: 10% of each class (at least one), carved from the 400 images
    held = sum(min(max(int(round(0.1 * c)), 1), c - 1) for c in np.bincount(y, minlength=10))
    assert result.metrics[0]["step"] == (400 - held) // 32
    loaded = cnnlab.load_run(result.run_dir)
    assert isinstance(loaded.model, SmallNet) and loaded.model.head.in_features == 28
    for k, v in result.model.state_dict().items():
        assert torch.equal(v, loaded.model.state_dict()[k])
    image = _png(tmp_path, x[0])
    pred = cnnlab.predict(result.run_dir, [str(image)], top_k=1)[0]
    norm = (torch.from_numpy(x[:1]).float()[:, None] / 255 - loaded.meta["mean"][0]) / loaded.meta["std"][0]
    with torch.no_grad():
        expected = loaded.model(norm).softmax(1)
    assert pred.top[0][0] == str(int(expected.argmax()))
    assert pred.top[0][1] == pytest.approx(float(expected.max()), abs=1e-5)


def test_an_unrecorded_module_says_how_to_load_it_back(mnist_arrays, tmp_path):
    x, y = mnist_arrays
    result = cnnlab.fit(model=Unrecorded(5), data=(x, y), out=str(tmp_path / "run"), **FAST)
    assert model_source(Unrecorded(5))["kwargs"] is None
    with pytest.raises(CnnlabError) as e:
        cnnlab.load_run(result.run_dir)
    assert "cannot rebuild" in str(e.value) and "model=Unrecorded(...)" in e.value.hint
    loaded = cnnlab.load_run(result.run_dir, model=Unrecorded(5))
    assert all(torch.equal(v, loaded.model.state_dict()[k]) for k, v in result.model.state_dict().items())
    assert cnnlab.predict(loaded, [str(_png(tmp_path, x[3]))], top_k=2)[0].label in loaded.classes
    with pytest.raises(CnnlabError, match="do not fit the given Unrecorded"):
        cnnlab.load_run(result.run_dir, model=Unrecorded(6))


def test_a_network_with_the_wrong_outputs_is_refused(mnist_arrays, tmp_path):
    x, y = mnist_arrays
    with pytest.raises(CnnlabError, match=r"returns \(2, 4\).*\(2, 10\)"):
        cnnlab.fit(model=SmallNet(num_classes=4), data=(x, y), out=str(tmp_path / "r"), **FAST)
    with pytest.raises(CnnlabError, match="fails on a batch of 3x28x28"):
        cnnlab.fit(model=SmallNet(), data=(np.repeat(x[..., None], 3, -1), y), out=str(tmp_path / "r"), **FAST)


def test_array_layouts_and_dtypes_convert_to_the_same_pixels(mnist_arrays):
    x, _ = mnist_arrays
    rgb = np.stack([x, 255 - x, x // 2], axis=-1)[:20]  # N x H x W x 3 uint8
    expected = torch.from_numpy(rgb).permute(0, 3, 1, 2)
    assert torch.equal(as_images(rgb), expected)
    assert torch.equal(as_images(np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))), expected)
    assert torch.equal(as_images(rgb.astype(np.float32) / 255), expected)  # floats in [0, 1]
    assert torch.equal(as_images(rgb.astype(np.float64)), expected)  # floats in [0, 255]
    assert torch.equal(as_images(torch.from_numpy(rgb).int()), expected)
    assert as_images(x[:5]).shape == (5, 1, 28, 28)

    for bad, message in (
        (np.zeros((4, 5, 5, 5), np.uint8), "no axis of 1, 3 or 4 channels"),
        (np.zeros((4, 28), np.uint8), "images are N x C x H x W"),
        (np.full((2, 1, 4, 4), -0.4, np.float32), "normalises them itself"),
        (np.full((2, 1, 4, 4), 300, np.int64), "integers in"),
    ):
        with pytest.raises(CnnlabError, match=message):
            as_images(bad)
    with pytest.raises(CnnlabError, match="one class index per image"):
        splits_from((x[:10], np.eye(10)[np.arange(10)]))
    with pytest.raises(CnnlabError, match="10 images need 10"):
        splits_from((x[:10], np.arange(9)))


def test_own_splits_class_names_and_val_split(mnist_arrays):
    x, y = mnist_arrays
    names = [f"digit {i}" for i in range(10)]
    d = splits_from({"train": (x[:300], y[:300], names), "val": (x[300:350], y[300:350]), "test": (x[350:], y[350:])})
    assert (len(d.train), len(d.val), len(d.test)) == (300, 50, 50) and d.classes == names
    assert torch.equal(d.val.images[:, 0], torch.from_numpy(x[300:350]))
    none = splits_from((x, y), {"val_split": 0})
    assert len(none.train) == 400 and len(none.val) == 0
    fixed = splits_from((x, y), {"val_split": 40})
    assert len(fixed.train) + len(fixed.val) == 400 and abs(len(fixed.val) - 40) <= 5  # rounded per class


class PairDataset(torch.utils.data.Dataset):
    """A torch Dataset as torchvision-style code writes it: (float C x H x W in [0, 1], int)."""

    classes = [f"class {i}" for i in range(10)]

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.from_numpy(self.x[i]).float()[None] / 255, int(self.y[i])


def test_fit_on_a_torch_dataset_and_a_dataloader(mnist_arrays, tmp_path):
    x, y = mnist_arrays
    ds = PairDataset(x, y)
    d = splits_from(ds, {"val_split": 0})
    assert torch.equal(d.train.images[:, 0], torch.from_numpy(x)) and torch.equal(d.train.labels, torch.from_numpy(y))
    assert d.classes == PairDataset.classes
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=False)
    dl = splits_from(loader, {"val_split": 0})
    assert torch.equal(dl.train.images, d.train.images) and torch.equal(dl.train.labels, d.train.labels)
    with pytest.raises(CnnlabError, match="more than the .* allowed"):
        splits_from(ds, {"max_memory_gb": 1e-6})

    result = cnnlab.fit(model="lenet5", data=loader, out=str(tmp_path / "run"), **FAST)
    assert result.metrics[0]["val_top1"] is not None
    assert cnnlab.load_run(result.run_dir).classes == PairDataset.classes
    with pytest.raises(CnnlabError, match="pass the same data again"):
        cnnlab.fit(resume=result.run_dir)


def test_a_model_registered_in_the_users_module_reloads_in_predict(mnist_arrays, tmp_path):
    pkg = tmp_path / "mine"
    pkg.mkdir()
    (pkg / "my_models.py").write_text(
        textwrap.dedent("""
        import torch.nn as nn
        import cnnlab

        @cnnlab.register_model
        def tiny_user_net(num_classes=10, in_chans=1, width=4):
            return nn.Sequential(nn.Conv2d(in_chans, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(width, num_classes))
    """)
    )
    import sys

    sys.path.insert(0, str(pkg))
    try:
        import my_models  # noqa: F401  (registers tiny_user_net)

        x, y = mnist_arrays
        result = cnnlab.fit(model="tiny_user_net", data=(x, y), out=str(tmp_path / "run"), **FAST)
    finally:
        sys.path.remove(str(pkg))
    try:
        assert cnnlab.load_run(result.run_dir).meta["model_module"] == "my_models"
    finally:  # the rest of the suite sees only cnnlab's own registry
        from cnnlab.models import registry

        registry._REGISTRY.pop("tiny_user_net", None)
        sys.modules.pop("my_models", None)
    image = _png(tmp_path, x[1])
    env = child_env()
    cmd = [PYTHON, "-m", "cnnlab", "predict", str(result.run_dir), str(image), "--json", "--no-progress"]
    on_path = {**env, "PYTHONPATH": env["PYTHONPATH"] + ":" + str(pkg)}
    # the file names the module, but only the user decides what is imported (metadata is untrusted)
    untrusted = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=on_path)
    assert untrusted.returncode == 2 and "CNNLAB_MODULES=my_models" in untrusted.stderr
    ok = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env={**on_path, "CNNLAB_MODULES": "my_models"}
    )
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env={**env, "CNNLAB_MODULES": "my_models"}
    )
    assert missing.returncode == 2 and "my_models" in missing.stderr and "importable" in missing.stderr
