"""Semantic segmentation: fully convolutional networks on the zoo's backbones.

``fcn32s`` / ``fcn16s`` / ``fcn8s`` / ``unet`` (registered in the zoo, ``backbone=`` any network with
feature stages), the ``segfolder:PATH`` reader and the built-in ``seg-sample``, joint image/mask
augmentation, pixel accuracy / IoU / mean IoU / confusion matrix, and :class:`SegmentationTask` for
the trainer. See docs/segmentation.md.
"""
