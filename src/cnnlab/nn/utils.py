"""Small arithmetic shared by the width-scaled families."""

from __future__ import annotations


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round a channel count to a multiple of ``divisor`` without going below ``round_limit`` of it.

    The rule of the MobileNet/EfficientNet reference code (also torchvision's ``_make_divisible``).
    """
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < round_limit * value:
        new += divisor
    return new
