"""The load job run on a worker thread: read the case, prepare series thumbnails.

Runs off the GUI thread, so it must not touch widgets (QImage is not used here either:
thumbnails stay numpy arrays until the GUI thread wraps them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from lungview.ui.readouts import LUNG, PRESETS

THUMB_PX = 96


@dataclass
class LoadedCase:
    """What a finished load hands to the window."""

    path: str
    result: Any  # lungview.io.LoadResult
    thumbnails: list[np.ndarray | None] = field(default_factory=list)


def load_case(path: str, progress: Callable[[int, int], None] | None = None) -> LoadedCase:
    """Load ``path`` with :func:`lungview.io.load` and make one thumbnail per series.

    Raises whatever ``load`` raises (``LoadError`` for bad input); the worker delivers it.
    """
    # Imported here, on the worker thread: pydicom and friends then load after the window
    # is already on screen.
    from lungview.io import load

    result = load(path, progress=progress)
    return LoadedCase(path=path, result=result,
                      thumbnails=[thumbnail(series) for series in result.series])


def thumbnail(series: Any, size: int = THUMB_PX) -> np.ndarray | None:
    """The middle slice, windowed like the viewer will show it, shrunk to ``size`` px."""
    import cv2

    try:
        window = PRESETS[LUNG].window if series.hu else None
        image = series.display(len(series) // 2, window=window)
    except Exception:  # noqa: BLE001 - a missing thumbnail must not fail the load
        return None
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or min(image.shape[:2]) == 0:
        return None
    scale = size / max(image.shape[:2])
    shape = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return np.ascontiguousarray(cv2.resize(image, shape, interpolation=cv2.INTER_AREA))
