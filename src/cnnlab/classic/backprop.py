"""Backpropagation by the chain rule on an expression's graph (lecture 004, "Chain Rule and Backpropagation").

The lecture's example: ``f(x, y, z) = (x + y) z`` at ``x = -2, y = 5, z = -4``. Forward: ``q = x + y = 3``,
``f = q z = -12``. Backward: ``df/dz = q = 3``, ``df/dq = z = -4``, ``df/dx = df/dq dq/dx = -4 x 1``,
``df/dy = -4``. Every node multiplies the gradient arriving from above (upstream) by its local gradient
and passes the product to each input (downstream); an input used twice adds its gradients.

Expressions are Python arithmetic over named inputs: ``+ - * / **`` (constant exponents), unary minus,
and ``exp log sigmoid tanh relu max(a, b) min(a, b)``; they are parsed with ``ast`` and only these
nodes are accepted (nothing is evaluated as code).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

from ..conv.matrices import format_number
from ..errors import CnnlabError

FUNCTIONS = ("exp", "log", "sigmoid", "tanh", "relu", "max", "min")
EXPR_HELP = (
    "operators + - * / ** (constant power), unary minus; functions "
    + ", ".join(FUNCTIONS)
    + "; e.g. '(x + y) * z' or '1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))'"
)


@dataclass
class Node:
    name: str
    op: str  # input, const, add, sub, mul, div, pow, neg, exp, log, sigmoid, tanh, relu, max, min
    inputs: list[int]
    text: str
    value: float = 0.0
    grad: float = 0.0  # dL/d(this node), summed over its uses
    local: list[float] = field(default_factory=list)  # d(this)/d(input k)
    power: float | None = None


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


class Graph:
    """The nodes of an expression in evaluation order (inputs first, the output last)."""

    def __init__(self, expression: str, values: dict[str, float]):
        self.expression = expression
        self.nodes: list[Node] = []
        self._inputs: dict[str, int] = {}
        try:
            tree = ast.parse(expression.strip(), mode="eval")
        except SyntaxError as e:
            raise CnnlabError(f"cannot read the expression {expression!r}: {e.msg}", EXPR_HELP) from None
        self.values = {k: float(v) for k, v in values.items()}
        self.output = self._build(tree.body)
        missing = [n for n in self._inputs if n not in self.values]
        if missing:
            raise CnnlabError(
                f"no value for {', '.join(missing)}", "give every input a value, e.g. --values x=-2,y=5,z=-4"
            )
        unused = [n for n in self.values if n not in self._inputs]
        if unused:
            raise CnnlabError(f"{', '.join(unused)} do(es) not appear in {expression!r}")
        self.forward()
        self.backward()

    def _add(self, op: str, inputs: list[int], text: str, power: float | None = None) -> int:
        k = sum(n.op not in ("input", "const") for n in self.nodes)
        self.nodes.append(Node(f"n{k + 1}", op, inputs, text, power=power))
        return len(self.nodes) - 1

    def _build(self, t: ast.AST) -> int:
        if isinstance(t, ast.Name):
            if t.id in FUNCTIONS:
                raise CnnlabError(f"{t.id} is a function: call it, e.g. {t.id}(x)", EXPR_HELP)
            if t.id not in self._inputs:
                self.nodes.append(Node(t.id, "input", [], t.id))
                self._inputs[t.id] = len(self.nodes) - 1
            return self._inputs[t.id]
        if isinstance(t, ast.Constant) and isinstance(t.value, int | float) and not isinstance(t.value, bool):
            self.nodes.append(
                Node(format_number(float(t.value)), "const", [], format_number(float(t.value)), value=float(t.value))
            )
            return len(self.nodes) - 1
        if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.USub):
            a = self._build(t.operand)
            return self._add("neg", [a], f"-{self._ref(a)}")
        if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.UAdd):
            return self._build(t.operand)
        if isinstance(t, ast.BinOp):
            ops = {ast.Add: ("add", "+"), ast.Sub: ("sub", "-"), ast.Mult: ("mul", "*"), ast.Div: ("div", "/")}
            if isinstance(t.op, ast.Pow):
                if not (isinstance(t.right, ast.Constant) and isinstance(t.right.value, int | float)):
                    raise CnnlabError("only constant powers are supported (x ** 2)", EXPR_HELP)
                a = self._build(t.left)
                return self._add(
                    "pow", [a], f"{self._ref(a)}^{format_number(float(t.right.value))}", float(t.right.value)
                )
            if type(t.op) not in ops:
                raise CnnlabError(f"operator {type(t.op).__name__} is not supported", EXPR_HELP)
            op, sym = ops[type(t.op)]
            a, b = self._build(t.left), self._build(t.right)
            return self._add(op, [a, b], f"{self._ref(a)} {sym} {self._ref(b)}")
        if isinstance(t, ast.Call) and isinstance(t.func, ast.Name) and t.func.id in FUNCTIONS and not t.keywords:
            n_args = 2 if t.func.id in ("max", "min") else 1
            if len(t.args) != n_args:
                raise CnnlabError(f"{t.func.id} takes {n_args} argument(s)", EXPR_HELP)
            args = [self._build(a) for a in t.args]
            return self._add(t.func.id, args, f"{t.func.id}({', '.join(self._ref(a) for a in args)})")
        raise CnnlabError(f"cannot use {ast.unparse(t)!r} in an expression", EXPR_HELP)

    def _ref(self, i: int) -> str:
        return self.nodes[i].name

    def forward(self) -> None:
        for n in self.nodes:
            v = [self.nodes[i].value for i in n.inputs]
            if n.op == "input":
                n.value = self.values[n.name]
            elif n.op == "const":
                continue
            elif n.op == "add":
                n.value, n.local = v[0] + v[1], [1.0, 1.0]
            elif n.op == "sub":
                n.value, n.local = v[0] - v[1], [1.0, -1.0]
            elif n.op == "mul":
                n.value, n.local = v[0] * v[1], [v[1], v[0]]
            elif n.op == "div":
                if v[1] == 0:
                    raise CnnlabError(f"division by zero at {n.name} = {n.text}")
                n.value, n.local = v[0] / v[1], [1 / v[1], -v[0] / v[1] ** 2]
            elif n.op == "pow":
                n.value, n.local = v[0] ** n.power, [n.power * v[0] ** (n.power - 1)]
            elif n.op == "neg":
                n.value, n.local = -v[0], [-1.0]
            elif n.op == "exp":
                n.value = math.exp(v[0])
                n.local = [n.value]
            elif n.op == "log":
                if v[0] <= 0:
                    raise CnnlabError(f"log of {format_number(v[0])} at {n.name} = {n.text}")
                n.value, n.local = math.log(v[0]), [1 / v[0]]
            elif n.op == "sigmoid":
                n.value = _sigmoid(v[0])
                n.local = [n.value * (1 - n.value)]
            elif n.op == "tanh":
                n.value = math.tanh(v[0])
                n.local = [1 - n.value**2]
            elif n.op == "relu":
                n.value, n.local = max(0.0, v[0]), [1.0 if v[0] > 0 else 0.0]
            elif n.op in ("max", "min"):
                first = v[0] >= v[1] if n.op == "max" else v[0] <= v[1]  # ties route to the first (as torch)
                n.value = v[0] if first else v[1]
                n.local = [1.0, 0.0] if first else [0.0, 1.0]

    def backward(self) -> None:
        for n in self.nodes:
            n.grad = 0.0
        self.nodes[self.output].grad = 1.0
        for n in reversed(self.nodes):
            for i, lg in zip(n.inputs, n.local, strict=True):
                self.nodes[i].grad += n.grad * lg

    @property
    def value(self) -> float:
        return self.nodes[self.output].value

    def gradients(self) -> dict[str, float]:
        return {name: self.nodes[i].grad for name, i in self._inputs.items()}

    def to_dict(self) -> dict:
        return {
            "expression": self.expression,
            "value": self.value,
            "gradients": self.gradients(),
            "nodes": [
                {
                    "name": n.name,
                    "op": n.op,
                    "text": n.text,
                    "value": n.value,
                    "grad": n.grad,
                    "local": n.local,
                    "inputs": [self.nodes[i].name for i in n.inputs],
                }
                for n in self.nodes
            ],
        }


LOCAL_RULES = {
    "add": "d(a + b)/da = 1, /db = 1",
    "sub": "d(a - b)/da = 1, /db = -1",
    "mul": "d(ab)/da = b, /db = a",
    "div": "d(a/b)/da = 1/b, /db = -a/b^2",
    "pow": "d(a^p)/da = p a^(p-1)",
    "neg": "d(-a)/da = -1",
    "exp": "d e^a/da = e^a",
    "log": "d log a/da = 1/a",
    "sigmoid": "d s(a)/da = s(a)(1 - s(a))",
    "tanh": "d tanh a/da = 1 - tanh^2 a",
    "relu": "1 if a > 0 else 0",
    "max": "1 for the larger input, 0 for the other",
    "min": "1 for the smaller input, 0 for the other",
}


def _n(v: float) -> str:
    return format_number(round(v, 6))


def render_backprop(g: Graph) -> str:
    ops = [n for n in g.nodes if n.op not in ("input", "const")]
    ins = [n for n in g.nodes if n.op == "input"]
    lines = [
        f"f = {g.expression}",
        "at " + ", ".join(f"{n.name} = {_n(n.value)}" for n in ins),
        "",
        "forward pass (inputs to output):",
    ]
    for n in ops:
        vals = ", ".join(_n(g.nodes[i].value) for i in n.inputs)
        lines.append(f"  {n.name} = {n.text:<24} = {_n(n.value):>10}    (inputs {vals})")
    out = g.nodes[g.output]
    lines += [
        f"  f = {out.name} = {_n(out.value)}",
        "",
        "backward pass (output to inputs): downstream = upstream x local",
        f"  df/d{out.name} = 1",
    ]
    for n in reversed(ops):
        lines.append(f"  {n.name} = {n.text}: upstream df/d{n.name} = {_n(n.grad)}; local {LOCAL_RULES[n.op]}")
        for i, lg in zip(n.inputs, n.local, strict=True):
            src = g.nodes[i]
            if src.op == "const":
                continue
            lines.append(f"      -> {src.name}: {_n(n.grad)} x {_n(lg)} = {_n(n.grad * lg)}")
    lines += ["", "gradients (an input used more than once adds its contributions):"]
    for n in ins:
        lines.append(f"  df/d{n.name} = {_n(n.grad)}")
    return "\n".join(lines)


def parse_values(text: str) -> dict[str, float]:
    """``"x=-2,y=5,z=-4"`` -> ``{"x": -2.0, ...}``."""
    out = {}
    for part in [p for p in text.replace(";", ",").split(",") if p.strip()]:
        name, eq, val = part.partition("=")
        if not eq or not name.strip().isidentifier():
            raise CnnlabError(f"cannot read {part.strip()!r} in --values", "write NAME=NUMBER pairs: x=-2,y=5,z=-4")
        try:
            out[name.strip()] = float(val)
        except ValueError:
            raise CnnlabError(f"{val.strip()!r} (for {name.strip()}) is not a number") from None
    return out
