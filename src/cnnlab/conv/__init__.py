"""The convolution operation itself: arithmetic, reference ops, explanations, classic filters."""

from .arithmetic import conv_output_size, effective_kernel, receptive_field_step

__all__ = ["conv_output_size", "effective_kernel", "receptive_field_step"]
