"""Maps land where the evidence is: a hand-weighted model whose evidence is the local
brightness, a synthetic slice with one bright square, non-square geometry.

The model has the tiny model's shape (three stride-2 'same' convolutions, ``top_conv``,
GAP, Dense softmax) with box-filter kernels, so every CAM-layer cell measures the
brightness around its receptive-field centre and class 0 ("normal") is "brightness":
Grad-CAM of class 0 is then the brightness seen through the network, and its peak must
fall on the square, in the original slice's pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

from lungview.explain.result import cell_centres


def _box_model(size=64):
    import keras

    from lungview.model.architecture import build_tiny_classifier

    model = build_tiny_classifier(size=size, seed=1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            k, b = layer.get_weights()
            k[:] = 1.0 / (k.shape[0] * k.shape[1] * k.shape[2])
            layer.set_weights([k, np.zeros_like(b)])
    dense = model.get_layer("predictions")
    k, b = dense.get_weights()
    k[:] = 0.0
    k[:, 0], k[:, 1] = 1.0, -1.0
    dense.set_weights([k, np.zeros_like(b)])
    return model


@pytest.fixture(scope="module")
def box_model():
    return _box_model()


def test_cell_centres_match_the_measured_receptive_fields(box_model):
    """The centroid of |d A[i, j] / d input| is where cell (i, j) looks: it must equal
    ``cell_centres(..., "auto")`` (TensorFlow's 'same' padding puts the extra row at
    the bottom, so the centres are 8j + 7, not the half-pixel 8j + 3.5)."""
    import keras
    import tensorflow as tf

    feat = keras.Model(box_model.inputs, box_model.get_layer("top_conv").output)
    x = tf.Variable(np.full((1, 64, 64, 3), 100.0, np.float32))
    centres = cell_centres(8, 64, "auto")
    for i, j in [(0, 0), (3, 5), (7, 7), (2, 6)]:
        with tf.GradientTape() as tape:
            out = feat(x)[0, i, j, 0]
        g = np.abs(tape.gradient(out, x).numpy()[0].sum(-1))
        rows, cols = np.mgrid[:64, :64]
        ci, cj = (g * rows).sum() / g.sum(), (g * cols).sum() / g.sum()
        # cells on the bottom/right border lose part of their field to padding
        if i < 7:
            assert ci == pytest.approx(centres[i], abs=1e-3)
        if j < 7:
            assert cj == pytest.approx(centres[j], abs=1e-3)


@pytest.mark.parametrize("shape, square", [
    ((100, 64), (40, 10, 12)),   # tall: padded left/right
    ((64, 120), (8, 90, 14)),    # wide: padded top/bottom
    ((64, 64), (30, 20, 10)),
])
def test_gradcam_peak_sits_on_the_bright_square(box_model, shape, square):
    from lungview.explain import CamEngine

    r0, c0, n = square
    gray = np.full(shape, 20.0, np.float32)
    gray[r0:r0 + n, c0:c0 + n] = 250.0
    engine = CamEngine(box_model)
    for method in ("gradcam", "gradcam++", "xgradcam", "layercam", "scorecam"):
        cam = engine.explain(gray, method, target="normal")[method]
        assert cam.heatmap.shape == shape and not cam.flat
        pr, pc = cam.peak
        assert r0 - 2 <= pr <= r0 + n + 1 and c0 - 2 <= pc <= c0 + n + 1, (method, cam.peak)
        # the map's mass centre (top values) sits on the square's centre
        hot = cam.heatmap >= 0.8
        rows, cols = np.nonzero(hot)
        centre = (r0 + (n - 1) / 2.0, c0 + (n - 1) / 2.0)
        scale = max(shape) / 64.0  # one model-input pixel in original pixels
        assert abs(rows.mean() - centre[0]) <= 2.5 * scale, method
        assert abs(cols.mean() - centre[1]) <= 2.5 * scale, method


def test_receptive_field_alignment_beats_the_half_pixel_grid(box_model):
    """Placing cells at 8j + 3.5 (the cv2/tf.image convention) shifts the map half a cell
    up-left of the evidence: measured error must be larger than with the default."""
    from lungview.explain import CamEngine

    gray = np.full((64, 64), 20.0, np.float32)
    gray[32:40, 40:48] = 250.0  # an 8-px square, centre (35.5, 43.5)

    def error(alignment):
        cam = CamEngine(box_model, alignment=alignment).explain(
            gray, "gradcam", target="normal")["gradcam"]
        w = cam.heatmap ** 4
        rows, cols = np.mgrid[:64, :64]
        return np.hypot((w * rows).sum() / w.sum() - 35.5, (w * cols).sum() / w.sum() - 43.5)

    auto, centers = error("auto"), error("centers")
    assert auto < 1.2          # measured 0.86 px
    assert centers > auto + 3.0  # measured 5.66 px
