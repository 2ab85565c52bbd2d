"""The CAM engine on the tiny model: registry, geometry, flat maps, pre-softmax scores,
shared passes, cache, Score-CAM batches with progress and cancel."""

from __future__ import annotations

import numpy as np
import pytest

from lungview.errors import ExplainError
from lungview.explain import METHOD_NAMES, REGISTRY
from lungview.explain import methods as M
from lungview.explain.result import ExplainCancelled, cell_centres, finalize, is_flat
from lungview.imaging.preprocess import placement_for, to_model_input
from lungview.model.card import BUNDLED_MODEL

EXPECTED = ("gradcam", "gradcam++", "xgradcam", "layercam", "scorecam", "scorecam-fast",
            "smoothgrad-cam++")


@pytest.fixture(scope="module")
def engine(tiny_model):
    from lungview.explain import CamEngine

    return CamEngine(tiny_model)


def _slice(rows=90, cols=60, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:rows, :cols]
    img = 120 + 80 * np.sin(yy / 9.0) * np.cos(xx / 7.0) + rng.normal(0, 10, (rows, cols))
    return np.clip(img, 0, 255).astype(np.float32)


def test_registry_has_the_seven_methods():
    assert METHOD_NAMES == EXPECTED
    assert {REGISTRY[n].kind for n in EXPECTED} == {"gradient", "score", "smooth"}


def test_parse_methods():
    from lungview.explain import parse_methods

    assert parse_methods("all") == list(EXPECTED)
    assert parse_methods(["GradCAM", "gradcam", "layercam"]) == ["gradcam", "layercam"]
    with pytest.raises(ExplainError, match="unknown CAM method"):
        parse_methods("gradcam+++")


@pytest.mark.parametrize("shape", [(90, 60), (60, 90), (64, 64), (37, 101)])
def test_all_methods_return_maps_in_original_geometry(engine, shape):
    gray = _slice(*shape)
    res = engine.explain(gray, "all")
    assert list(res) == list(EXPECTED)
    targets = {r.target_index for r in res.values()}
    assert len(targets) == 1  # one predicted class for all methods
    for name, r in res.items():
        assert r.method == name
        assert r.heatmap.shape == shape and r.heatmap.dtype == np.float32
        assert r.model_map.shape == (64, 64)
        assert not r.flat, name
        assert 0.0 <= r.heatmap.min() and r.heatmap.max() <= 1.0
        # normalised over the model input: its peak is 1 (it may lie in the padding
        # bands of a non-square slice, which are cropped from the heatmap)
        assert r.model_map.max() == pytest.approx(1.0)
        if shape[0] == shape[1]:
            assert r.heatmap.max() > 0.95
        assert r.heatmap[r.peak] == r.heatmap.max()
        assert not r.heatmap.flags.writeable
        assert r.seconds > 0
        assert r.predicted_label == r.target_label  # default target = predicted class
        assert abs(sum(r.probabilities) - 1.0) < 1e-5


