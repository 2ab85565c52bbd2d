"""Run slow work (loading a folder, later prediction and CAMs) off the GUI thread.

Usage::

    runner = TaskRunner(parent=window)
    runner.succeeded.connect(window.on_loaded)      # @Slot(int, object)
    runner.failed.connect(window.on_failed)         # @Slot(int, object)
    request_id = runner.submit(functools.partial(load, path))  # fn(progress) -> result

The function runs on a pool thread and receives ``progress(done, total)``. Every exception
is caught there and delivered to the GUI thread as a value through ``failed``: nothing
escapes a worker thread silently. Only the most recent request is reported: a result that
arrives after a newer ``submit`` is stale and dropped, and the stale task's ``progress``
raises :class:`Cancelled` so it stops early when it reports progress. A task superseded
before it even started is skipped (a queue of stale slice requests never runs), and
``progress.cancelled()`` lets long work poll without reporting.
"""

from __future__ import annotations

import itertools
import queue
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

ProgressFn = Callable[[int, int], None]
TaskFn = Callable[[ProgressFn], Any]

_running_lock = threading.Lock()
_running = 0


_running_names: dict[int, str] = {}


def running_tasks() -> int:
    """How many task functions are executing right now in any runner (for leak checks)."""
    with _running_lock:
        return _running


def running_task_names() -> list[str]:
    """What is running (function and thread), for the message of a failed leak check."""
    with _running_lock:
        return list(_running_names.values())


def _count_running(delta: int) -> None:
    global _running
    with _running_lock:
        _running += delta


class Cancelled(Exception):
    """Raised in a worker by ``progress`` once its request has been superseded."""


class _TaskSignals(QObject):
    """Lives in the GUI thread; emitted from the worker, so delivery is queued."""

    progress = Signal(int, int, int)   # request id, done, total
    succeeded = Signal(int, object)    # request id, result
    failed = Signal(int, object)       # request id, exception
    finished = Signal(int)             # request id, always last


class _Progress:
    """``progress(done, total)`` handed to a task; raises :class:`Cancelled` once stale."""

    def __init__(self, task: "_Task") -> None:
        self._task = task

    def __call__(self, done: int, total: int) -> None:
        self._task._progress(done, total)

    @property
    def request_id(self) -> int:
        return self._task.request_id

    def cancelled(self) -> bool:
        """True once the request has been superseded or cancelled."""
        return self._task.cancel.is_set()


class _Task(QRunnable):
    def __init__(self, request_id: int, fn: TaskFn, signals: _TaskSignals) -> None:
        super().__init__()
        # Python owns the runnable (kept in TaskRunner._live); Qt must not delete it.
        self.setAutoDelete(False)
        self.request_id = request_id
        self.signals = signals
        self.cancel = threading.Event()
        self._fn = fn

    def _progress(self, done: int, total: int) -> None:
        if self.cancel.is_set():
            raise Cancelled(f"request {self.request_id} superseded")
        self.signals.progress.emit(self.request_id, int(done), int(total))

    def run(self) -> None:
        _count_running(+1)
        with _running_lock:
            _running_names[id(self)] = (f"{getattr(self._fn, '__qualname__', self._fn)!s} "
                                        f"on {threading.current_thread().name}")
        try:
            try:
                if self.cancel.is_set():
                    raise Cancelled(f"request {self.request_id} superseded before it ran")
                result = self._fn(_Progress(self))
            except BaseException as exc:  # noqa: BLE001 - delivered to the GUI as a value
                self.signals.failed.emit(self.request_id, exc)
            else:
                self.signals.succeeded.emit(self.request_id, result)
            self.signals.finished.emit(self.request_id)
        finally:
            with _running_lock:
                _running_names.pop(id(self), None)
            _count_running(-1)


class TaskRunner(QObject):
    """A private thread pool that reports only the latest request.

    Signals
    -------
    progress(done, total), succeeded(request_id, result), failed(request_id, exception),
    busy_changed(bool).
    """

    progress = Signal(int, int)
    succeeded = Signal(int, object)
    failed = Signal(int, object)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, max_threads: int = 1) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._ids = itertools.count(1)
        self._latest = 0
        self._live: dict[int, _Task] = {}

    @property
    def latest_request(self) -> int:
        return self._latest

    def busy(self) -> bool:
        """True while any submitted task has not reported back yet."""
        return bool(self._live)

    def submit(self, fn: TaskFn) -> int:
        """Start ``fn(progress)`` on the pool; supersede older requests; return the id."""
        request_id = next(self._ids)
        self._latest = request_id
        for task in self._live.values():
            task.cancel.set()
        signals = _TaskSignals()
        signals.progress.connect(self._on_progress)
        signals.succeeded.connect(self._on_succeeded)
        signals.failed.connect(self._on_failed)
        signals.finished.connect(self._on_finished)
        task = _Task(request_id, fn, signals)
        was_busy = self.busy()
        self._live[request_id] = task
        self._start(task)
        if not was_busy:
            self.busy_changed.emit(True)
        return request_id

    def _start(self, task: _Task) -> None:
        self._pool.start(task)

    def cancel_all(self) -> None:
        """Mark every request stale (their results will be dropped)."""
        self._latest = next(self._ids)
        for task in self._live.values():
            task.cancel.set()

    def shutdown(self, timeout_ms: int = -1) -> bool:
        """Cancel everything and wait for the pool threads; True when all have finished."""
        self.cancel_all()
        return self._pool.waitForDone(timeout_ms)

    @Slot(int, int, int)
    def _on_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._latest:
            self.progress.emit(done, total)

    @Slot(int, object)
    def _on_succeeded(self, request_id: int, result: object) -> None:
        if request_id == self._latest:
            self.succeeded.emit(request_id, result)

    @Slot(int, object)
    def _on_failed(self, request_id: int, exc: object) -> None:
        if request_id == self._latest and not isinstance(exc, Cancelled):
            self.failed.emit(request_id, exc)

    @Slot(int)
    def _on_finished(self, request_id: int) -> None:
        self._live.pop(request_id, None)
        if not self._live:
            self.busy_changed.emit(False)


class SerialRunner(TaskRunner):
    """A :class:`TaskRunner` on ONE long-lived Python thread (the TensorFlow worker).

    Why not the Qt pool: PySide gives every ``QRunnable.run`` a fresh Python thread state
    and drops it afterwards, which discards the thread-local state TensorFlow keeps
    (its eager context): a model built in one task and traced in the next crashed the
    process (segfault in ``graph_def_versions``, TF 2.21 / Keras 3). One Python thread
    that lives as long as the runner keeps that state, and runs tasks in order.
    """

    def __init__(self, parent: QObject | None = None, name: str = "lungview-worker") -> None:
        super().__init__(parent, max_threads=1)
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._closed = False

    def _loop(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            task.run()

    def _start(self, task: _Task) -> None:
        if self._closed:  # after shutdown: report it as cancelled, never run it
            task.cancel.set()
        if not self._thread.is_alive() and not self._closed:
            self._thread.start()  # on first use: a plain viewer never starts it
        if self._closed:
            task.run()  # raises Cancelled inside, reports finished
            return
        self._queue.put(task)

    def shutdown(self, timeout_ms: int = -1) -> bool:
        """Cancel everything, stop the thread and wait for it (True when it ended)."""
        self.cancel_all()
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(None if timeout_ms < 0 else timeout_ms / 1000.0)
        return not self._thread.is_alive()
