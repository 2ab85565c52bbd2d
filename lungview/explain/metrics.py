"""Numbers that say how good a class activation map is: faithfulness and localisation.

Pure numpy (plus OpenCV to rasterise polygons and blur baselines) and a ``predict``
callable, so the GUI, the review export, ``lungview evaluate-cams`` and the benchmarks
all compute the same numbers without depending on how the model is run.

Conventions (stated here once, shown with every table)
------------------------------------------------------
- ``predict(batch) -> probabilities``: ``batch`` is ``(N, S, S, 3)`` float32 model input
  (0-255), the result ``(N, n_classes)`` softmax probabilities. ``f_c`` below is the
  **softmax probability** of the explained class ``c`` (not the logit).
- ``E`` is the map over the model input (``CamResult.model_map``), float in [0, 1].
- **Average Drop** (Chattopadhay et al., Grad-CAM++, WACV 2018, eq. 19):
  ``100 * mean_i max(0, f_c(x_i) - f_c(E_i * x_i)) / f_c(x_i)``, in %, lower is better.
  **Increase in Confidence**: ``100 * mean_i [f_c(E_i * x_i) > f_c(x_i)]``, in %, higher
  is better. ``E * x`` multiplies every pixel by the map (what the paper calls the
  explanation map). This is the paper's definition *with* the division by ``f_c(x)``
  (pytorch-grad-cam omits it).
- **Deletion / insertion** (Petsiuk et al., RISE, BMVC 2018): pixels are ranked by ``E``
  (highest first, ties by position) and removed (deletion: replaced by the baseline) or
  restored (insertion: starting from the baseline) in ``steps`` equal steps; ``f_c`` is
  recorded at fractions ``0, 1/steps, ..., 1`` and the area under that curve over [0, 1]
  (trapezoidal) is returned. Deletion: lower is better; insertion: higher is better.
  Default baselines as in RISE: deletion to **black** (0, which is air in both the
  windowed CT and the 8-bit training slices), insertion from a **blurred** copy
  (Gaussian, sigma :data:`BLUR_SIGMA` px at the model input). Default
  :data:`DEFAULT_STEPS` steps.
- **Pointing game** (Zhang et al., ECCV 2016): a hit when the map's maximum lies within
  :data:`POINTING_TOLERANCE` pixels (15, the original protocol) of the region.
  **Energy-based pointing game** (Wang et al., Score-CAM, 2020): the share of the map's
  sum that falls inside the region. Both work in the map's own pixel geometry, normally
  the original slice (``CamResult.heatmap``), with a box or a polygon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from lungview.errors import ExplainError

Predict = Callable[[np.ndarray], np.ndarray]

POINTING_TOLERANCE = 15
DEFAULT_STEPS = 20
BLUR_SIGMA = 10.0
BASELINES = ("black", "blur", "mean")


# ----------------------------------------------------------------- regions
@dataclass(frozen=True)
class Box:
    """An axis-aligned region in pixel indices, inclusive on both ends (Pascal VOC
    ``xmin..xmax`` / ``ymin..ymax`` convention): rows ``row0..row1``, cols ``col0..col1``."""

    row0: float
    col0: float
    row1: float
    col1: float

    @classmethod
    def from_voc(cls, xmin: float, ymin: float, xmax: float, ymax: float) -> "Box":
        return cls(row0=ymin, col0=xmin, row1=ymax, col1=xmax)



def region_mask(region, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of ``region`` over an image of ``shape`` (rows, cols).

    ``region`` is a :class:`Box`, a ``(row0, col0, row1, col1)`` tuple (inclusive), a
    polygon as an ``(N, 2)`` array of ``(row, col)`` vertices (N >= 3), or already a
    boolean mask of ``shape``.

    Raises
    ------
    ExplainError : a malformed region, or one that lies entirely outside the image.
    """
    rows, cols = shape
    if isinstance(region, np.ndarray) and region.dtype == bool:
        if region.shape != tuple(shape):
            raise ExplainError(f"region mask {region.shape} does not match the map {shape}")
        mask = region
    elif isinstance(region, Box) or (not isinstance(region, np.ndarray) and len(region) == 4
                                     and np.ndim(region[0]) == 0):
        box = region if isinstance(region, Box) else Box(*region)
        r0, r1 = sorted((box.row0, box.row1))
        c0, c1 = sorted((box.col0, box.col1))
        mask = np.zeros(shape, dtype=bool)
        r0i, r1i = max(0, int(np.ceil(r0))), min(rows - 1, int(np.floor(r1)))
        c0i, c1i = max(0, int(np.ceil(c0))), min(cols - 1, int(np.floor(c1)))
        if r0i <= r1i and c0i <= c1i:
            mask[r0i:r1i + 1, c0i:c1i + 1] = True
    else:
        poly = np.asarray(region, dtype=np.float64)
        if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
            raise ExplainError("a polygon region needs at least 3 (row, col) vertices")
        canvas = np.zeros(shape, dtype=np.uint8)
        pts = np.round(poly[:, ::-1]).astype(np.int32)  # OpenCV wants (x, y) = (col, row)
        cv2.fillPoly(canvas, [pts], 1)
        mask = canvas.astype(bool)
    if not mask.any():
        raise ExplainError("the region lies outside the map")
    return mask


