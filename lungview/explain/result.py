"""What a CAM computation returns, and the one post-processing every method shares.

No TensorFlow here: the GUI and the review code can handle results without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lungview.errors import ExplainError
from lungview.imaging.preprocess import Placement, map_to_original

#: A raw map whose range (max - min, after ReLU) is at most ``max(ABS_EPS, REL_EPS * max)``
#: is FLAT: there is no spatial evidence to show, and stretching float round-off to [0, 1]
#: would draw noise as if it were evidence.
ABS_EPS = 1e-12
REL_EPS = 1e-4


class ExplainCancelled(ExplainError):
    """A computation was cancelled (``CamEngine.cancel()`` or the caller's ``cancelled``
    callback) between two batches. Nothing partial is cached or returned."""


@dataclass(frozen=True, eq=False)
class CamResult:
    """One class activation map.

    Attributes
    ----------
    method : registry name (e.g. ``"gradcam++"``).
    target_index, target_label : the explained class.
    probability : softmax probability of that class for the unaltered input.
    heatmap : float32 in [0, 1] over the ORIGINAL slice's pixels (rows x cols); all zeros
        when ``flat``. Read-only (results are shared through the cache).
    model_map : float32 in [0, 1] over the model input (size x size), padding included.
    peak : (row, col) of the heatmap maximum in original pixels; None when ``flat``.
    flat : the raw map had no spatial contrast (constant, all zero after ReLU, or NaN).
    raw_max : maximum of the raw map after ReLU, before normalisation (for absolute
        scaling across slices; units depend on the method).
    seconds : compute time of this map: its own work plus an equal share of any pass it
        shared with other methods in the same call (model loading excluded).
    placement : where the slice sits in the model input.
    probabilities : softmax probabilities of every class for the unaltered input (model
        label order); ``predicted_label`` is derived from them.
    """

    method: str
    target_index: int
    target_label: str
    probability: float
    heatmap: np.ndarray = field(repr=False)
    model_map: np.ndarray = field(repr=False)
    peak: tuple[int, int] | None
    flat: bool
    raw_max: float
    seconds: float
    placement: Placement
    probabilities: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()

    @property
    def predicted_label(self) -> str:
        """The model's predicted class for this slice ('' when unknown)."""
        if not self.probabilities or len(self.labels) != len(self.probabilities):
            return ""
        return self.labels[int(np.argmax(self.probabilities))]

    def to_dict(self) -> dict:
        """JSON-friendly summary (no arrays)."""
        return {"method": self.method, "target": self.target_index,
                "label": self.target_label, "probability": self.probability,
                "peak": list(self.peak) if self.peak is not None else None,
                "flat": self.flat, "raw_max": self.raw_max, "seconds": self.seconds,
                "predicted": self.predicted_label}


def is_flat(raw: np.ndarray) -> bool:
    """True when ``raw`` (already ReLU'd) has no usable spatial contrast or is not finite."""
    raw = np.asarray(raw)
    if raw.size == 0 or not np.all(np.isfinite(raw)):
        return True
    hi, lo = float(raw.max()), float(raw.min())
    return hi - lo <= max(ABS_EPS, REL_EPS * abs(hi))


#: How CAM-layer cells map onto input pixels (see :func:`cell_centres`).
ALIGNMENTS = ("auto", "tf-same", "centers", "corners")


