"""Burned-in overlays for exported maps: what a PNG leaving lungview must carry.

A map written to disk is looked at without the viewer around it, so the image itself
states the method, the explained class and its probability (per-image min-max makes a
51 % map as red as a 99 % one), a colour bar, and that this is research software.
Arrays are RGB inside the program; :func:`write_png` converts to OpenCV's BGR.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lungview.errors import ExplainError

RESEARCH_NOTICE = "RESEARCH USE ONLY - not for diagnosis"
ALPHA = 0.45
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def colormap_rgb(heatmap: np.ndarray) -> np.ndarray:
    """Jet colours (uint8 RGB) for a [0, 1] map."""
    idx = np.clip(np.round(np.asarray(heatmap, dtype=np.float32) * 255.0), 0, 255)
    bgr = cv2.applyColorMap(idx.astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float) -> None:
    thick = max(1, int(round(scale * 2)))
    cv2.putText(img, text, org, _FONT, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, _FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)


def render_overlay(gray: np.ndarray, heatmap: np.ndarray, *, method: str, label: str,
                   probability: float, flat: bool = False, alpha: float = ALPHA
                   ) -> np.ndarray:
    """The slice with its map blended in, a colour bar on the right and a caption band.

    Parameters
    ----------
    gray : the slice, 0-255, in original geometry.
    heatmap : float [0, 1] of the same shape (``CamResult.heatmap``).
    flat : draw no colours and say "flat map (no evidence)" instead.

    Returns
    -------
    uint8 RGB image: the slice (at least 256 px high, scaled up if smaller) plus a
    colour-bar column and a caption band below.
    """
    gray = np.asarray(gray, dtype=np.float32)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if gray.ndim != 2 or gray.shape != heatmap.shape:
        raise ExplainError(f"slice {gray.shape} and map {heatmap.shape} differ in shape")
    base = np.repeat(np.clip(gray, 0, 255)[..., None], 3, axis=2)
    if flat:
        blend = base
    else:
        blend = (1.0 - alpha) * base + alpha * colormap_rgb(heatmap).astype(np.float32)
    img = np.clip(np.round(blend), 0, 255).astype(np.uint8)
    rows, cols = img.shape[:2]
    scale = max(1.0, 256.0 / rows)
    if scale > 1.0:
        img = cv2.resize(img, (int(round(cols * scale)), int(round(rows * scale))),
                         interpolation=cv2.INTER_NEAREST)
    rows, cols = img.shape[:2]
    font = max(0.4, min(1.0, rows / 700.0))
    # colour bar: high at the top
    bar_w, pad = max(14, rows // 30), 6
    ramp = np.linspace(1.0, 0.0, rows)[:, None].repeat(bar_w, axis=1)
    bar = colormap_rgb(ramp) if not flat else np.full((rows, bar_w, 3), 60, np.uint8)
    label_w = int(60 * font) + 10
    column = np.zeros((rows, pad + bar_w + label_w, 3), np.uint8)
    column[:, pad:pad + bar_w] = bar
    _text(column, "1.0", (pad + bar_w + 3, int(18 * font) + 4), font * 0.8)
    _text(column, "0.0", (pad + bar_w + 3, rows - 6), font * 0.8)
    panel = np.concatenate([img, column], axis=1)
    line_h = int(30 * font) + 8
    band = np.zeros((2 * line_h + 8, panel.shape[1], 3), np.uint8)
    state = "flat map (no evidence)" if flat else f"p={probability:.3f}"
    _text(band, f"{method} | class {label} | {state}", (6, line_h - 6), font)
    _text(band, RESEARCH_NOTICE, (6, 2 * line_h - 2), font * 0.85)
    return np.concatenate([panel, band], axis=0)


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG (raises ExplainError when it cannot)."""
    path = Path(path)
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ExplainError(f"{path}: could not encode the overlay")
    try:
        path.write_bytes(data.tobytes())
    except OSError as exc:
        raise ExplainError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path
