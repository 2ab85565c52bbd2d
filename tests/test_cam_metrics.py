"""lungview.explain.metrics against hand-computed values and toy predictors."""

from __future__ import annotations

import numpy as np
import pytest

from lungview.errors import ExplainError
from lungview.explain import metrics as K


def brightness_model(region):
    """A 'classifier' whose class-0 probability is the mean brightness (0-255 -> 0-1) of
    ``region`` (a boolean mask) of the model input; class 1 gets the rest."""

    def predict(batch):
        batch = np.asarray(batch)
        p = batch[:, region, 0].mean(axis=1) / 255.0
        return np.stack([p, 1.0 - p], axis=1)

    return predict


# ----------------------------------------------------------------- regions
def test_region_mask_box_polygon_and_clipping():
    m = K.region_mask((1, 2, 3, 4), (6, 6))
    assert m.sum() == 9 and m[1, 2] and m[3, 4] and not m[4, 4]
    assert np.array_equal(K.region_mask(K.Box.from_voc(2, 1, 4, 3), (6, 6)), m)
    tri = K.region_mask(np.array([[0, 0], [0, 9], [9, 0]]), (10, 10))
    assert tri[0, 0] and tri[0, 9] and tri[9, 0] and not tri[9, 9]
    assert 50 <= tri.sum() <= 60  # half of 100 px plus the diagonal
    clipped = K.region_mask((-5, -5, 1, 1), (4, 4))
    assert clipped.sum() == 4
    with pytest.raises(ExplainError, match="outside"):
        K.region_mask((10, 10, 12, 12), (4, 4))
    with pytest.raises(ExplainError, match="3"):
        K.region_mask(np.array([[0, 0], [1, 1]]), (4, 4))


def test_pointing_game_with_tolerance():
    heat = np.zeros((100, 100))
    heat[50, 70] = 1.0
    box = (40, 40, 60, 60)  # peak is 10 px right of the box
    assert K.pointing_game(heat, box)                 # within 15 px
    assert not K.pointing_game(heat, box, tolerance=9)
    assert K.pointing_game(heat, box, tolerance=10)
    heat2 = np.zeros((100, 100))
    heat2[50, 80] = 1.0                               # 20 px away
    assert not K.pointing_game(heat2, box)
    heat3 = np.zeros((100, 100))
    heat3[45, 45] = 1.0
    assert K.pointing_game(heat3, box, tolerance=0)   # inside
    assert not K.pointing_game(np.zeros((100, 100)), box)  # flat map: no peak, a miss
    poly = np.array([[40, 40], [40, 60], [60, 60], [60, 40]])
    assert K.pointing_game(heat, poly) and not K.pointing_game(heat2, poly)


def test_energy_in_region():
    heat = np.zeros((10, 10))
    heat[0:2, 0:2] = 1.0    # 4 units inside
    heat[8, 8] = 4.0        # 4 units outside
    assert K.energy_in_region(heat, (0, 0, 1, 1)) == pytest.approx(0.5)
    assert K.energy_in_region(heat, (0, 0, 9, 9)) == pytest.approx(1.0)
    assert K.energy_in_region(np.zeros((10, 10)), (0, 0, 1, 1)) == 0.0
    with pytest.raises(ExplainError, match="NaN"):
        K.energy_in_region(np.full((3, 3), np.nan), (0, 0, 1, 1))


# ----------------------------------------------------------------- faithfulness
def test_average_drop_and_increase_definitions():
    y = [0.8, 0.5, 0.4]
    o = [0.4, 0.6, 0.4]
    # drops: 0.4/0.8 = 50 %, 0 (rise), 0 (same) -> mean 16.67 %
    assert K.average_drop(y, o) == pytest.approx(100 * 0.5 / 3)
    assert K.increase_in_confidence(y, o) == pytest.approx(100 / 3)
    with pytest.raises(ExplainError):
        K.average_drop([], [])


