"""``lungview review export``: the radiologist's readings as CSV or JSON.

Output, with ``--out FILE``:
- ``--format json``: FILE holds ``{"readings": [...], "summary": [...]}``.
- ``--format csv``: FILE holds one row per reading, and the per-method summary goes to a
  second file beside it, FILE's name plus ``-summary`` (``out.csv`` -> ``out-summary.csv``).
Without ``--out`` the same goes to stdout; for CSV the readings table comes first, then
one blank line, then the summary table.
Files are written whole or not at all (temporary file, then rename). Columns and summary
fields: see :mod:`lungview.review.export`. Exit status 0, or 1 with
``lungview: error: PATH: reason`` on stderr; 2 for bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from lungview.commands._common import Reporter
from lungview.errors import LungviewError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    review = subparsers.add_parser(
        "review", help="the radiologist's readings",
        description="Work with the radiologist's readings (the review database).")
    sub = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    export = sub.add_parser(
        "export", help="write every reading and a per-method summary as CSV or JSON",
        description=("Write every reading (one row per case, method and slice) and a "
                     "per-method summary. CSV: the summary goes to OUT's name plus "
                     "'-summary' (out.csv -> out-summary.csv), or after a blank line on "
                     "stdout. JSON: {\"readings\": [...], \"summary\": [...]}."))
    export.add_argument("--format", required=True, choices=("csv", "json"))
    export.add_argument("--out", metavar="FILE", help="output file (default: stdout)")
    export.add_argument("--db", metavar="PATH",
                        help="review database (default: the one in the user's data folder)")


def summary_path(out: Path) -> Path:
    """``out.csv`` -> ``out-summary.csv`` (``.csv`` added when OUT has no suffix)."""
    return out.with_name(f"{out.stem}-summary{out.suffix or '.csv'}")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    # imported here: `lungview --help` and other commands need none of this
    from lungview.review.export import (READING_COLUMNS, SUMMARY_COLUMNS, reading_rows,
                                        summarise, to_csv_text, to_json)
    from lungview.review.schema import default_db_path
    from lungview.review.store import ReviewStore, StoreError

    reporter = Reporter(as_json=False, human=lambda obj: obj["message"])
    db = Path(args.db) if args.db else default_db_path()
    try:
        with ReviewStore.open_existing(db) as store:
            rows = reading_rows(store)
            waiting = store.pending_count()
    except StoreError as exc:
        reporter.error(exc.path, exc.reason)
        return reporter.exit_code()
    except LungviewError as exc:
        reporter.error(str(db), str(exc))
        return reporter.exit_code()
    if waiting:
        sys.stderr.write(f"lungview: warning: {db}: {waiting} edit(s) wait in the pending "
                         "journal and are not in this export\n")
    summary = summarise(rows)
    if args.format == "json":
        outputs = [(args.out, to_json(rows, summary) + "\n")]
    else:
        readings_csv = to_csv_text(rows, READING_COLUMNS)
        summary_csv = to_csv_text(summary, SUMMARY_COLUMNS)
        outputs = ([(args.out, readings_csv), (str(summary_path(Path(args.out))), summary_csv)]
                   if args.out else [(None, readings_csv + "\n" + summary_csv)])
    for target, text in outputs:
        if target is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            continue
        try:
            _write_atomic(Path(target), text)
        except OSError as exc:
            reporter.error(target, f"cannot be written ({exc.strerror or exc})")
            return reporter.exit_code()
    if args.out:
        reporter.result({"message": f"wrote {len(rows)} reading(s) of {len(summary)} "
                                    f"method(s) to {', '.join(t for t, _ in outputs)}"})
    return reporter.exit_code()
