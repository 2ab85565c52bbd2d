"""The one entry point for opening anything: :func:`load` (file or folder).

A folder is scanned recursively; every file is sniffed by its first bytes (not trusted by
its extension), DICOM headers are read without pixels, grouped into series by
SeriesInstanceUID and ordered (:mod:`lungview.io.dicom`). A bad file does not spoil the
folder: it is returned in :attr:`LoadResult.skipped` with its reason and the rest loads;
DICOM objects without an image (SR, RT structure sets, DICOMDIR) and plain non-image files
(README, CSV, XML annotations) go to :attr:`LoadResult.ignored`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from lungview.errors import LoadError
from lungview.io.dicom import (check_native_length, group_headers, load_dicom_file,
                               series_from_headers)
from lungview.io.dicom_header import (DICOM_EXTENSIONS, FileHeader, NoImageError,
                                      looks_like_dicom, read_header)
from lungview.io.images import IMAGE_EXTENSIONS, load_image, sniff_image
from lungview.io.series import LoadResult, Series

Progress = Callable[[int, int], None]

#: Extensions that are never images (skipped silently in folders).
_TEXT_LIKE = {".txt", ".md", ".csv", ".json", ".xml", ".html", ".htm", ".pdf", ".py",
              ".log", ".ini", ".cfg", ".yaml", ".yml", ".zip", ".gz", ".tar", ".nii"}


def _head(path: Path, n: int = 132) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise LoadError(path, f"the file cannot be read ({exc.strerror or exc})") from None


def _is_text(head: bytes) -> bool:
    """Plain text (ASCII/UTF-8: no control bytes other than tab and line ends)."""
    return bool(head) and all(b >= 32 and b != 127 or b in (9, 10, 13) for b in head)


def _kind_of(path: Path, head: bytes) -> str:
    """'dicom', 'image', 'other' (not ours, silently ignored in folders) or 'bad'."""
    if head[128:132] == b"DICM":  # checked first: a DICOM preamble may hold a TIFF header
        return "dicom"
    if sniff_image(head) is not None:
        return "image"
    if looks_like_dicom(head):
        return "dicom"
    ext = path.suffix.lower()
    if ext in DICOM_EXTENSIONS or ext in IMAGE_EXTENSIONS:
        return "bad"
    if ext in _TEXT_LIKE or path.name.upper() in ("LICENSE", "README", "COPYING", "NOTICE"):
        return "other"
    if _is_text(head):
        return "other"
    # Binary without a known signature: an extension-less file is usually meant to be
    # DICOM (scanner exports), so it is reported; anything else is not ours.
    return "other" if ext else "bad"


def load_file(path: Path) -> Series:
    """A single image or DICOM file as a Series (``image`` or ``dicom-file``)."""
    head = _head(path)
    if not head:
        raise LoadError(path, "the file is empty (0 bytes)")
    if head[128:132] == b"DICM":  # before the image sniff: dual DICOM/TIFF files exist
        return load_dicom_file(path)
    if sniff_image(head) is not None:
        return load_image(path)
    if looks_like_dicom(head) or path.suffix.lower() in DICOM_EXTENSIONS:
        return load_dicom_file(path)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return load_image(path)  # raises a LoadError saying it is not such an image
    # Unknown: maybe DICOM without preamble of an unusual shape; let pydicom decide.
    try:
        return load_dicom_file(path)
    except NoImageError:
        raise
    except LoadError:
        raise LoadError(path, "the file is not a PNG, JPEG, TIFF or BMP image, "
                              "nor DICOM") from None


def _files(root: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=None, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                out.append(Path(dirpath) / name)
    return out


def _series_sort_key(series: Series) -> tuple:
    return (series.modality != "CT", series.kind == "image", -len(series), str(series.source))


def load_folder(root: Path, progress: Progress | None = None) -> LoadResult:
    """Every series under ``root`` (recursively); see the module docstring."""
    files = _files(root)
    total = len(files)
    headers: list[FileHeader] = []
    images: list[Series] = []
    skipped: list[LoadError] = []
    ignored: list[Path] = []
    for k, path in enumerate(files):
        try:
            head = _head(path)
            kind = _kind_of(path, head) if head else "bad"
            if not head:
                raise LoadError(path, "the file is empty (0 bytes)")
            if kind == "image":
                images.append(load_image(path))
            elif kind == "dicom":
                header = read_header(path)
                check_native_length(header)
                headers.append(header)
            elif kind == "other":
                ignored.append(path)
            else:
                raise LoadError(path, "the file is not a PNG, JPEG, TIFF or BMP image, "
                                      "nor DICOM")
        except NoImageError:
            ignored.append(path)
        except LoadError as exc:
            skipped.append(exc)
        except MemoryError:
            skipped.append(LoadError(path, "not enough memory to read this file"))
        if progress is not None:
            progress(k + 1, total)
    series: list[Series] = list(images)
    for members, warn in group_headers(headers):
        if not members:
            continue
        rel = members[0].path.parent
        series.append(series_from_headers(members, source=rel, kind="dicom-series",
                                          extra_warnings=warn))
    if not series:
        if skipped:
            first = skipped[0]
            raise LoadError(root, (
                f"nothing in the folder could be loaded ({len(skipped)} file(s) failed; "
                f"first: {Path(first.path).name}: {first.reason})"))
        raise LoadError(root, f"the folder holds no image or DICOM file "
                              f"({total} file(s) looked at)")
    series.sort(key=_series_sort_key)
    return LoadResult(series=series, skipped=skipped, ignored=ignored)


def load(path: str | os.PathLike[str], progress: Progress | None = None) -> LoadResult:
    """Open an image file, a DICOM file or a folder.

    Parameters
    ----------
    path : file or folder.
    progress : called as ``progress(done, total)`` while a folder's files are read.

    Returns
    -------
    LoadResult: ``series`` (largest CT series first), ``skipped`` (bad files of a folder,
    one :class:`LoadError` each), ``ignored`` (files without an image).

    Raises
    ------
    LoadError
        The path is missing or unreadable, the file is not loadable, or the folder holds
        nothing loadable. Never any other exception for bad input.
    """
    p = Path(path)
    try:
        if not p.exists():
            raise LoadError(p, "no such file or folder")
        if p.is_dir():
            return load_folder(p, progress)
        if not p.is_file():
            raise LoadError(p, "not a regular file or folder")
        series = load_file(p)
    except PermissionError as exc:
        raise LoadError(p, f"permission denied ({exc.strerror or exc})") from None
    except OSError as exc:
        raise LoadError(p, f"the file cannot be read ({exc.strerror or exc})") from None
    if progress is not None:
        progress(1, 1)
    return LoadResult(series=[series])
