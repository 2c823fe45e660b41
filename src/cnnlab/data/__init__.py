"""Data: readers for the real formats, the built-in sample, in-memory datasets and loaders."""

from .dataset import DataSplits, ImageDataset, channel_stats
from .idx import read_idx, write_idx
from .loader import BatchLoader
from .sources import SOURCES, DataSource, load_data, register_source

__all__ = ["BatchLoader", "DataSource", "DataSplits", "ImageDataset", "SOURCES", "channel_stats", "load_data",
           "read_idx", "register_source", "write_idx"]
