"""Dataset adapters (raw layouts -> `pipeline.clip.Clip`s) and streaming frame decode."""

from pipeline.datasets.base import DatasetAdapter, Skip
from pipeline.datasets.registry import DATASET_NAMES, get_adapter

__all__ = ["DATASET_NAMES", "DatasetAdapter", "Skip", "get_adapter"]
