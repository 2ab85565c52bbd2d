"""``lungview --self-test``: prove that this installation (above all a frozen build) works.

A PyInstaller build fails in ways the source tree never shows: pydicom's pixel decoders
and pylibjpeg's plugins are found at run time (entry points, dynamic imports), Qt needs its
platform plugins, TensorFlow its shared libraries, and the bundled model and demo files
must sit where the code looks for them. So the self-test runs the app's real code paths
once, end to end, offscreen, and prints one line per step with its time:

1. load the model, sha256-checked against its card (:meth:`Classifier.load`);
2. decode one CT slice stored as JPEG 2000 and as RLE (``resources/selftest``), and check
   that both decode to exactly the pixels of the same, uncompressed demo slice;
3. predict that slice;
4. compute every registered CAM method once;
5. write one overlay PNG to a temporary folder and read it back;
6. open the main window offscreen, show the JPEG 2000 slice in it, close it.

A step that cannot run because an earlier one failed is reported as skipped. The exit
status is 0 only when every step passed. Output goes to the given stream (stdout by
default): this is the command's output, not logging.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np

from lungview import __version__
from lungview.model.card import RESOURCES

SELFTEST_DIR = RESOURCES / "selftest"
#: The same CT slice (TCIA Lung_Dx-A0002, series 3 B40f, instance 12) in three encodings.
JPEG2000_SLICE = SELFTEST_DIR / "A0002-1-12-jpeg2000-lossless.dcm"
RLE_SLICE = SELFTEST_DIR / "A0002-1-12-rle-lossless.dcm"
REFERENCE_SLICE = RESOURCES / "demo" / "lung-pet-ct-dx-A0002" / "series-3-B40f" / "1-12.dcm"

#: How long the window may take to show the slice before the step fails.
WINDOW_TIMEOUT_S = 60.0


class SelfTestFailure(Exception):
    """A check inside a step did not hold (the message says which)."""


@dataclass
class _State:
    """What the steps hand on to each other."""

    workdir: Path
    classifier: Any = None
    gray: np.ndarray | None = None
    cams: dict[str, Any] = field(default_factory=dict)


@dataclass
class Step:
    name: str
    run: Callable[[_State], str]
    needs: tuple[str, ...] = ()


def run_self_test(model_path: str | Path | None = None, out: TextIO | None = None) -> int:
    """Run every step; print one line each (status, seconds, name, detail).

    Parameters
    ----------
    model_path : model file to check instead of the bundled one (its card must sit beside
        it, as for :meth:`lungview.model.classifier.Classifier.load`).
    out : where the lines go (default ``sys.stdout``).

    Returns
    -------
    int : 0 when every step passed, 1 otherwise.
    """
    out = out or sys.stdout
    # Offscreen whatever the desktop: the self-test must run over SSH, in CI, in a build
    # check. Set before any QApplication exists (step 6 creates it if needed).
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    frozen = "frozen build" if getattr(sys, "frozen", False) else "python"
    _write(out, f"lungview {__version__} self-test ({frozen}, {sys.executable})")

    steps = [
        Step("load model", lambda s: _load_model(s, model_path)),
        Step("decode JPEG 2000 + RLE DICOM", _decode),
        Step("predict", _predict, needs=("load model", "decode JPEG 2000 + RLE DICOM")),
        Step("CAM methods", _cams, needs=("predict",)),
        Step("write overlay PNG", _overlay, needs=("CAM methods",)),
        Step("main window offscreen", _window),
    ]
    passed: set[str] = set()
    failed = 0
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lungview-selftest-") as tmp:
        state = _State(workdir=Path(tmp))
        for step in steps:
            missing = [n for n in step.needs if n not in passed]
            if missing:
                failed += 1
                _write(out, f"SKIP  {0.0:6.2f} s  {step.name}: needs {', '.join(missing)}")
                continue
            t0 = time.perf_counter()
            try:
                detail = step.run(state)
            except Exception as exc:  # noqa: BLE001 - report every failure, keep going
                failed += 1
                reason = " ".join(str(exc).split()) or type(exc).__name__
                _write(out, f"FAIL  {time.perf_counter() - t0:6.2f} s  {step.name}: "
                            f"{type(exc).__name__}: {reason}")
                continue
            passed.add(step.name)
            _write(out, f"ok    {time.perf_counter() - t0:6.2f} s  {step.name}: {detail}")
    total = time.perf_counter() - t_start
    if failed:
        _write(out, f"self-test FAILED: {failed} of {len(steps)} steps did not pass "
                    f"({total:.1f} s)")
        return 1
    _write(out, f"self-test passed: {len(steps)} steps in {total:.1f} s")
    return 0


def _write(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


# ---------------------------------------------------------------------------- steps
def _load_model(state: _State, model_path: str | Path | None) -> str:
    from lungview.model.classifier import Classifier

    clf = Classifier.load(model_path)
    state.classifier = clf
    return (f"{clf.name} v{clf.version}, sha256 {clf.sha256[:12]}… matches the card "
            f"({clf.path})")


#: Transfer syntaxes whose pylibjpeg plugin must be registered (found through package
#: metadata: a frozen build without it silently falls back or fails).
REQUIRED_PLUGINS = {"1.2.840.10008.1.2.4.90": "JPEG 2000 lossless (pylibjpeg-openjpeg)",
                    "1.2.840.10008.1.2.5": "RLE lossless (pylibjpeg-rle)",
                    "1.2.840.10008.1.2.4.70": "JPEG lossless (pylibjpeg-libjpeg)"}


def _decode(state: _State) -> str:
    from pylibjpeg.utils import get_pixel_data_decoders

    from lungview.io import load
    from lungview.model.inputs import model_gray

    plugins = get_pixel_data_decoders()
    missing = [name for uid, name in REQUIRED_PLUGINS.items() if uid not in plugins]
    if missing:
        raise SelfTestFailure(f"pylibjpeg finds no decoder for {', '.join(missing)} "
                              "(package metadata missing?)")
    decoded = {}
    for label, path in (("JPEG 2000", JPEG2000_SLICE), ("RLE", RLE_SLICE),
                        ("uncompressed", REFERENCE_SLICE)):
        result = load(path)
        if not result.series or len(result.series[0]) != 1:
            raise SelfTestFailure(f"{path.name}: expected one slice, got "
                                  f"{[len(s) for s in result.series]}")
        series = result.series[0]
        decoded[label] = (series, np.asarray(series.pixels(0)))
    ref_series, ref = decoded.pop("uncompressed")
    for label, (_, pixels) in decoded.items():
        if pixels.shape != ref.shape or not np.array_equal(pixels, ref):
            raise SelfTestFailure(f"the {label} slice does not decode to the pixels of the "
                                  "uncompressed original")
    if not ref_series.hu:
        raise SelfTestFailure("the CT slice was not mapped to Hounsfield units")
    state.gray = model_gray(decoded["JPEG 2000"][0], 0)
    return (f"{ref.shape[1]}x{ref.shape[0]}, both identical to the uncompressed slice, "
            f"HU {float(ref.min()):.0f}..{float(ref.max()):.0f}; "
            f"{len(plugins)} pylibjpeg decoders")


def _predict(state: _State) -> str:
    pred = state.classifier.classify(state.gray)
    probs = np.array(list(pred.probabilities.values()))
    if not np.all(np.isfinite(probs)) or abs(float(probs.sum()) - 1.0) > 1e-3:
        raise SelfTestFailure(f"probabilities are not a distribution: {pred.probabilities}")
    shown = ", ".join(f"{k} {v:.2f}" for k, v in pred.probabilities.items())
    return f"{pred.label} ({shown}; {pred.seconds:.2f} s compute)"


def _cams(state: _State) -> str:
    from lungview.explain import METHOD_NAMES, CamEngine

    engine = CamEngine.from_classifier(state.classifier)
    maps = engine.explain(state.gray, "all")
    missing = [m for m in METHOD_NAMES if m not in maps]
    if missing:
        raise SelfTestFailure(f"no map for {', '.join(missing)}")
    for name, cam in maps.items():
        heat = np.asarray(cam.heatmap)
        if heat.shape != state.gray.shape[:2] or not np.all(np.isfinite(heat)):
            raise SelfTestFailure(f"{name}: heatmap {heat.shape} is not a finite map over "
                                  f"the {state.gray.shape[:2]} slice")
    state.cams = maps
    return ", ".join(f"{name} {cam.seconds:.2f} s" for name, cam in maps.items())


def _overlay(state: _State) -> str:
    import cv2

    cam = state.cams.get("gradcam") or next(iter(state.cams.values()))
    gray = np.clip(np.rint(state.gray), 0, 255).astype(np.uint8)
    heat = np.clip(np.rint(np.asarray(cam.heatmap) * 255.0), 0, 255).astype(np.uint8)
    colour = cv2.applyColorMap(heat, cv2.COLORMAP_JET)
    blended = cv2.addWeighted(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), 0.6, colour, 0.4, 0)
    path = state.workdir / f"overlay-{cam.method}.png"
    if not cv2.imwrite(str(path), blended):
        raise SelfTestFailure(f"{path}: OpenCV could not write the PNG")
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if back is None or not np.array_equal(back, blended):
        raise SelfTestFailure(f"{path}: the PNG does not read back as written")
    return f"{cam.method} over the slice, {path.stat().st_size} bytes (temporary)"


def _window(state: _State) -> str:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from lungview.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "lungview"])
    platform = app.platformName()
    settings = QSettings(str(state.workdir / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    outcome: dict[str, object] = {}
    loop = QEventLoop()

    def finish(key: str, value: object) -> None:
        outcome.setdefault(key, value)
        loop.quit()

    window.imageShown.connect(lambda index: finish("shown", index))
    window.loadFailed.connect(lambda message: finish("failed", message))
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: finish("timeout", WINDOW_TIMEOUT_S))
    try:
        window.show()
        window.open_path(JPEG2000_SLICE)
        timer.start(int(WINDOW_TIMEOUT_S * 1000))
        if not outcome:
            loop.exec()
        timer.stop()
        visible = window.isVisible()
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()
    if "failed" in outcome:
        raise SelfTestFailure(f"the window could not show the slice: {outcome['failed']}")
    if "timeout" in outcome:
        raise SelfTestFailure(f"no slice on screen after {WINDOW_TIMEOUT_S:.0f} s")
    if not visible:
        raise SelfTestFailure("the window was never visible")
    return f"shown on Qt platform {platform!r} with the JPEG 2000 slice, then closed"
