"""The one model-input transform and its inverse (geometry must round-trip exactly)."""

from __future__ import annotations

import numpy as np
import pytest

from lungview.imaging.preprocess import (box_to_model, map_to_original, model_gray_from_hu,
                                         placement_for, to_gray, to_model_input)


@pytest.mark.parametrize("shape", [(512, 512), (512, 623), (404, 511), (331, 506), (7, 3)])
def test_input_shape_dtype_and_integer_levels(shape):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=shape).astype(np.uint8)
    x, place = to_model_input(gray, 64)
    assert x.shape == (64, 64, 3) and x.dtype == np.float32
    assert np.array_equal(x[..., 0], x[..., 2])
    assert np.array_equal(x, np.round(x)) and x.min() >= 0 and x.max() <= 255
    assert (place.rows, place.cols, place.side) == (shape[0], shape[1], max(shape))


def test_padding_is_centred_black_and_not_stretched():
    gray = np.full((100, 200), 200, np.uint8)  # wide: padded top and bottom
    x, place = to_model_input(gray, 200)
    assert place.top == 50 and place.left == 0
    assert x[:45, :, 0].max() == 0 and x[155:, :, 0].max() == 0
    assert np.all(x[55:145, :, 0] == 200)


def test_inverse_brings_a_marker_back_to_its_original_pixels():
    rows, cols = 300, 200
    gray = np.zeros((rows, cols), np.float32)
    gray[40:60, 150:170] = 255  # a bright square near the right edge of a tall image
    x, place = to_model_input(gray, 128)
    back = map_to_original(x[..., 0] / 255.0, place)
    assert back.shape == (rows, cols)
    peak = np.unravel_index(np.argmax(back), back.shape)
    assert 40 <= peak[0] < 60 and 150 <= peak[1] < 170
    assert back[gray > 0].mean() > 0.8 and back[:30, :100].max() < 0.05


def test_box_to_model_matches_the_padding():
    place = placement_for(300, 200, 150)  # side 300, left pad 50, scale 0.5
    assert box_to_model((0, 0, 300, 200), place) == (0.0, 25.0, 150.0, 125.0)


def test_rgb_and_hu_conversions():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 255
    assert np.allclose(to_gray(rgb), 0.587 * 255)
    hu = np.array([[-1000.0, 40.0, 540.0, 3000.0]])
    assert model_gray_from_hu(hu, (40.0, 1000.0)).tolist() == [[0.0, 127.5, 255.0, 255.0]]
