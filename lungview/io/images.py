"""Plain image files (PNG, JPEG, TIFF, BMP) as one-slice :class:`Series`.

OpenCV decodes (``cv2.imdecode`` of the file's bytes, which also works for paths OpenCV's
own file functions cannot open). OpenCV returns BGR(A); :func:`_bgr_to_rgb` is the one
place it is turned into RGB(A), and colour is then reduced to grey with
:func:`lungview.imaging.preprocess.to_gray` so that the viewer and the model see the same
grey levels. Dimensions are read from the header first so that a huge image is refused
before anything is decoded.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import cv2
import numpy as np

from lungview.errors import LoadError
from lungview.imaging.preprocess import to_gray
from lungview.io.series import Series, SliceRef, compact

#: Images above this many pixels are refused (a 100-megapixel uint16 slice is 200 MB).
MAX_PIXELS = 100_000_000

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".tif", ".tiff", ".bmp", ".dib"}

_HEAD_BYTES = 64 * 1024


def sniff_image(head: bytes) -> str | None:
    """The image format the first bytes announce, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head.startswith(b"BM") and len(head) >= 26:
        return "BMP"
    return None


def header_size(fmt: str, head: bytes) -> tuple[int, int, bool] | None:
    """(width, height, more_pages) from the header bytes, or None when not found there."""
    try:
        if fmt == "PNG" and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return w, h, False
        if fmt == "BMP":
            dib = struct.unpack("<I", head[14:18])[0]
            if dib == 12:
                w, h = struct.unpack("<HH", head[18:22])
            else:
                w, h = struct.unpack("<ii", head[18:26])
            return abs(w), abs(h), False
        if fmt == "JPEG":
            return _jpeg_size(head)
        if fmt == "TIFF":
            return _tiff_size(head)
    except (struct.error, IndexError):
        return None
    return None


def _jpeg_size(head: bytes) -> tuple[int, int, bool] | None:
    pos = 2
    sof = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
    while pos + 9 < len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack(">H", head[pos + 2:pos + 4])[0]
        if marker in sof:
            h, w = struct.unpack(">HH", head[pos + 5:pos + 9])
            return w, h, False
        pos += 2 + length
    return None


def _tiff_size(head: bytes) -> tuple[int, int, bool] | None:
    end = "<" if head[:2] == b"II" else ">"
    ifd = struct.unpack(end + "I", head[4:8])[0]
    count = struct.unpack(end + "H", head[ifd:ifd + 2])[0]
    dims: dict[int, int] = {}
    for k in range(count):
        entry = head[ifd + 2 + 12 * k: ifd + 14 + 12 * k]
        tag, typ = struct.unpack(end + "HH", entry[:4])
        if tag in (256, 257):
            dims[tag] = struct.unpack(end + ("H" if typ == 3 else "I"), entry[8:10 if typ == 3 else 12])[0]
    nxt = struct.unpack(end + "I", head[ifd + 2 + 12 * count: ifd + 6 + 12 * count])[0]
    if 256 in dims and 257 in dims:
        return dims[256], dims[257], nxt != 0
    return None


def _bgr_to_rgb(img: np.ndarray) -> np.ndarray:
    """The one BGR(A) -> RGB(A) conversion of lungview (OpenCV's channel order)."""
    if img.ndim == 3 and img.shape[2] == 3:
        return img[..., ::-1]
    if img.ndim == 3 and img.shape[2] == 4:
        return img[..., [2, 1, 0, 3]]
    return img


def _to_gray(img: np.ndarray, notes: list[str]) -> np.ndarray:
    """Grey 2-D array in the image's own dtype (colour reduced with ITU-R 601 luma)."""
    if img.ndim == 2:
        return img
    channels = img.shape[2]
    if channels == 1:
        return img[..., 0]
    if channels == 2:
        notes.append("grayscale+alpha image: alpha channel ignored")
        return img[..., 0]
    rgb = _bgr_to_rgb(img)
    notes.append("RGBA converted to grayscale (alpha ignored)" if channels == 4
                 else "RGB converted to grayscale")
    gray = to_gray(rgb)
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        gray = np.clip(np.rint(gray), info.min, info.max).astype(img.dtype)
    return gray


def read_head(path: Path, n: int = _HEAD_BYTES) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _decode_file(path: Path, fmt: str) -> tuple[np.ndarray, list[str], str]:
    """Decode ``path``: (grey slice, notes, sha256 hex of the file bytes)."""
    head = read_head(path)
    if not head:
        raise LoadError(path, "the file is empty (0 bytes)")
    notes: list[str] = []
    size = header_size(fmt, head)
    if size is not None:
        w, h, more = size
        if w * h > MAX_PIXELS:
            raise LoadError(path, (
                f"the image is {w}x{h} pixels ({w * h / 1e6:.0f} megapixels), more than the "
                f"{MAX_PIXELS / 1e6:.0f} megapixels lungview accepts"))
        if w == 0 or h == 0:
            raise LoadError(path, f"the {fmt} header declares an empty {w}x{h} image")
        if more:
            notes.append("multi-page TIFF: only the first page is shown")
    buf = np.fromfile(path, dtype=np.uint8)
    digest = hashlib.sha256(buf).hexdigest()
    tail = buf[-4096:].tobytes()
    if fmt == "JPEG" and b"\xff\xd9" not in tail:
        raise LoadError(path, "the JPEG file is truncated (it has no end-of-image marker)")
    if fmt == "PNG" and b"IEND" not in tail:
        raise LoadError(path, "the PNG file is truncated (it has no end chunk)")
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        img = None
    if img is None or img.size == 0:
        raise LoadError(path, f"the file could not be decoded as a {fmt} image "
                              "(it is corrupt or truncated)")
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise LoadError(path, (f"the image is {img.shape[1]}x{img.shape[0]} pixels, more than "
                               f"the {MAX_PIXELS / 1e6:.0f} megapixels lungview accepts"))
    if img.dtype not in (np.uint8, np.uint16) and np.issubdtype(img.dtype, np.floating):
        notes.append(f"floating-point {fmt} image shown at its full value range")
    gray = _to_gray(img, notes)
    return gray, notes, digest


def load_image(path: Path) -> Series:
    """Load one image file as a one-slice :class:`Series` (kind ``image``).

    Raises
    ------
    LoadError
        Empty, unreadable, not an image, corrupt, truncated or too large.
    """
    try:
        head = read_head(path, 32)
    except OSError as exc:
        raise LoadError(path, f"the file cannot be read ({exc.strerror or exc})") from None
    fmt = sniff_image(head)
    if fmt is None:
        if not head:
            raise LoadError(path, "the file is empty (0 bytes)")
        raise LoadError(path, "the file is not a PNG, JPEG, TIFF or BMP image, nor DICOM")
    try:
        gray, notes, digest = _decode_file(path, fmt)
    except OSError as exc:
        raise LoadError(path, f"the file cannot be read ({exc.strerror or exc})") from None
    except MemoryError:
        raise LoadError(path, "not enough memory to decode this image") from None

    def decoder(ref: SliceRef) -> np.ndarray:
        # Only used if the cached slice was evicted; re-decode from the file.
        return _decode_file(ref.path, fmt)[0]

    values = compact(gray)
    series = Series(source=path, kind="image", slices=[SliceRef(path=path)],
                    rows=gray.shape[0], cols=gray.shape[1], decoder=decoder,
                    description=path.name, case_id=f"sha256:{digest}", notes=notes,
                    voi_function="LINEAR_EXACT", eight_bit=gray.dtype == np.uint8)
    series._cache.put(0, values)  # already decoded: no second read for the first display
    return series
