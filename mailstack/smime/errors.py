"""The error of every S/MIME step: its message is one sentence for the user."""

from __future__ import annotations


class SmimeError(ValueError):
    """An S/MIME step refused: nothing was written. The message says why."""