def test_confidence_change_multiplies_the_input_by_the_map():
    region = np.zeros((8, 8), bool)
    region[:4] = True
    predict = brightness_model(region)
    x = np.full((8, 8, 3), 200.0, np.float32)
    keep_top = np.zeros((8, 8))
    keep_top[:4] = 1.0
    p, pe = K.confidence_change(predict, x, keep_top, 0)
    assert p == pytest.approx(200 / 255) and pe == pytest.approx(p)
    p, pe = K.confidence_change(predict, x, 1.0 - keep_top, 0)
    assert pe == 0.0
    half = np.full((8, 8), 0.5)
    assert K.confidence_change(predict, x, half, 0)[1] == pytest.approx(100 / 255)


def test_deletion_and_insertion_rank_good_maps_above_bad_ones():
    region = np.zeros((16, 16), bool)
    region[4:8, 4:8] = True          # 16 px of 256 carry all the evidence
    predict = brightness_model(region)
    x = np.full((16, 16, 3), 255.0, np.float32)
    good = region.astype(float)
    bad = 1.0 - good
    d_good = K.deletion_curve(predict, x, good, 0, steps=16)
    d_bad = K.deletion_curve(predict, x, bad, 0, steps=16)
    assert d_good.scores[0] == pytest.approx(1.0) and d_good.scores[-1] == 0.0
    assert d_good.scores[1] == pytest.approx(0.0)  # the first 1/16 removes the region
    assert d_good.auc == pytest.approx(1 / 32)     # triangle over the first step
    assert d_bad.auc > 0.9
    i_good = K.insertion_curve(predict, x, good, 0, steps=16, baseline="black")
    i_bad = K.insertion_curve(predict, x, bad, 0, steps=16, baseline="black")
    assert i_good.auc == pytest.approx(1 - 1 / 32) and i_bad.auc < 0.1
    assert len(d_good.fractions) == 17 and d_good.fractions[-1] == 1.0
    # batching does not change the curve
    np.testing.assert_allclose(
        K.deletion_curve(predict, x, good, 0, steps=16, batch_size=3).scores, d_good.scores)


def test_baselines():
    x = np.zeros((32, 32, 3), np.float32)
    x[10:20, 10:20] = 255.0
    assert not K.baseline_image(x, "black").any()
    blur = K.baseline_image(x, "blur")
    assert blur.shape == x.shape and 0 < blur.max() < 255 and blur[0, 0, 0] > 0
    assert np.allclose(K.baseline_image(x, "mean"), x.mean())
    with pytest.raises(ExplainError, match="baseline"):
        K.baseline_image(x, "noise")


def test_input_checks():
    predict = brightness_model(np.ones((4, 4), bool))
    with pytest.raises(ExplainError, match="differ"):
        K.confidence_change(predict, np.zeros((4, 4, 3)), np.zeros((5, 5)), 0)
    with pytest.raises(ExplainError, match="target"):
        K.confidence_change(predict, np.zeros((4, 4, 3)), np.zeros((4, 4)), 5)
    with pytest.raises(ExplainError, match="steps"):
        K.deletion_curve(predict, np.zeros((4, 4, 3)), np.zeros((4, 4)), 0, steps=0)
    assert "Average Drop" in K.describe() and "20 steps" in K.describe()


def test_metrics_on_real_cams_of_the_tiny_model(tiny_model):
    """End to end with the engine: a map and its inverse are told apart."""
    from lungview.explain import CamEngine

    engine = CamEngine(tiny_model)
    rng = np.random.default_rng(1)
    gray = np.clip(rng.normal(128, 40, (64, 64)), 0, 255).astype(np.float32)
    cam = engine.explain(gray, "gradcam")["gradcam"]
    from lungview.imaging.preprocess import to_model_input

    x, _ = to_model_input(gray, 64)
    t = cam.target_index
    p, pe = K.confidence_change(engine.predict, x, cam.model_map, t)
    assert p == pytest.approx(cam.probability, abs=1e-5)
    d = K.deletion_curve(engine.predict, x, cam.model_map, t, steps=8)
    assert d.scores[0] == pytest.approx(cam.probability, abs=1e-5)
    assert 0.0 <= d.auc <= 1.0
