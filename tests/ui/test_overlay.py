"""Heatmap drawing rules on plain arrays (no Qt, no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from lungview.ui.overlay import OverlayStyle, blend, colormap_lut, legend_bar, scaled_map


def _ramp(h=32, w=48) -> np.ndarray:
    return np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))


def test_colormaps_are_rgb_not_bgr():
    viridis = colormap_lut("viridis")
    # matplotlib's viridis starts dark purple (68, 1, 84) and ends yellow (253, 231, 37)
    assert tuple(viridis[0]) == pytest.approx((68, 1, 84), abs=3)
    assert tuple(viridis[255]) == pytest.approx((253, 231, 37), abs=3)
    jet = colormap_lut("jet")
    assert jet[255][0] > 100 and jet[255][2] < 50  # hot end is red
    with pytest.raises(ValueError, match="unknown colour map"):
        colormap_lut("rainbow-ish")


def test_opacity_zero_keeps_the_slice_and_more_opacity_means_more_colour():
    gray = np.full((32, 48), 100, np.uint8)
    heat = _ramp()
    assert np.array_equal(blend(gray, heat, OverlayStyle(opacity=0.0))[..., 0], gray)
    low = blend(gray, heat, OverlayStyle(opacity=0.3)).astype(int)
    high = blend(gray, heat, OverlayStyle(opacity=0.9)).astype(int)
    base = np.repeat(gray[..., None], 3, axis=2).astype(int)
    assert np.abs(high - base).sum() > np.abs(low - base).sum() > 0
    # where the map is zero the slice stays grey (no wash of the colour map's low end)
    assert np.array_equal(high[:, 0], base[:, 0])


def test_threshold_hides_weak_values_and_contours_draw_lines_only():
    gray = np.full((32, 48), 100, np.uint8)
    heat = _ramp()
    out = blend(gray, heat, OverlayStyle(opacity=0.8, threshold=0.5))
    weak = heat < 0.5
    assert np.all(out[weak] == 100) and np.any(out[~weak] != 100)
    lines = blend(gray, heat, OverlayStyle(contour=True))
    changed = np.any(lines != 100, axis=2)
    assert 0 < changed.mean() < 0.5  # a few iso-lines, not a filled map


def test_absolute_scaling_dims_weaker_maps():
    heat = _ramp()
    assert np.array_equal(scaled_map(heat, "per-image", 0.2, 1.0), heat)
    weak = scaled_map(heat, "absolute", raw_max=0.25, reference=1.0)
    assert weak.max() == pytest.approx(0.25)
    assert scaled_map(heat, "absolute", raw_max=1.0, reference=1.0).max() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        scaled_map(heat, "log")


def test_blend_checks_shapes_and_legend_runs_low_to_high():
    with pytest.raises(ValueError, match="does not match"):
        blend(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.float32), OverlayStyle())
    bar = legend_bar("viridis", 100, 5)
    assert bar.shape == (5, 100, 3)
    assert tuple(bar[0, 0]) == tuple(colormap_lut("viridis")[0])
    assert tuple(bar[0, -1]) == tuple(colormap_lut("viridis")[255])
