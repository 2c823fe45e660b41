"""The convolution operation itself: arithmetic, reference ops, explanations, classic filters.

- :mod:`.arithmetic`  output sizes, padding modes, strict stride check, receptive fields, costs (pure Python)
- :mod:`.reference`   NumPy reference ops (corr2d, conv2d, pooling, LRN, batch norm), checked against PyTorch
- :mod:`.explain`     step-by-step explanations of a convolution, a pooling, a layer stack
- :mod:`.filters`     the lectures' classic kernels applied to images (with PyTorch)
- :mod:`.matrices`    matrices from the command line or files, with errors naming row and column
"""

from .arithmetic import Cost, conv_output_size, effective_kernel, padding_for, receptive_field, receptive_field_step

__all__ = ["Cost", "conv_output_size", "effective_kernel", "padding_for", "receptive_field", "receptive_field_step"]
