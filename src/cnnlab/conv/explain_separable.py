"""The cost of a depthwise-separable convolution against the standard one (lecture 004, "MobileNets").

Standard ``K x K`` convolution, ``C_in -> C_out`` on an ``H x W`` output: ``K^2 C_in C_out HW``
multiply-adds. Depthwise ``K x K`` (one filter per channel, ``K^2 C_in HW``) then pointwise 1x1
(``C_in C_out HW``): the ratio is ``K^2 C_out / (K^2 + C_out)``, lecture 004's
``9C^2HW / (9C + C^2)HW -> 9`` for ``K = 3``, ``C_in = C_out = C``. MobileNet (Howard et al. 2017,
§3.1) writes the inverse, ``1/N + 1/D_K^2``; at ``C = 256`` it is 8.69x.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from . import arithmetic as ar


@dataclass
class SeparableCost:
    c_in: int
    c_out: int
    kernel: int
    height: int
    width: int
    standard: ar.Cost
    depthwise: ar.Cost
    pointwise: ar.Cost

    @property
    def separable(self) -> ar.Cost:
        return self.depthwise + self.pointwise

    @property
    def speedup(self) -> float:
        return self.standard.macs / self.separable.macs

    @property
    def param_ratio(self) -> float:
        return self.standard.params / self.separable.params

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("standard", "depthwise", "pointwise")}
        for name in ("standard", "depthwise", "pointwise", "separable"):
            c = getattr(self, name)
            d[name] = {"params": c.params, "macs": c.macs}
        d["speedup"] = self.speedup
        d["param_ratio"] = self.param_ratio
        return d


def separable_comparison(
    c_in: int, c_out: int | None = None, size: int = 14, kernel: int = 3, width: int | None = None
) -> SeparableCost:
    """Standard vs depthwise + pointwise (no biases: MobileNet follows each conv with batch norm)."""
    c_out = c_in if c_out is None else c_out
    width = size if width is None else width
    ar.check_positive("channels", c_in)
    ar.check_positive("output size", size)
    return SeparableCost(
        c_in,
        c_out,
        kernel,
        size,
        width,
        ar.conv_cost(c_in, c_out, kernel, size, width, bias=False, name="standard"),
        ar.depthwise_cost(c_in, kernel, size, width, bias=False),
        ar.pointwise_cost(c_in, c_out, size, width, bias=False),
    )


def render_separable(e: SeparableCost) -> str:
    k2, hw = e.kernel**2, e.height * e.width
    s, d, p = e.standard, e.depthwise, e.pointwise
    lines = [
        f"{e.kernel}x{e.kernel} convolution, {e.c_in} -> {e.c_out} channels, output {e.height}x{e.width} "
        f"(multiply-adds, no biases)",
        "",
        f"standard    K^2 C_in C_out HW = {k2} x {e.c_in} x {e.c_out} x {hw} = {s.macs:,}"
        f"   params {k2} x {e.c_in} x {e.c_out} = {s.params:,}",
        f"depthwise   K^2 C_in HW       = {k2} x {e.c_in} x {hw} = {d.macs:,}   params {k2} x {e.c_in} = {d.params:,}",
        f"pointwise   C_in C_out HW     = {e.c_in} x {e.c_out} x {hw} = {p.macs:,}"
        f"   params {e.c_in} x {e.c_out} = {p.params:,}",
        f"separable   depthwise + pointwise = {e.separable.macs:,}   params {e.separable.params:,}",
        "",
        f"speed-up    {s.macs:,} / {e.separable.macs:,} = K^2 C_out / (K^2 + C_out) = {k2} x {e.c_out} / "
        f"({k2} + {e.c_out}) = {e.speedup:.2f}x  (-> {k2} as C_out grows; lecture 004, \"MobileNets\")",
        f"parameters  {e.param_ratio:.2f}x fewer",
    ]
    return "\n".join(lines)
