"""The output contract shared by ``info``, ``predict`` and ``explain``.

- With ``--json``: one JSON object per line on stdout per result; a bad input gives
  ``{"path": ..., "error": "..."}`` and the other inputs are still processed.
- Without ``--json``: a short human line per result on stdout.
- Every failure also prints ``lungview: error: PATH: reason`` on stderr (one line, never a
  traceback).
- Exit status: 0 when every input succeeded, 1 when some failed, 2 for bad usage.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Iterable, Iterator

from lungview.errors import LoadError, LungviewError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


class Reporter:
    """Writes results and errors in the shared format and remembers if anything failed."""

    def __init__(self, as_json: bool, human: Callable[[dict[str, Any]], str] | None = None):
        self.as_json = as_json
        self.human = human or (lambda obj: json.dumps(obj))
        self.failed = 0
        self.succeeded = 0

    def result(self, obj: dict[str, Any]) -> None:
        self.succeeded += 1
        line = json.dumps(obj) if self.as_json else self.human(obj)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def error(self, path: str, reason: str) -> None:
        self.failed += 1
        reason = " ".join(str(reason).split())  # one line, always
        if self.as_json:
            sys.stdout.write(json.dumps({"path": str(path), "error": reason}) + "\n")
            sys.stdout.flush()
        sys.stderr.write(f"lungview: error: {path}: {reason}\n")
        sys.stderr.flush()

    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.failed else EXIT_OK


def guarded(reporter: Reporter, path: str, produce: Callable[[], Iterable[dict[str, Any]]]
            ) -> None:
    """Run ``produce`` for one input; report each result, or the input's error.

    Typed errors carry their own reason. Anything else is a bug, but the contract says no
    traceback and keep going, so it is reported with its type as the reason.
    """
    try:
        for obj in produce():
            reporter.result(obj)
    except LoadError as exc:
        reporter.error(exc.path, exc.reason)
    except LungviewError as exc:
        reporter.error(path, str(exc))
    except MemoryError:
        reporter.error(path, "out of memory while reading this input")
    except Exception as exc:  # noqa: BLE001 - contract: never a traceback
        reporter.error(path, f"unexpected {type(exc).__name__}: {exc}")


def iter_unique(paths: Iterable[str]) -> Iterator[str]:
    seen: set[str] = set()
    for p in paths:
        if p not in seen:
            seen.add(p)
            yield p
