"""The checkpoint format: safetensors + JSON skeleton, atomic, never a pickle."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open

from cnnlab.errors import CnnlabError
from cnnlab.train.checkpoint import (
    CHECKPOINT_DIR,
    LAST,
    PREVIOUS,
    flatten,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    unflatten,
)

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False),
)
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers(0, 99)), kids, max_size=4),
    ),
    max_leaves=20,
)


def _same(a, b) -> bool:
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@settings(max_examples=60, deadline=None)
@given(trees)
def test_flatten_round_trips_any_json_like_tree(tree):
    import json

    tensors = {}
    skel = json.loads(json.dumps(flatten(tree, tensors)))
    assert _same(tree, unflatten(skel, tensors))


def test_optimizer_state_with_int_keys_and_tensors_round_trips(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path, {"optimizer": opt.state_dict(), "model": model.state_dict()})
    back = load_checkpoint(tmp_path)
    sd = opt.state_dict()
    assert list(back["optimizer"]["state"]) == [0, 1]
    assert torch.equal(back["optimizer"]["state"][0]["momentum_buffer"], sd["state"][0]["momentum_buffer"])
    assert back["optimizer"]["param_groups"] == sd["param_groups"]
    opt2 = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    opt2.load_state_dict(back["optimizer"])
    assert opt2.param_groups[0]["lr"] == 0.1


def test_file_is_plain_safetensors_with_json_metadata(tmp_path):
    save_checkpoint(tmp_path, {"w": torch.arange(6.0).view(2, 3), "epoch": 3})
    with safe_open(str(tmp_path / CHECKPOINT_DIR / LAST), framework="pt") as f:
        meta = f.metadata()
        assert meta["format"] == "cnnlab-checkpoint-1" and '"epoch"' in meta["state"]
        assert list(f.keys()) == ["t.w"]


def test_previous_is_kept_and_used_when_last_is_corrupt(tmp_path):
    save_checkpoint(tmp_path, {"epoch": 1})
    save_checkpoint(tmp_path, {"epoch": 2})
    folder = tmp_path / CHECKPOINT_DIR
    assert load_checkpoint(tmp_path)["epoch"] == 2
    assert sorted(p.name for p in folder.iterdir()) == [LAST, PREVIOUS]  # no temporary files left
    (folder / LAST).write_bytes(b"\x00garbage")  # e.g. a disk that lied about fsync
    assert load_checkpoint(tmp_path)["epoch"] == 1
    (folder / LAST).unlink()
    assert load_checkpoint(tmp_path)["epoch"] == 1
    (folder / PREVIOUS).unlink()
    with pytest.raises(CnnlabError, match="no readable checkpoint"):
        load_checkpoint(tmp_path)


def test_a_pickle_is_refused(tmp_path):
    folder = tmp_path / CHECKPOINT_DIR
    folder.mkdir()
    torch.save({"epoch": 1}, folder / LAST)  # a pickle under the checkpoint's name
    with pytest.raises(CnnlabError, match="unreadable checkpoint"):
        load_checkpoint(tmp_path)


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.random(), np.random.rand(), torch.rand(1)
    save_checkpoint(tmp_path, {"rng": rng_state()})
    expect = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(load_checkpoint(tmp_path)["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expect
