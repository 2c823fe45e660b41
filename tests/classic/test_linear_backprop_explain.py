"""Lecture 004's linear classifier (scores, multiclass SVM and softmax losses) and chain-rule example,
checked by hand and against torch (MultiMarginLoss, cross_entropy, autograd)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.classic.backprop import Graph, parse_values
from cnnlab.classic.explain_linear import explain_linear, render_linear
from cnnlab.classic.losses import multiclass_svm_loss, softmax_loss_value, svm_loss_terms
from cnnlab.cli import main
from cnnlab.errors import CnnlabError


def test_l004_cat_dog_ship_scores_and_losses():
    e = explain_linear()
    # cat 0.2x56 - 0.5x231 + 0.1x24 + 2x2 + 1.1; ship 0.25x231 + 0.2x24 - 0.3x2 - 1.2 = 60.75 (slide: 61.95)
    np.testing.assert_allclose(e.scores, [-96.8, 437.9, 60.75])
    # the image is a cat: SVM (delta 1) max(0, 437.9 + 96.8 + 1) + max(0, 60.75 + 96.8 + 1) = 535.7 + 158.55
    np.testing.assert_allclose(e.svm_terms, [0, 535.7, 158.55])
    assert e.svm_loss == pytest.approx(694.25)
    # softmax: log(e^-96.8 + e^437.9 + e^60.75) + 96.8, i.e. 437.9 + 96.8 up to e^-377
    assert e.softmax_loss == pytest.approx(534.7, abs=1e-9)
    assert explain_linear(label="dog").svm_loss == 0  # dog wins by more than the margin
    assert explain_linear(label="ship").svm_loss == pytest.approx(0 + (437.9 - 60.75 + 1))
    assert e.l2 == pytest.approx(
        sum(v * v for row in [[0.2, -0.5, 0.1, 2.0], [1.5, 1.3, 2.1, 0.0], [0.0, 0.25, 0.2, -0.3]] for v in row)
    )
    text = render_linear(e)
    assert "ship score   = 0x56 + 0.25x231 + 0.2x24 + (-0.3)x2 + (-1.2) = 60.75" in text
    assert "L_i = 535.7 + 158.55 = 694.25" in text and "61.95" in text
    with pytest.raises(CnnlabError, match="W must be K x D with D = 4"):
        explain_linear(w=[[1.0, 2.0]])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(1, 5), st.integers(0, 2**31 - 1), st.floats(0.1, 3))
def test_svm_and_softmax_losses_match_torch(k, n, seed, delta):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, k, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, k, (n,), generator=g)
    # torch's MultiMarginLoss divides the same sum by the number of classes
    ref = F.multi_margin_loss(s, y, margin=delta) * k
    assert multiclass_svm_loss(s, y, delta).item() == pytest.approx(ref.item(), rel=1e-12)
    assert np.mean([svm_loss_terms(s[i].numpy(), int(y[i]), delta).sum() for i in range(n)]) == pytest.approx(
        ref.item(), rel=1e-12
    )
    assert np.mean([softmax_loss_value(s[i].numpy(), int(y[i])) for i in range(n)]) == pytest.approx(
        F.cross_entropy(s, y).item(), rel=1e-12
    )


def test_l004_chain_rule_example_node_by_node():
    # f = (x + y) z at x = -2, y = 5, z = -4: q = 3, f = -12; df/dz = q = 3, df/dq = z = -4, df/dx = df/dy = -4
    g = Graph("(x + y) * z", {"x": -2, "y": 5, "z": -4})
    q, f = g.nodes[2], g.nodes[4]
    assert (q.text, q.value, q.grad, q.local) == ("x + y", 3, -4, [1, 1])
    assert (f.text, f.value, f.grad, f.local) == ("n1 * z", -12, 1, [-4, 3])
    assert g.gradients() == {"x": -4, "y": -4, "z": 3}


EXPRESSIONS = {
    "(x + y) * z": "x y z",
    "1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))": "w0 x0 w1 x1 w2",
    "x * x * y - y / (z ** 2 + 1)": "x y z",
    "max(x, y) * tanh(z) + relu(x - z) + log(sigmoid(y) + 2)": "x y z",
    "min(x * z, y) - -x": "x y z",
}


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(EXPRESSIONS)), st.lists(st.integers(-300, 300), min_size=5, max_size=5))
def test_graph_gradients_match_autograd(expr, ints):
    values = dict(zip(EXPRESSIONS[expr].split(), [v / 100 for v in ints], strict=False))
    x, y, z = (values.get(k, 0.0) for k in "xyz")
    if "max" in expr and x == y or "min" in expr and x * z == y or "relu" in expr and x == z:
        return  # a tie: torch splits the gradient, the lecture's max routes it to one input
    g = Graph(expr, values)
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in values.items()}
    env = {
        **t,
        "exp": torch.exp,
        "log": torch.log,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "max": torch.maximum,
        "min": torch.minimum,
    }
    out = eval(expr, {"__builtins__": {}}, env)  # test-only: the expressions are the fixed list above
    out.backward()
    assert g.value == pytest.approx(out.item(), rel=1e-9, abs=1e-12)
    for k, v in g.gradients().items():
        assert v == pytest.approx(t[k].grad.item(), rel=1e-9, abs=1e-12), k


def test_graph_errors():
    with pytest.raises(CnnlabError, match="no value for z"):
        Graph("(x + y) * z", {"x": 1, "y": 2})
    with pytest.raises(CnnlabError, match="cannot use"):
        Graph("__import__('os')", {})
    with pytest.raises(CnnlabError, match="cannot read"):
        parse_values("x=1,y")
    with pytest.raises(CnnlabError, match="division by zero"):
        Graph("x / y", {"x": 1, "y": 0})


def test_cli_linear_backprop(capsys):
    assert main(["explain", "linear"]) == 0
    assert "= 60.75" in capsys.readouterr().out
    assert main(["explain", "linear", "--label", "ship", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["svm_loss"] == pytest.approx(378.15)
    assert main(["explain", "backprop"]) == 0
    out = capsys.readouterr().out
    assert "n1 = x + y" in out and "-> z: 1 x 3 = 3" in out and "df/dx = -4" in out
    assert (
        main(
            [
                "explain",
                "backprop",
                "1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))",
                "--values",
                "w0=2,x0=-1,w1=-3,x1=-2,w2=-3",
                "--json",
            ]
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    s = 1 / (1 + math.exp(-1.0))  # w0 x0 + w1 x1 + w2 = -2 + 6 - 3 = 1
    assert d["value"] == pytest.approx(s) and d["gradients"]["w0"] == pytest.approx(-1 * s * (1 - s))
    assert main(["explain", "linear", "--label", "horse"]) == 2
    assert "horse" in capsys.readouterr().err