def test_padding_is_cropped_away(engine):
    """A wide slice sits between black bands in the model input; the map returned is the
    slice's own part of the model map, nothing of the bands."""
    gray = _slice(40, 100)
    r = engine.explain(gray, "gradcam")["gradcam"]
    place = r.placement
    assert (place.top, place.left, place.side) == (30, 0, 100)
    import cv2

    square = cv2.resize(r.model_map, (100, 100), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(r.heatmap, np.clip(square[30:70, :], 0, 1), atol=1e-6)


def test_target_by_name_index_and_errors(engine):
    gray = _slice()
    by_name = engine.explain(gray, "gradcam", target="malignant")["gradcam"]
    by_index = engine.explain(gray, "gradcam", target=2)["gradcam"]
    assert by_name.target_label == "malignant" and by_index.target_index == 2
    np.testing.assert_array_equal(by_name.heatmap, by_index.heatmap)
    other = engine.explain(gray, "gradcam", target="normal")["gradcam"]
    assert not np.array_equal(other.model_map, by_name.model_map)
    with pytest.raises(ExplainError, match="unknown class"):
        engine.explain(gray, "gradcam", target="cancer")
    with pytest.raises(ExplainError, match="out of range"):
        engine.explain(gray, "gradcam", target=3)


def test_gradients_are_of_the_logit_not_the_softmax(engine, tiny_model):
    """For the logit S, dS/dA is the Dense kernel column / (h*w) wherever the ReLU after
    ``top_conv`` passes (A > 0) and 0 elsewhere; a softmax score would mix in the other
    classes' columns and scale by p(1 - p)."""
    import tensorflow as tf

    x, _ = to_model_input(_slice(), engine.input_size)
    acts, grads, logits = engine._grads(tf.constant(x[None]), tf.constant(1, tf.int32))
    kernel = tiny_model.get_layer("predictions").kernel.numpy()[:, 1]
    h, w = acts.shape[1:3]
    expected = (acts.numpy()[0] > 0) * (kernel / (h * w))
    np.testing.assert_allclose(grads.numpy()[0], expected, rtol=1e-5, atol=1e-9)
    probs = engine.predict(x)
    np.testing.assert_allclose(probs, tf.nn.softmax(logits).numpy(), rtol=1e-5)
    np.testing.assert_allclose(probs, tiny_model.predict(x[None], verbose=0), rtol=1e-4)


def test_cache_returns_the_same_object_and_keys_on_target(engine):
    gray = _slice(seed=3)
    first = engine.explain(gray, ["gradcam", "layercam"], key="case-1", slice_index=4)
    again = engine.explain(gray, ["layercam", "gradcam"], key="case-1", slice_index=4)
    assert again["gradcam"] is first["gradcam"] and again["layercam"] is first["layercam"]
    other_slice = engine.explain(gray, "gradcam", key="case-1", slice_index=5)
    assert other_slice["gradcam"] is not first["gradcam"]
    other_target = engine.explain(gray, "gradcam", key="case-1", slice_index=4,
                                  target=(first["gradcam"].target_index + 1) % 3)
    assert other_target["gradcam"] is not first["gradcam"]
    uncached = engine.explain(gray, "gradcam")  # key=None: never cached
    assert uncached["gradcam"] is not first["gradcam"]
    np.testing.assert_array_equal(uncached["gradcam"].heatmap, first["gradcam"].heatmap)


def test_gradient_methods_match_the_numpy_maths(engine):
    """Requested together they share one pass; each equals its formula on A and dS/dA."""
    import tensorflow as tf

    gray = _slice(64, 64, seed=5)
    x, place = to_model_input(gray, 64)
    res = engine.explain(gray, ["gradcam", "gradcam++", "xgradcam", "layercam"])
    t = res["gradcam"].target_index
    a, g, _ = engine._grads(tf.constant(x[None]), tf.constant(t, tf.int32))
    for name, fn in M.GRADIENT_MAPS.items():
        expected = finalize(fn(a.numpy()[0], g.numpy()[0]), place)
        np.testing.assert_allclose(res[name].model_map, expected["model_map"], atol=1e-5)


def test_method_formulas_on_hand_made_arrays():
    A = np.zeros((2, 2, 2))
    A[0, 0, 0], A[1, 1, 1] = 2.0, 1.0
    G = np.ones((2, 2, 2))
    G[..., 1] = -1.0
    np.testing.assert_allclose(M.gradcam(A, G), [[2.0, 0.0], [0.0, -1.0]])
    np.testing.assert_allclose(M.layercam(A, G), [[2.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(M.xgradcam(A, G), [[2.0, 0.0], [0.0, -1.0]])
    # Grad-CAM++: negative gradients get no weight; channel 0 weight = sum relu(G)*alpha
    pp = M.gradcam_plus_plus(A, G)
    assert pp[1, 1] == 0.0 and pp[0, 0] > 0.0
    assert list(M.top_channels(A, 1)) == [0]  # channel 0 has the larger spread


def test_flat_maps_are_flagged_not_stretched():
    place = placement_for(30, 50, 64)
    for raw in (np.zeros((8, 8)), np.full((8, 8), 3.0), -np.ones((8, 8)),
                np.full((8, 8), np.nan), 1.0 + 1e-9 * np.random.default_rng(0).random((8, 8))):
        out = finalize(raw, place)
        assert out["flat"] and out["peak"] is None
        assert out["heatmap"].shape == (30, 50) and not out["heatmap"].any()
    assert is_flat(np.zeros((3, 3))) and not is_flat(np.eye(3))


def test_flat_map_from_a_blank_image(engine):
    """A black slice gives no spatial evidence: reported flat, no peak, zeros."""
    res = engine.explain(np.zeros((50, 70), np.float32), ["gradcam", "layercam", "scorecam"])
    for r in res.values():
        assert r.flat and r.peak is None and not r.heatmap.any()
        assert r.heatmap.shape == (50, 70)


def test_scorecam_batches_report_progress_and_cancel(tiny_model):
    from lungview.explain import CamEngine

    engine = CamEngine(tiny_model, score_batch=5)
    gray = _slice()
    calls = []
    full = engine.explain(gray, "scorecam", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (32, 32) and len(calls) == 7  # 32 channels in batches of 5
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    # Same map whatever the batch size (batches only bound memory).
    big = CamEngine(tiny_model, score_batch=64).explain(gray, "scorecam")["scorecam"]
    np.testing.assert_allclose(big.model_map, full["scorecam"].model_map, atol=1e-5)

    seen = []

    def stop_after_two(done, total):
        seen.append(done)

    with pytest.raises(ExplainCancelled):
        engine.explain(gray, "scorecam", key="c", progress=stop_after_two,
                       cancelled=lambda: len(seen) >= 2)
    assert len(seen) == 2
    # nothing partial was cached; the engine still works afterwards
    assert not any(k[0] == "c" and k[2] == "scorecam" for k in engine._cache)
    assert not engine.explain(gray, "scorecam", key="c")["scorecam"].flat


def test_engine_cancel_method_stops_the_next_batch(tiny_model):
    from lungview.explain import CamEngine

    engine = CamEngine(tiny_model, score_batch=4)
    with pytest.raises(ExplainCancelled):
        engine.explain(_slice(), "scorecam", progress=lambda d, t: engine.cancel())


def test_faster_scorecam_uses_top_n_channels(tiny_model):
    from lungview.explain import CamEngine

    calls = []
    engine = CamEngine(tiny_model, top_n=3, score_batch=2)
    engine.explain(_slice(), "scorecam-fast", progress=lambda d, t: calls.append(t))
    assert set(calls) == {3}
    assert CamEngine(tiny_model).top_n == 10
    with pytest.raises(ExplainError):
        CamEngine(tiny_model, top_n=0)


def test_smoothgrad_is_seeded_and_differs_from_gradcampp(engine):
    gray = _slice(seed=7)
    a = engine.explain(gray, ["smoothgrad-cam++", "gradcam++"])
    b = engine.explain(gray, "smoothgrad-cam++")["smoothgrad-cam++"]
    np.testing.assert_array_equal(a["smoothgrad-cam++"].heatmap, b.heatmap)
    assert not np.allclose(a["smoothgrad-cam++"].model_map, a["gradcam++"].model_map)


def test_engine_rejects_bad_models_and_inputs(tiny_model):
    import keras

    from lungview.explain import CamEngine

    with pytest.raises(ExplainError, match="no layer named"):
        CamEngine(tiny_model, cam_layer="nope")
    with pytest.raises(ExplainError, match="outputs but"):
        CamEngine(tiny_model, labels=("a", "b"))
    inp = keras.Input((8, 8, 3))
    headless = keras.Model(inp, keras.layers.Conv2D(2, 3, name="top_conv")(inp))
    with pytest.raises(ExplainError, match="Dense"):
        CamEngine(headless)
    engine = CamEngine(tiny_model)
    with pytest.raises(ExplainError):
        engine.explain(np.zeros((0, 5)), "gradcam")
    with pytest.raises(ExplainError):
        engine.explain_input(np.zeros((32, 32, 3)), None, "gradcam")


def test_from_classifier_uses_the_card(tiny_model):
    from lungview.explain import CamEngine
    from lungview.model.classifier import Classifier

    clf = Classifier.from_model(tiny_model, ("normal", "benign", "malignant"))
    engine = CamEngine.from_classifier(clf)
    assert engine.cam_layer == "top_conv" and engine.input_size == 64
    res = engine.explain(_slice(), "gradcam")["gradcam"]
    pred = clf.classify(_slice())
    assert res.target_label == pred.label
    assert res.probability == pytest.approx(pred.probabilities[pred.label], abs=1e-5)


def test_cell_centres_conventions():
    np.testing.assert_allclose(cell_centres(8, 64, "auto"), 8 * np.arange(8) + 7)
    np.testing.assert_allclose(cell_centres(16, 512, "auto"), 32 * np.arange(16) + 31)
    np.testing.assert_allclose(cell_centres(8, 64, "corners"), 9 * np.arange(8))
    np.testing.assert_allclose(cell_centres(8, 64, "centers"), 8 * np.arange(8) + 3.5)
    np.testing.assert_allclose(cell_centres(7, 64, "auto"), cell_centres(7, 64, "centers"))
    with pytest.raises(ExplainError):
        cell_centres(7, 64, "tf-same")


@pytest.mark.slow
@pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="bundled model not published yet")
def test_bundled_model_all_methods_on_a_real_slice(shared_data):
    """The bundled EfficientNetB0: every method gives a non-flat map in the slice's own
    geometry; full Score-CAM runs in batches with progress to the last channel."""
    from lungview.explain import CamEngine
    from lungview.io import load
    from lungview.model.classifier import Classifier
    from lungview.model.inputs import model_gray

    clf = Classifier.load()
    engine = CamEngine.from_classifier(clf)
    series = load(shared_data / "dicom" / "lung-pet-ct-dx-A0002" / "series-3-B40f").series[0]
    gray = model_gray(series, 12)
    calls = []
    res = engine.explain(gray, "all", target="malignant",
                         progress=lambda d, t: calls.append((d, t)))
    assert (1280, 1280) in calls and (10, 10) in calls  # full, then top-10
    for name, r in res.items():
        assert r.heatmap.shape == gray.shape and not r.flat, name
        assert r.target_label == "malignant"