def _check_map(heatmap: np.ndarray) -> np.ndarray:
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if heatmap.ndim != 2 or heatmap.size == 0:
        raise ExplainError(f"expected a 2-D map, got shape {heatmap.shape}")
    if not np.all(np.isfinite(heatmap)):
        raise ExplainError("the map contains NaN or infinite values")
    return heatmap


# ----------------------------------------------------------------- localisation
def pointing_game(heatmap: np.ndarray, region, tolerance: float = POINTING_TOLERANCE
                  ) -> bool:
    """True when the map's maximum lies within ``tolerance`` pixels (Euclidean) of
    ``region``. A flat map (all values equal, e.g. a flat CAM's zeros) has no maximum and
    is a miss."""
    heatmap = _check_map(heatmap)
    if float(heatmap.max() - heatmap.min()) == 0.0:
        return False
    mask = region_mask(region, heatmap.shape)
    r, c = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    if mask[r, c]:
        return True
    # distance from every pixel to the nearest region pixel
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return bool(dist[r, c] <= tolerance)


def energy_in_region(heatmap: np.ndarray, region) -> float:
    """Energy-based pointing game: ``sum(E inside region) / sum(E)`` in [0, 1]; 0.0 for
    an all-zero (flat) map. Negative values are clipped to 0 first."""
    heatmap = np.maximum(_check_map(heatmap), 0.0)
    total = float(heatmap.sum())
    if total == 0.0:
        return 0.0
    return float(heatmap[region_mask(region, heatmap.shape)].sum() / total)


