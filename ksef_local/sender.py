"""Kept for imports written before the sender became the ksef_local.sending package."""
from .sending import Deferred, Sender, describe

__all__ = ["Sender", "Deferred", "describe"]