def cell_centres(cells: int, size: int, alignment: str = "auto") -> np.ndarray:
    """Input-pixel position (row or column index) of each CAM-layer cell's centre.

    - ``tf-same``: the receptive-field centres of a chain of stride-2 ``padding="same"``
      stages as Keras/TensorFlow pads them (the extra pad row/column goes to the bottom/
      right when a stage's input is even, so each stage maps cell ``i`` to ``2i + 1``;
      ``2i`` when odd). For EfficientNetB0 at 512 px this puts cell ``j`` at ``32j + 31``,
      half a cell (15.5 px) lower-right than the naive half-pixel grid; measured, not
      assumed (``tests/test_explain_alignment.py`` checks it against input gradients).
    - ``centers``: the half-pixel convention of ``cv2.resize``/``tf.image.resize``
      (symmetric padding): ``(j + 0.5) * size / cells - 0.5``.
    - ``corners``: first and last cells on the first and last pixels, as
      ``scipy.ndimage.zoom(order=1)`` in tf-keras-vis.
    - ``auto``: ``tf-same`` when ``cells`` is what a stride-2 chain gives for ``size``,
      else ``centers``.
    """
    j = np.arange(cells, dtype=np.float64)
    if alignment not in ALIGNMENTS:
        raise ExplainError(f"unknown alignment {alignment!r}; choose from {ALIGNMENTS}")
    if alignment in ("auto", "tf-same"):
        sizes = [size]
        while sizes[-1] > cells:
            sizes.append(-(-sizes[-1] // 2))
        if sizes[-1] == cells and len(sizes) > 1:
            pos = j.copy()
            for n_in in reversed(sizes[:-1]):
                pos = 2.0 * pos + (1.0 if n_in % 2 == 0 else 0.0)
            return pos
        if alignment == "tf-same":
            raise ExplainError(f"a {cells}-cell layer is not a stride-2 'same' chain "
                               f"of a {size}-pixel input")
        alignment = "centers"
    if alignment == "corners":
        return j * (size - 1) / max(cells - 1, 1)
    return (j + 0.5) * size / cells - 0.5


def upsample_matrix(cells: int, size: int, alignment: str = "auto") -> np.ndarray:
    """(size, cells) float32 matrix ``R`` of linear interpolation between cell centres
    (clamped beyond the outer ones): a map ``m`` upsamples as ``R_rows @ m @ R_cols.T``."""
    centres = cell_centres(cells, size, alignment)
    u = np.interp(np.arange(size, dtype=np.float64), centres, np.arange(cells, dtype=np.float64))
    lo = np.floor(u).astype(int)
    hi = np.minimum(lo + 1, cells - 1)
    frac = u - lo
    R = np.zeros((size, cells), dtype=np.float64)
    R[np.arange(size), lo] += 1.0 - frac
    R[np.arange(size), hi] += frac
    return R.astype(np.float32)


def finalize(raw: np.ndarray, place: Placement, alignment: str = "auto") -> dict:
    """The shared post-processing: ReLU, flat check, upsample to the model input (cell
    centres placed by ``alignment``, see :func:`cell_centres`), min-max to [0, 1], then
    back to the original geometry with :func:`map_to_original`.

    Normalising after the upsampling (as tf-keras-vis does) makes the model map reach
    exactly 1 at its peak; linear interpolation keeps it within [0, 1].

    Parameters
    ----------
    raw : the method's raw map at the CAM layer's resolution ``(h, w)``.
    place : the slice's placement in the model input.
    alignment : cell-to-pixel convention.

    Returns
    -------
    dict with ``heatmap``, ``model_map``, ``peak``, ``flat``, ``raw_max``.
    """
    raw = np.asarray(raw, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        raw = np.maximum(raw, 0.0)  # ReLU (NaN propagates and is caught as flat)
    size = place.size
    flat_maps = (np.zeros((place.rows, place.cols), dtype=np.float32),
                 np.zeros((size, size), dtype=np.float32))
    if raw.ndim != 2 or is_flat(raw):
        finite = raw[np.isfinite(raw)] if raw.size else raw
        raw_max = float(finite.max()) if finite.size else 0.0
        return _frozen(*flat_maps, None, True, raw_max)
    raw_max = float(raw.max())
    rows = upsample_matrix(raw.shape[0], size, alignment)
    cols = rows if raw.shape[1] == raw.shape[0] else upsample_matrix(raw.shape[1], size,
                                                                     alignment)
    up = rows.astype(np.float64) @ raw @ cols.T.astype(np.float64)
    lo, hi = float(up.min()), float(up.max())
    if hi - lo <= max(ABS_EPS, REL_EPS * abs(hi)):
        return _frozen(*flat_maps, None, True, raw_max)
    model_map = ((up - lo) / (hi - lo)).astype(np.float32)
    heatmap = np.clip(map_to_original(model_map, place), 0.0, 1.0).astype(np.float32)
    r, c = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return _frozen(heatmap, model_map, (int(r), int(c)), False, raw_max)


def _frozen(heatmap, model_map, peak, flat, raw_max) -> dict:
    heatmap.setflags(write=False)
    model_map.setflags(write=False)
    return {"heatmap": heatmap, "model_map": model_map, "peak": peak, "flat": flat,
            "raw_max": raw_max}


def resolve_target(target: int | str | None, labels: tuple[str, ...],
                   probabilities: np.ndarray | None = None) -> int:
    """Turn ``target`` into a class index.

    Parameters
    ----------
    target : None (the predicted class: needs ``probabilities``), a label (case
        insensitive), an index, or an index written as a string.
    labels : the model's class labels.

    Raises
    ------
    ExplainError : unknown label or index out of range.
    """
    n = len(labels)
    if target is None:
        if probabilities is None:
            raise ExplainError("the predicted class is needed but no prediction was made")
        return int(np.argmax(probabilities))
    if isinstance(target, (bool, np.bool_)):
        raise ExplainError(f"unknown class {target!r}")
    if isinstance(target, (int, np.integer)):
        index = int(target)
    else:
        text = str(target).strip()
        lowered = [lab.lower() for lab in labels]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        if not text.lstrip("-").isdigit():
            raise ExplainError(f"unknown class {text!r}; the model's classes are "
                               f"{', '.join(labels)} (or 0-{n - 1})")
        index = int(text)
    if not 0 <= index < n:
        raise ExplainError(f"class index {index} is out of range; the model's classes are "
                           f"{', '.join(labels)} (0-{n - 1})")
    return index