# ----------------------------------------------------------------- faithfulness
def _prepare(x: np.ndarray, saliency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3:
        raise ExplainError(f"expected one (S, S, C) model input, got shape {x.shape}")
    sal = _check_map(saliency)
    if sal.shape != x.shape[:2]:
        raise ExplainError(f"map {sal.shape} and model input {x.shape[:2]} differ in size")
    return x, np.clip(sal, 0.0, 1.0)


def _target_prob(predict: Predict, batch: np.ndarray, target: int) -> np.ndarray:
    probs = np.asarray(predict(np.ascontiguousarray(batch, dtype=np.float32)),
                       dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != len(batch) or not 0 <= target < probs.shape[1]:
        raise ExplainError(f"predict returned shape {probs.shape} for {len(batch)} inputs "
                           f"and target {target}")
    return probs[:, target]


def confidence_change(predict: Predict, x: np.ndarray, saliency: np.ndarray, target: int
                      ) -> tuple[float, float]:
    """``(f_c(x), f_c(E * x))`` for one model input and its map over the input."""
    x, sal = _prepare(x, saliency)
    batch = np.stack([x, x * sal[..., None].astype(np.float32)])
    p = _target_prob(predict, batch, target)
    return float(p[0]), float(p[1])


def average_drop(original: Sequence[float], explained: Sequence[float]) -> float:
    """Average Drop in % (Grad-CAM++ definition, with the division by ``f_c(x)``)."""
    y = np.asarray(original, dtype=np.float64)
    o = np.asarray(explained, dtype=np.float64)
    if y.shape != o.shape or y.size == 0:
        raise ExplainError("average drop needs matching, non-empty score lists")
    safe = np.where(y > 0, y, 1.0)
    return float(100.0 * np.mean(np.where(y > 0, np.maximum(0.0, y - o) / safe, 0.0)))


def increase_in_confidence(original: Sequence[float], explained: Sequence[float]) -> float:
    """Increase in Confidence in %: share of images whose score rose when explained."""
    y = np.asarray(original, dtype=np.float64)
    o = np.asarray(explained, dtype=np.float64)
    if y.shape != o.shape or y.size == 0:
        raise ExplainError("increase in confidence needs matching, non-empty score lists")
    return float(100.0 * np.mean(o > y))


def baseline_image(x: np.ndarray, baseline: str = "black") -> np.ndarray:
    """The image pixels are removed to / restored from: ``black`` (zeros), ``blur``
    (Gaussian, sigma :data:`BLUR_SIGMA`) or ``mean`` (the image's mean grey)."""
    x = np.asarray(x, dtype=np.float32)
    if baseline == "black":
        return np.zeros_like(x)
    if baseline == "blur":
        return cv2.GaussianBlur(x, (0, 0), BLUR_SIGMA).reshape(x.shape)
    if baseline == "mean":
        return np.full_like(x, float(x.mean()))
    raise ExplainError(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)}")


@dataclass(frozen=True)
class Curve:
    """A deletion or insertion curve: ``fractions`` of pixels changed, ``scores``
    ``f_c`` at each, and ``auc`` (trapezoidal area over [0, 1])."""

    kind: str
    baseline: str
    fractions: np.ndarray
    scores: np.ndarray
    auc: float


def _curve(kind: str, predict: Predict, x: np.ndarray, saliency: np.ndarray, target: int,
           steps: int, baseline: str, batch_size: int) -> Curve:
    x, sal = _prepare(x, saliency)
    if steps < 1:
        raise ExplainError(f"steps must be at least 1, got {steps}")
    base = baseline_image(x, baseline)
    n = sal.size
    order = np.argsort(-sal.ravel(), kind="stable")      # most salient first
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    rank = rank.reshape(sal.shape)
    counts = np.round(np.linspace(0, n, steps + 1)).astype(np.int64)
    start, end = (x, base) if kind == "deletion" else (base, x)
    scores = np.empty(steps + 1, dtype=np.float64)
    for lo in range(0, steps + 1, batch_size):
        ks = counts[lo:lo + batch_size]
        changed = rank[None] < ks[:, None, None]              # (b, S, S)
        batch = np.where(changed[..., None], end[None], start[None])
        scores[lo:lo + len(ks)] = _target_prob(predict, batch, target)
    fractions = counts / n
    auc = float(np.sum((scores[1:] + scores[:-1]) * np.diff(fractions)) / 2.0)
    return Curve(kind, baseline, fractions, scores, auc)


def deletion_curve(predict: Predict, x: np.ndarray, saliency: np.ndarray, target: int,
                   steps: int = DEFAULT_STEPS, baseline: str = "black",
                   batch_size: int = 8) -> Curve:
    """Deletion (RISE): remove the most salient pixels first (set them to ``baseline``)."""
    return _curve("deletion", predict, x, saliency, target, steps, baseline, batch_size)


def insertion_curve(predict: Predict, x: np.ndarray, saliency: np.ndarray, target: int,
                    steps: int = DEFAULT_STEPS, baseline: str = "blur",
                    batch_size: int = 8) -> Curve:
    """Insertion (RISE): start from ``baseline`` and restore the most salient pixels
    first."""
    return _curve("insertion", predict, x, saliency, target, steps, baseline, batch_size)


def describe(steps: int = DEFAULT_STEPS) -> str:
    """One paragraph stating the definitions, for tables and exports."""
    return (f"f_c = softmax probability of the explained class. Average Drop / Increase in "
            f"Confidence: Grad-CAM++ paper (AD = mean max(0, f_c(x) - f_c(E*x)) / f_c(x), "
            f"%, lower better; IC = % of images with f_c(E*x) > f_c(x)). Deletion / "
            f"insertion AUC: RISE, pixels ranked by E, {steps} steps, deletion to "
            f"black (0 = air), insertion from a Gaussian blur (sigma {BLUR_SIGMA:g} px at "
            f"the model input); deletion lower better, insertion higher better. Pointing "
            f"game: map maximum within {POINTING_TOLERANCE} px of the box. Energy: share "
            f"of the map's sum inside the box.")
