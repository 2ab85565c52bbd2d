"""AI in the real window (tiny model injected): prediction, maps, controls, grid, export,
responsiveness while a slow method runs, and "AI unavailable" without a model."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QImage

from lungview.errors import ModelError
from lungview.model.card import BUNDLED_MODEL
from tests.ui.helpers import open_and_wait

pytest.importorskip("tensorflow")

AI_TIMEOUT_MS = 60_000


def tiny_factory():
    from lungview.model.architecture import LABELS, build_tiny_classifier
    from lungview.model.classifier import Classifier

    return Classifier.from_model(build_tiny_classifier(64), LABELS, name="tiny-test",
                                 version="t1")


class SlowEngine:
    """A real CamEngine whose Score-CAM also sleeps in 40 steps, reporting progress and
    honouring cancel, like the full Score-CAM of the bundled model (minutes on 2 cores)."""

    steps = 40

    def __init__(self, classifier):
        from lungview.explain import CamEngine

        self.engine = CamEngine.from_classifier(classifier)
        self.calls = 0

    def explain(self, gray, methods, target=None, *, progress=None, cancelled=None, **kw):
        from lungview.explain import ExplainCancelled

        if methods == "scorecam":
            self.calls += 1
            for step in range(self.steps):
                time.sleep(0.05)
                if cancelled is not None and cancelled():
                    raise ExplainCancelled("cancelled")
                if progress is not None:
                    progress(step + 1, self.steps)
        return self.engine.explain(gray, methods, target, progress=progress,
                                   cancelled=cancelled, **kw)


def _window(qtbot, **kwargs):
    from lungview.ui.main_window import MainWindow

    win = MainWindow(classifier_factory=kwargs.pop("classifier_factory", tiny_factory),
                     **kwargs)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def _shown(win) -> np.ndarray:
    image = win.view.image().convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    return np.frombuffer(image.constBits(), np.uint8, stride * h).reshape(h, stride)[
        :, :w * 3].reshape(h, w, 3).copy()


def _wait_analysis(qtbot, win, check=lambda a: True):
    with qtbot.waitSignal(win.ai.analysisReady, timeout=AI_TIMEOUT_MS,
                          check_params_cb=check):
        pass


@pytest.fixture
def ai_window(qtbot, demo_case):
    win = _window(qtbot)
    with qtbot.waitSignal(win.ai.analysisReady, timeout=AI_TIMEOUT_MS):
        open_and_wait(qtbot, win, demo_case)
    return win


def test_prediction_heatmap_and_opacity_redraw_without_a_job(qtbot, ai_window, demo_case):
    win = ai_window
    from lungview.model.inputs import model_gray

    assert win.ai.state == "ready" and "tiny-test t1" in win.ai_panel.status.text()
    # the bars show what the classifier says for this slice (computed here independently)
    expected = win.ai._classifier.classify(model_gray(win.series, win.slice_index))
    for label, p in expected.probabilities.items():
        assert win.ai_panel.bars[label].text() == f"{100 * p:.1f} %"
    assert f"malignant {100 * expected.probabilities['malignant']:.1f} %" in \
        win.ai_panel.summary.text()
    assert "model: tiny-test t1" in win.ai_panel.model_label.text()
    cam = win.current_cam()
    assert cam is not None and cam.method == "gradcam"
    plain = win.series.display(win.slice_index, window=win.current_window())
    with_map = _shown(win)
    assert np.abs(with_map.astype(int) - plain[..., None]).max() > 10  # colour is drawn
    assert "Grad-CAM" in win.view.overlay_text()

    jobs = win.ai.jobs_submitted
    request = win.ai.runner.latest_request
    win.ai_panel.opacity.setValue(90)
    stronger = _shown(win)
    assert not np.array_equal(stronger, with_map)
    win.ai_panel.opacity.setValue(0)
    assert np.array_equal(_shown(win)[..., 0], plain)
    for change in (lambda: win.ai_panel.threshold.setValue(60),
                   lambda: win.ai_panel.contour.setChecked(True),
                   lambda: win.ai_panel.colormap_combo.setCurrentIndex(2),
                   lambda: win.ai_panel.scaling_combo.setCurrentIndex(1)):
        change()
    assert win.ai.jobs_submitted == jobs and win.ai.runner.latest_request == request


def test_every_method_and_class_can_be_shown(qtbot, ai_window):
    from lungview.explain import METHOD_NAMES

    win = ai_window
    combo = win.ai_panel.method_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(METHOD_NAMES)
    assert len(METHOD_NAMES) == 7
    assert combo.currentIndex() == 0 and win.current_cam().method == METHOD_NAMES[0]
    for i, name in list(enumerate(METHOD_NAMES))[1:]:
        with qtbot.waitSignal(win.ai.analysisReady, timeout=AI_TIMEOUT_MS):
            combo.setCurrentIndex(i)
        assert win.current_cam().method == name
    with qtbot.waitSignal(win.ai.analysisReady, timeout=AI_TIMEOUT_MS):
        win.ai_panel.target_combo.setCurrentIndex(win.ai_panel.target_combo.findData("normal"))
    cam = win.current_cam()
    assert cam.target_label == "normal"
    expected = win.current_prediction().probabilities["normal"]
    assert cam.probability == pytest.approx(expected, abs=1e-4)
    win.ai_panel.show_heatmap.setChecked(False)
    assert win.current_cam() is None
    plain = win.series.display(win.slice_index, window=win.current_window())
    assert np.array_equal(_shown(win)[..., 1], plain)


def test_strip_jump_grid_and_export(qtbot, ai_window, tmp_path):
    win = ai_window
    count = len(win.series)
    qtbot.waitUntil(lambda: win.ai.sweep_complete(win.series_key(), count),
                    timeout=AI_TIMEOUT_MS)
    values = [v["malignant"] for v in win.ai.sweep_values(win.series_key(), count)]
    assert win.ai_panel.strip.values() == pytest.approx(values)
    win.ai_panel.jump_button.click()
    assert win.slice_index == int(np.argmax(values))

    with qtbot.waitSignal(win.ai.gridDone, timeout=AI_TIMEOUT_MS):
        win.show_grid()
    assert len(win._grid.shown_methods()) == 7

    _wait_until_map(qtbot, win)
    out = tmp_path / "view.png"
    assert win.export_view(out)
    image = QImage(str(out))
    assert image.width() >= 512 and image.height() > image.width()  # footer under the slice
    lines = "\n".join(win.export_lines())
    assert "Grad-CAM" in lines and "tiny-test version t1" in lines
    assert "Lung_Dx-A0002" in lines
    win.presentation_action.setChecked(True)
    lines = "\n".join(win.export_lines())
    assert "Lung_Dx-A0002" not in lines and "case 1" in lines
    assert not win.export_view(tmp_path / "missing-folder" / "x.png")
    assert any("could not write" in m for m in win.banners.messages())


def _wait_until_map(qtbot, win):
    if win.current_cam() is None:
        _wait_analysis(qtbot, win)


def test_gui_stays_responsive_while_a_slow_method_runs_and_cancel_stops_it(qtbot, demo_case):
    engines = []

    def slow_engine(classifier):
        engines.append(SlowEngine(classifier))
        return engines[-1]

    win = _window(qtbot, engine_factory=slow_engine)
    with qtbot.waitSignal(win.ai.analysisReady, timeout=AI_TIMEOUT_MS):
        open_and_wait(qtbot, win, demo_case)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    with qtbot.waitSignal(win.ai.analysisReady, timeout=AI_TIMEOUT_MS):
        win.ai_panel.method_combo.setCurrentIndex(win.ai_panel.method_combo.findData("scorecam"))
        assert win.ai_panel.cancel_button.isVisibleTo(win.ai_panel)
    timer.stop()
    assert win.current_cam().method == "scorecam"
    span = ticks[-1] - ticks[0]
    assert span > 1.5 and len(ticks) > 0.5 * span / 0.02  # the event loop kept running
    assert max(np.diff(ticks)) < 0.5

    # a new slow job, cancelled half-way: no result, the worker is free again
    win.ai_panel.target_combo.setCurrentIndex(win.ai_panel.target_combo.findData("malignant"))
    qtbot.waitUntil(lambda: win.ai_panel.progress.value() > 2, timeout=AI_TIMEOUT_MS)
    win.ai_panel.cancel_button.click()
    qtbot.waitUntil(lambda: not win.ai.runner.busy(), timeout=AI_TIMEOUT_MS)
    assert win.current_cam() is None
    assert "Cancelled" in win.ai_panel.map_label.text()
    assert engines[0].calls == 2

    # a slice change while the slow map runs: the old slice's map is dropped, not shown
    win.ai_panel.target_combo.setCurrentIndex(win.ai_panel.target_combo.findData("benign"))
    qtbot.waitUntil(lambda: win.ai_panel.progress.value() > 2, timeout=AI_TIMEOUT_MS)
    old = win.slice_index
    delivered = []
    win.ai.analysisReady.connect(lambda a: delivered.append(a.index))
    win.set_slice(old + 1)
    qtbot.waitUntil(lambda: win.current_cam() is not None, timeout=AI_TIMEOUT_MS)
    assert delivered == [old + 1] and engines[0].calls == 4


def test_missing_model_gives_a_banner_and_the_viewer_keeps_working(qtbot, demo_case):
    def missing():
        raise ModelError("/nowhere/model.keras: model file not found")

    win = _window(qtbot, classifier_factory=missing)
    qtbot.waitUntil(lambda: win.ai.state == "unavailable", timeout=AI_TIMEOUT_MS)
    assert any(m.startswith("AI unavailable:") and "model file not found" in m
               for m in win.banners.messages())
    open_and_wait(qtbot, win, demo_case)
    assert win.series is not None and win.current_cam() is None
    assert "AI unavailable" in win.ai_panel.status.text()
    assert not win.ai_panel.method_combo.isEnabled()


def test_default_factory_without_the_bundled_model_is_a_model_error():
    if BUNDLED_MODEL.is_file():
        pytest.skip("the bundled model is present")
    from lungview.ui.ai import default_classifier

    with pytest.raises(ModelError, match="not found"):
        default_classifier()


@pytest.mark.slow
def test_bundled_model_predicts_the_demo_case(qtbot, demo_case):
    if not BUNDLED_MODEL.is_file():
        pytest.skip("bundled model not published yet (resources/models)")
    win = _window(qtbot, classifier_factory=None)
    with qtbot.waitSignal(win.ai.analysisReady, timeout=300_000):
        open_and_wait(qtbot, win, demo_case)
    assert win.ai.state == "ready"
    probs = win.current_prediction().probabilities
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
    assert win.ai.identity["name"] and win.ai.identity["sha256"]
    assert win.current_cam() is not None and win.current_cam().heatmap.shape == (512, 512)


def test_reading_region_comment_survive_close_and_reopen(qtbot, demo_case):
    from PySide6.QtCore import Qt

    from tests.ui.helpers import drag, viewport_pos

    win = _window(qtbot)
    with qtbot.waitSignal(win.ai.analysisReady, timeout=AI_TIMEOUT_MS):
        open_and_wait(qtbot, win, demo_case)
    win.region_action.setChecked(True)
    qtbot.wait(50)  # the dock appears and the view re-fits
    assert win.review_panel is not None and win.review_dock.isVisible()
    drag(win.view.viewport(), viewport_pos(win.view, 150, 250),
         viewport_pos(win.view, 250, 330), Qt.MouseButton.LeftButton)
    regions = win.review_panel.regions()
    assert len(regions) == 1 and win.view.region_count() == 1, win.banners.messages()
    (r0, c0), (r1, c1) = regions[0].points
    assert abs(r0 - 250) < 3 and abs(c0 - 150) < 3 and abs(r1 - 330) < 3 and abs(c1 - 250) < 3
    # the map on screen gets its pointing game / energy row next to the ratings
    table = win.review_panel.metrics_table
    qtbot.waitUntil(lambda: table.rowCount() >= 1)
    assert table.item(0, 1).text() in ("hit", "miss") and table.item(0, 2).text().endswith("%")
    win.review_panel.comment_edit.setPlainText("focus on the right hilum")
    slice_index = win.slice_index
    win.close()  # flushes pending edits

    again = _window(qtbot)
    with qtbot.waitSignal(again.ai.analysisReady, timeout=AI_TIMEOUT_MS):
        open_and_wait(qtbot, again, demo_case)
    again.set_slice(slice_index)
    panel = again._ensure_review()
    again._update_review_context()
    assert panel.comment_edit.toPlainText() == "focus on the right hilum"
    assert len(panel.regions()) == 1 and again.view.region_count() == 1
