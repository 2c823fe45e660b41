"""Auxiliary classifiers train (GoogLeNet: main + 0.3 x (aux1 + aux2); Inception-v3: main + 0.4 x aux),
their losses are logged, and evaluation uses the main head only."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnlab.data import DataSplits, ImageDataset
from cnnlab.models import create_model
from cnnlab.train import train
from cnnlab.train.trainer import head_losses


def tiny_rgb(n: int, size: int) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 80, (n, 3, size, size), dtype=torch.uint8, generator=g)
    images[labels == 1, 0] += 150
    ds = ImageDataset(images, labels, ["grey", "red"])
    return DataSplits("toy", ds.subset(torch.arange(n - 4)), ds.subset(torch.arange(n - 4, n)))


def test_googlenet_with_aux_heads_trains_and_logs_them(tmp_path):
    r = train(
        model="googlenet",
        model_args={"aux_logits": True},
        dataset=tiny_rgb(12, 32),
        epochs=1,
        batch_size=8,
        lr=0.01,
        precision="fp32",
        threads=1,
        progress=False,
        out=str(tmp_path / "g"),
    )
    for m in r.metrics:
        assert len(m["train_aux_loss"]) == 2 and all(0 < a < 10 for a in m["train_aux_loss"])
    assert r.final["val_top1"] is not None  # evaluated in eval mode: the main head only
    out = r.model.eval()(torch.zeros(2, 3, 32, 32))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 2)


@pytest.mark.parametrize("name, size, weight", [("googlenet", 32, 0.3), ("inception_v3", 299, 0.4)])
def test_the_papers_weighting(name, size, weight):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, aux_logits=True).train()
    assert model.aux_loss_weight == weight
    x, y = torch.randn(2, 3, size, size), torch.tensor([0, 2])
    out = model(x)
    total, main, aux = head_losses(out, y, model.aux_loss_weight)
    heads = [t.detach() for t in out if t is not None]
    assert len(heads) == (3 if name == "googlenet" else 2)
    ce = [F.cross_entropy(h, y).item() for h in heads]
    assert main.item() == pytest.approx(ce[0])
    assert total.item() == pytest.approx(ce[0] + weight * sum(ce[1:]), rel=1e-6)
    total.backward()  # one training step's gradients reach the auxiliary heads
    aux_params = [p for n, p in model.named_parameters() if n.startswith(("aux1.", "aux2.", "AuxLogits."))]
    assert aux_params and all(p.grad is not None for p in aux_params)
