"""Typed errors. Every failure a user can cause is one of these, carrying what and why."""

from __future__ import annotations

from pathlib import Path


class LungviewError(Exception):
    """Base class of every error lungview raises on purpose."""


class LoadError(LungviewError):
    """A file or folder could not be read as an image or DICOM object.

    Attributes
    ----------
    path : the file or folder at fault.
    reason : one human sentence saying why (no traceback, no class names).
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelError(LungviewError):
    """The classifier could not be loaded or used (missing file, hash mismatch, bad card)."""


class ExplainError(LungviewError):
    """A class activation map could not be computed (unknown method, layer or class)."""


class ReviewStoreError(LungviewError):
    """A reading could not be saved or read (read-only or full disk, corrupt database)."""
