"""A small trained run shared by the deployment tests (LeNet-5 on the built-in MNIST sample)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    import cnnlab

    out = tmp_path_factory.mktemp("run") / "lenet"
    cnnlab.fit(model="lenet5", data="mnist-sample", epochs=2, batch_size=64, out=str(out), progress=False, threads=1)
    return out
