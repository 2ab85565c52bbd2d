"""The viewer's AI: one TensorFlow worker thread for the model, predictions and CAMs.

Why a controller of its own: TensorFlow must never run on the GUI thread (a Score-CAM at
512 px takes minutes on 2 cores) and must not even be imported before the window is on
screen. Everything here is queued on ONE worker (a :class:`SerialRunner`: one Python thread):

- the model loads lazily inside the first job (``start()`` submits that job after the
  window appears); ``stateChanged`` says ``loading`` -> ``ready`` or ``unavailable``;
- the latest request wins: asking for another slice, method or class supersedes the job in
  flight, which stops at its next batch (Score-CAM, SmoothGrad) and whose result is dropped;
  queued stale jobs never start;
- the per-slice sweep (prediction of every slice, for the strip) runs only when nothing
  else is asked for, and resumes where it stopped.

Results reach the GUI as values through queued signals, tagged with the request id, so a
late result of an old request can never overwrite the current one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot

from lungview.errors import LungviewError, ModelError
from lungview.ui.workers import SerialRunner

#: Methods slow enough to show progress and a Cancel button.
SLOW_METHODS = ("scorecam", "smoothgrad-cam++")
#: Order in which the grid computes maps: the fast ones first, all at once.
FAST_FIRST = ("gradcam", "gradcam++", "xgradcam", "layercam", "scorecam-fast",
              "smoothgrad-cam++", "scorecam")

IDLE, LOADING, READY, UNAVAILABLE = "idle", "loading", "ready", "unavailable"

ClassifierFactory = Callable[[], Any]
EngineFactory = Callable[[Any], Any]


def default_classifier() -> Any:
    """The bundled, hash-checked classifier (ModelError when absent or tampered with)."""
    from lungview.model.classifier import Classifier

    return Classifier.load()


def default_engine(classifier: Any) -> Any:
    from lungview.explain import CamEngine

    return CamEngine.from_classifier(classifier)


@dataclass
class SliceAnalysis:
    """What one analyse job produced for one slice."""

    key: str
    index: int
    prediction: Any                      # lungview.model.classifier.Prediction
    cams: dict[str, Any] = field(default_factory=dict)  # method -> CamResult
    target: str | None = None


@dataclass
class GridPartial:
    """Maps of the all-methods grid as they arrive."""

    key: str
    index: int
    cams: dict[str, Any]


class AiController(QObject):
    """Owns the classifier, the CAM engine and the one worker that uses them.

    Signals
    -------
    stateChanged(str, str): state (idle/loading/ready/unavailable) and a message.
    predictionReady(object): a SliceAnalysis without maps (sent before slow maps finish).
    analysisReady(object): a SliceAnalysis with the requested map.
    gridPartial(object): a GridPartial (grid view); gridDone(): the grid is complete.
    sweepUpdated(str, int, object): case key, slice, probabilities (dict label -> p).
    progress(int, int): done/total of the job in flight. busyChanged(bool).
    failed(str): a job failed (message for the banner).
    """

    stateChanged = Signal(str, str)
    predictionReady = Signal(object)
    analysisReady = Signal(object)
    gridPartial = Signal(object)
    gridDone = Signal()
    sweepUpdated = Signal(str, int, object)
    progress = Signal(int, int)
    busyChanged = Signal(bool)
    failed = Signal(str)
    # emitted from the worker, delivered queued to the slots below (GUI thread)
    _workerPrediction = Signal(int, object)
    _workerGrid = Signal(int, object)
    _workerState = Signal(str, str)
    _workerSweep = Signal(str, int, object)

    def __init__(self, classifier_factory: ClassifierFactory | None = None,
                 engine_factory: EngineFactory | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._classifier_factory = classifier_factory or default_classifier
        self._engine_factory = engine_factory or default_engine
        self.runner = SerialRunner(self, name="lungview-tensorflow")
        self.runner.succeeded.connect(self._on_succeeded)
        self.runner.failed.connect(self._on_failed)
        self.runner.progress.connect(self.progress)
        self.runner.busy_changed.connect(self.busyChanged)
        self._workerPrediction.connect(self._on_worker_prediction)
        self._workerGrid.connect(self._on_worker_grid)
        self._workerState.connect(self._on_worker_state)
        self._workerSweep.connect(self.sweepUpdated)
        self._model_lock = threading.Lock()
        self._classifier: Any = None
        self._engine: Any = None
        self._model_error: ModelError | None = None
        self.state = IDLE
        self.message = ""
        self.identity: dict[str, str] = {}
        self.labels: tuple[str, ...] = ()
        self._sweep_lock = threading.Lock()
        self._sweep: dict[tuple[str, int], dict[str, float]] = {}
        self._kind: dict[int, str] = {}   # request id -> job kind
        self.jobs_submitted = 0           # for tests: no job for a pure re-render

    # ------------------------------------------------------------------ public API
    @property
    def available(self) -> bool:
        return self.state != UNAVAILABLE

    def start(self) -> None:
        """Load the model on the worker (the window is already on screen)."""
        if self.state == IDLE:
            self._set_state(LOADING, "loading model\u2026")
            self._submit("load", lambda progress: self._ensure())

    def analyse(self, key: str, series: Any, index: int, method: str | None,
                target: str | None = None) -> int:
        """Predict slice ``index`` and compute ``method`` (None: prediction only)."""
        if not self.available:
            return 0
        if self.state == IDLE:
            self._set_state(LOADING, "loading model\u2026")

        def job(progress):
            classifier, engine = self._ensure()
            progress(0, 1)  # stale already? stop before any work
            gray = _model_gray(series, index)
            prediction = classifier.classify(gray)
            self._store_sweep(key, index, prediction.probabilities)
            request = progress.request_id
            self._workerPrediction.emit(request, SliceAnalysis(key, index, prediction,
                                                               target=target))
            cams = {}
            if method:
                cams = engine.explain(gray, method, target=target, key=key,
                                      slice_index=index, progress=progress,
                                      cancelled=progress.cancelled)
            return SliceAnalysis(key, index, prediction, cams, target)

        return self._submit("analyse", job)

    def grid(self, key: str, series: Any, index: int, target: str | None = None) -> int:
        """Every method for slice ``index``: fast ones at once, then the slow ones."""
        if not self.available:
            return 0

        def job(progress):
            _, engine = self._ensure()
            gray = _model_gray(series, index)
            request = progress.request_id
            done: dict[str, Any] = {}
            fast = [m for m in FAST_FIRST if m not in SLOW_METHODS]
            done.update(engine.explain(gray, fast, target=target, key=key, slice_index=index,
                                       cancelled=progress.cancelled))
            self._workerGrid.emit(request, GridPartial(key, index, dict(done)))
            for name in (m for m in FAST_FIRST if m in SLOW_METHODS):
                progress(0, 1)
                done.update(engine.explain(gray, name, target=target, key=key,
                                           slice_index=index, progress=progress,
                                           cancelled=progress.cancelled))
                self._workerGrid.emit(request, GridPartial(key, index, dict(done)))
            return GridPartial(key, index, done)

        return self._submit("grid", job)

    def sweep(self, key: str, series: Any) -> int:
        """Predict every slice not predicted yet (for the per-slice strip)."""
        if not self.available or self.sweep_complete(key, len(series)):
            return 0

        def job(progress):
            classifier, _ = self._ensure()
            total = len(series)
            for i in range(total):
                progress(i, total)
                if self.sweep_value(key, i) is not None:
                    continue
                probs = classifier.classify(_model_gray(series, i)).probabilities
                self._store_sweep(key, i, probs)
            progress(total, total)
            return key

        return self._submit("sweep", job)

    def sweep_value(self, key: str, index: int) -> dict[str, float] | None:
        with self._sweep_lock:
            return self._sweep.get((key, index))

    def sweep_values(self, key: str, count: int) -> list[dict[str, float] | None]:
        with self._sweep_lock:
            return [self._sweep.get((key, i)) for i in range(count)]

    def sweep_complete(self, key: str, count: int) -> bool:
        return all(v is not None for v in self.sweep_values(key, count))

    def cancel(self) -> None:
        """Drop whatever runs (slow maps stop at their next batch)."""
        self.runner.cancel_all()

    def shutdown(self, timeout_ms: int = -1) -> bool:
        return self.runner.shutdown(timeout_ms)

    # ------------------------------------------------------------------ worker side
    def _ensure(self) -> tuple[Any, Any]:
        """The classifier and engine, loaded on first use (worker thread)."""
        with self._model_lock:
            if self._model_error is not None:
                raise self._model_error
            if self._engine is None:
                try:
                    classifier = self._classifier_factory()
                    engine = self._engine_factory(classifier)
                except ModelError as exc:
                    self._model_error = exc
                    self._workerState.emit(UNAVAILABLE, f"AI unavailable: {exc}")
                    raise
                except Exception as exc:  # noqa: BLE001 - TF/Keras raise many types
                    self._model_error = ModelError(f"{type(exc).__name__}: {exc}")
                    self._workerState.emit(UNAVAILABLE, f"AI unavailable: {self._model_error}")
                    raise self._model_error from None
                self._classifier, self._engine = classifier, engine
                self._workerState.emit(READY, _describe(classifier))
            return self._classifier, self._engine

    def _store_sweep(self, key: str, index: int, probs: dict[str, float]) -> None:
        with self._sweep_lock:
            self._sweep[(key, index)] = dict(probs)
        self._workerSweep.emit(key, index, dict(probs))

    # ------------------------------------------------------------------ GUI side
    def _submit(self, kind: str, fn) -> int:
        request = self.runner.submit(fn)
        self._kind[request] = kind
        self.jobs_submitted += 1
        return request

    def _set_state(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        self.stateChanged.emit(state, message)

    @Slot(str, str)
    def _on_worker_state(self, state: str, message: str) -> None:
        if state == READY and self._classifier is not None:
            self.identity = dict(self._classifier.identity())
            self.labels = tuple(self._classifier.labels)
        self._set_state(state, message)

    @Slot(int, object)
    def _on_worker_prediction(self, request: int, analysis: SliceAnalysis) -> None:
        if request == self.runner.latest_request:
            self.predictionReady.emit(analysis)

    @Slot(int, object)
    def _on_worker_grid(self, request: int, partial: GridPartial) -> None:
        if request == self.runner.latest_request:
            self.gridPartial.emit(partial)

    @Slot(int, object)
    def _on_succeeded(self, request: int, result: object) -> None:
        kind = self._kind.pop(request, "")
        if kind == "analyse":
            self.analysisReady.emit(result)
        elif kind == "grid":
            self.gridPartial.emit(result)
            self.gridDone.emit()

    @Slot(int, object)
    def _on_failed(self, request: int, exc: object) -> None:
        self._kind.pop(request, None)
        from lungview.explain import ExplainCancelled

        if isinstance(exc, ExplainCancelled):
            return
        if isinstance(exc, ModelError):
            if self.state != UNAVAILABLE:  # normally announced by _ensure already
                self._set_state(UNAVAILABLE, f"AI unavailable: {exc}")
            return
        reason = str(exc) if isinstance(exc, LungviewError) else f"{type(exc).__name__}: {exc}"
        self.failed.emit(f"AI: {reason}")


def _model_gray(series: Any, index: int):
    from lungview.model.inputs import model_gray

    return model_gray(series, index)


def _describe(classifier: Any) -> str:
    identity = classifier.identity()
    return f"{identity.get('name', 'model')} {identity.get('version', '')}".strip()
