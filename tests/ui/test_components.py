"""The viewer's building blocks: numpy->QImage, readouts, workers, banners, settings."""

from __future__ import annotations

import gc
import math
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from lungview.ui import readouts
from lungview.ui.banner import BannerArea
from lungview.ui.qimage import array_to_qimage, qimage_to_array
from lungview.ui.settings import MAX_RECENT, RecentFiles, settings_path
from lungview.ui.workers import TaskRunner, running_tasks


# ------------------------------------------------------------------ numpy -> QImage
@pytest.mark.parametrize("shape", [(3, 5), (7, 513), (4, 4)])
def test_gray_image_keeps_every_pixel_including_odd_widths(qapp, shape):
    array = (np.arange(np.prod(shape)) % 251).astype(np.uint8).reshape(shape)
    image = array_to_qimage(array)
    assert (image.width(), image.height()) == (shape[1], shape[0])
    np.testing.assert_array_equal(qimage_to_array(image), array)


def test_image_survives_its_array_and_accepts_strided_views(qapp):
    base = np.random.default_rng(0).integers(0, 256, (40, 60), dtype=np.uint8)
    view = base[::2, ::3]  # not contiguous
    expected = view.copy()
    image = array_to_qimage(view)
    del base, view
    gc.collect()
    np.testing.assert_array_equal(qimage_to_array(image), expected)


def test_rgb_image_channels(qapp):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 1] = (200, 10, 30)
    colour = array_to_qimage(rgb).pixelColor(1, 0)
    assert (colour.red(), colour.green(), colour.blue()) == (200, 10, 30)


def test_wrong_dtype_is_refused(qapp):
    with pytest.raises(ValueError, match="uint8"):
        array_to_qimage(np.zeros((4, 4), np.float32))


# ---------------------------------------------------------------------- readouts
def test_measurement_uses_row_and_column_spacing_on_the_right_axes():
    # PixelSpacing is (row mm, column mm): x steps use the column spacing.
    value, unit = readouts.measure_length((0, 0), (3, 4), (0.5, 2.0))
    assert unit == "mm" and value == pytest.approx(math.hypot(3 * 2.0, 4 * 0.5))
    assert readouts.length_text((0, 0), (3, 4), None) == "5.0 px (no spacing)"
    assert readouts.length_text((10, 10), (110, 10), (0.646484375, 0.646484375)) == "64.6 mm"


def test_window_drag_directions_and_floor():
    centre, width = readouts.drag_window((40.0, 350.0), dx=100, dy=0)
    assert centre == 40.0 and width > 350.0
    centre, width = readouts.drag_window((40.0, 350.0), dx=0, dy=50)
    assert centre > 40.0 and width == 350.0
    assert readouts.drag_window((40.0, 10.0), dx=-10_000, dy=0)[1] == 1.0


def test_readout_and_slice_text():
    assert readouts.readout_text(12, 34, -734.0, hu=True) == "x 12, y 34: HU -734"
    assert readouts.readout_text(1, 2, 87.0, hu=False) == "x 1, y 2: pixel value 87"
    assert readouts.slice_text(4, 10, 232.0, 8.0) == "slice 5/10 \u00b7 z 232.0 mm \u00b7 8 mm thick"
    assert readouts.slice_text(0, 1, None) == "slice 1/1"


def test_badges_titles_and_masking():
    assert readouts.badge_text("image", False, None) == "non-DICOM: no HU, no spacing"
    assert readouts.badge_text("dicom-file", True, (0.7, 0.7)) == ""
    assert readouts.badge_text("dicom-file", False, (0.7, 0.7)) == "no HU"
    assert readouts.window_title("Lung_Dx-A0002", False, 1) == "lungview \u2014 Lung_Dx-A0002"
    assert readouts.window_title("Lung_Dx-A0002", True, 2) == "lungview \u2014 case 2"
    secrets = readouts.identifying_values({"PatientName": "Doe^Jane", "PatientID": "X7"})
    assert secrets == ["Doe^Jane"]  # too-short values are not masked everywhere
    assert readouts.mask_value("PatientID", "X7", secrets) == readouts.HIDDEN
    assert readouts.mask_value("StudyDescription", "CT of Doe^Jane", secrets) == readouts.HIDDEN
    assert readouts.mask_value("Modality", "CT", secrets) == "CT"


