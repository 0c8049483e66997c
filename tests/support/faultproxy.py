"""Kept so existing imports work: the one proxy with every fault mode is tests.support.proxy."""

from tests.support.proxy import FaultProxy

__all__ = ["FaultProxy"]
