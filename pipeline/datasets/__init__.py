"""Dataset adapters (raw layouts -> `pipeline.clip.Clip`s) and streaming frame decode."""

from pipeline.datasets.base import Skip
from pipeline.datasets.registry import ADAPTERS, get_adapter

__all__ = ["ADAPTERS", "Skip", "get_adapter"]