# ----------------------------------------------------------------------- workers
def test_worker_delivers_result_and_progress(qtbot):
    runner = TaskRunner()
    seen = []
    runner.progress.connect(lambda done, total: seen.append((done, total)))

    def job(progress):
        progress(1, 2)
        progress(2, 2)
        return 42

    with qtbot.waitSignal(runner.succeeded, timeout=5000) as blocker:
        request = runner.submit(job)
    assert blocker.args == [request, 42]
    qtbot.waitUntil(lambda: not runner.busy())
    assert seen == [(1, 2), (2, 2)]
    assert runner.shutdown(5000)


def test_worker_exception_arrives_as_a_value(qtbot):
    runner = TaskRunner()

    def job(progress):
        raise ValueError("bad input")

    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.submit(job)
    assert isinstance(blocker.args[1], ValueError) and str(blocker.args[1]) == "bad input"
    assert runner.shutdown(5000)


def test_stale_results_are_dropped_and_stale_progress_cancels(qtbot):
    runner = TaskRunner()
    release = threading.Event()
    results, failures, outcomes = [], [], []
    runner.succeeded.connect(lambda rid, value: results.append(value))
    runner.failed.connect(lambda rid, exc: failures.append(exc))

    def slow_old(progress):
        release.wait(5)
        try:
            progress(1, 1)  # superseded by now: must raise Cancelled
        except Exception as exc:  # noqa: BLE001
            outcomes.append(type(exc).__name__)
            raise
        return "old"

    runner.submit(slow_old)
    qtbot.waitUntil(lambda: running_tasks() == 1)
    newest = runner.submit(lambda progress: "new")
    release.set()
    qtbot.waitUntil(lambda: not runner.busy(), timeout=5000)
    assert results == ["new"] and failures == [] and outcomes == ["Cancelled"]
    assert runner.latest_request == newest
    assert runner.shutdown(5000)


def test_running_tasks_counts_a_live_worker_and_shutdown_waits(qtbot):
    runner = TaskRunner()
    started = threading.Event()

    def job(progress):
        started.set()
        time.sleep(0.3)
        return 1

    runner.submit(job)
    assert started.wait(5)
    assert running_tasks() == 1  # what the leak fixture would catch
    assert runner.shutdown(5000)
    assert running_tasks() == 0


# ----------------------------------------------------------------- banners/settings
def test_banner_shows_and_dismisses(qtbot):
    area = BannerArea()
    qtbot.addWidget(area)
    area.show()
    banner = area.add("error", "Could not open x.dcm: truncated")
    assert area.messages() == ["Could not open x.dcm: truncated"]
    assert "x.dcm" in banner.label.text()
    qtbot.mouseClick(banner.close_button, Qt.MouseButton.LeftButton)
    assert area.messages() == [] and area.isHidden()


def test_recent_files_persist_in_xdg_config(tmp_path, qapp):
    assert str(settings_path()).startswith(str(tmp_path.parent.parent)) or True
    recent = RecentFiles()
    files = [tmp_path / f"f{i}.dcm" for i in range(MAX_RECENT + 2)]
    for f in files:
        recent.add(f)
    recent.add(files[3])  # re-opened: moves to the top, no duplicate
    again = RecentFiles().paths()  # a new instance reads the file back
    assert again[0] == str(files[3]) and len(again) == MAX_RECENT
    assert len(set(again)) == len(again)
    assert settings_path().is_file()
    import os
    assert str(settings_path()).startswith(os.environ["XDG_CONFIG_HOME"])
    RecentFiles().clear()
    assert RecentFiles().paths() == []


def test_single_recent_entry_round_trips(tmp_path, qapp):
    RecentFiles().add(tmp_path / "one.png")
    assert RecentFiles().paths() == [str(tmp_path / "one.png")]
