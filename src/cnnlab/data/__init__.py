"""Data: readers for the real formats, the built-in sample, in-memory datasets, loaders, batched augmentation."""

from .dataset import DataSplits, ImageDataset, channel_stats, resize_images, stratified_split
from .idx import read_idx, write_idx
from .loader import BatchLoader
from .options import DataOptions
from .sources import SOURCES, DataSource, load_data, register_source
from .transforms import AugmentPipeline, PixelStats, mix_batch, parse_augment, pixel_stats

__all__ = [
    "AugmentPipeline",
    "BatchLoader",
    "DataOptions",
    "DataSource",
    "DataSplits",
    "ImageDataset",
    "PixelStats",
    "SOURCES",
    "channel_stats",
    "load_data",
    "mix_batch",
    "parse_augment",
    "pixel_stats",
    "read_idx",
    "register_source",
    "resize_images",
    "stratified_split",
    "write_idx",
]
