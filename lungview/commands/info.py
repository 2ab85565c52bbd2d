"""``lungview info PATH... [--json]``: what lungview sees in each input, without the GUI.

One object per series (a folder with several series gives several): ``path`` (the input
as given), ``kind``, ``modality``, ``slices``, ``rows``, ``cols``, ``pixel_spacing``,
``slice_positions``, ``hu``, ``warnings``, plus ``source`` (the series' folder or file)
and the other fields of :meth:`lungview.io.Series.info`.
Files of a folder that could not be read are reported as errors (exit status 1) while the
folder's series still print. Imports neither Qt nor TensorFlow, so it is fast to script.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterator

from lungview.commands._common import Reporter, guarded, iter_unique


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe images, DICOM files and folders",
                       description="Describe each input: one object per series.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="image file, DICOM file or folder")
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def _human(obj: dict[str, Any]) -> str:
    spacing = obj.get("pixel_spacing")
    spacing_text = f"{spacing[0]:g}x{spacing[1]:g} mm" if spacing else "no spacing"
    what = obj.get("modality") or "image"
    text = (f"{obj.get('source') or obj['path']}: {obj['kind']} {what}, {obj['slices']} slice(s) of "
            f"{obj['cols']}x{obj['rows']}, {spacing_text}, "
            f"{'HU' if obj['hu'] else 'no HU'}")
    if obj.get("description"):
        text += f" - {obj['description']}"
    for warning in obj.get("warnings") or []:
        text += f"\n  warning: {warning}"
    return text


def describe(path: str, reporter: Reporter) -> Iterator[dict[str, Any]]:
    """The info objects of every series under ``path``; skipped files are reported as
    errors on ``reporter`` first."""
    from lungview.io import load

    result = load(path)
    for err in result.skipped:
        reporter.error(err.path, err.reason)
    for series in result.series:
        obj = series.info()
        # ``path`` is the input as given (as in ``predict`` and in error objects); where
        # the series' files live goes to ``source``.
        obj["source"] = obj["path"]
        obj["path"] = path
        yield obj


def run(args: argparse.Namespace) -> int:
    reporter = Reporter(args.json, _human)
    for path in iter_unique(args.paths):
        guarded(reporter, path, lambda p=path: describe(p, reporter))
    return reporter.exit_code()
