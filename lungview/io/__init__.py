"""lungview.io: opening images, DICOM files and DICOM folders as :class:`Series`.

Headless and TensorFlow-free; everything the viewer, ``predict`` and ``info`` read goes
through :func:`load`, which returns a :class:`LoadResult` or raises
:class:`lungview.errors.LoadError` (path + reason), never an untyped exception.
"""

from __future__ import annotations

from lungview.io.loader import load
from lungview.io.series import LoadResult, Series, SliceRef, TagRow

__all__ = ["load", "LoadResult", "Series", "SliceRef", "TagRow"]
