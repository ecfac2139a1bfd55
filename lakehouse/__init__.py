"""Lakehouse substrate: a plain library (no Prefect, no modes, no flows)."""

from lakehouse.config import Settings, get_settings
from lakehouse.core import Lakehouse

__all__ = ["Lakehouse", "Settings", "get_settings"]
