"""Plain image loading: formats, bit depths, colour, odd sizes, broken files.

Images are written here with OpenCV (which stores BGR), so the expected grey values are
computed from the RGB we meant, with the ITU-R 601 weights lungview documents.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lungview.errors import LoadError
from lungview.io import load

LUMA = np.array([0.299, 0.587, 0.114])


def _write(path: Path, arr: np.ndarray) -> Path:
    ok, buf = cv2.imencode(path.suffix, arr)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def _one(path: Path):
    result = load(path)
    assert len(result.series) == 1 and not result.skipped
    return result.series[0]


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp"])
@pytest.mark.parametrize("shape", [(7, 13), (1, 5), (301, 17)])
def test_lossless_gray8_exact_and_size_kept(tmp_path, ext, shape):
    rng = np.random.default_rng(sum(shape))
    img = rng.integers(0, 256, size=shape, dtype=np.uint8)
    s = _one(_write(tmp_path / f"a{ext}", img))
    assert s.kind == "image" and (s.rows, s.cols) == shape and len(s) == 1
    assert not s.hu and s.pixel_spacing is None and s.slice_positions is None
    np.testing.assert_array_equal(s.pixels(0), img.astype(np.float32))
    # 8-bit images are shown as they are ("from file" = identity).
    np.testing.assert_array_equal(s.display(0), img)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_gray16_kept_at_full_depth(tmp_path, ext):
    img = np.linspace(0, 65535, 11 * 9).reshape(11, 9).astype(np.uint16)
    s = _one(_write(tmp_path / f"a{ext}", img))
    np.testing.assert_array_equal(s.pixels(0), img.astype(np.float32))
    shown = s.display(0)
    assert shown.dtype == np.uint8 and shown.min() == 0 and shown.max() == 255


def test_rgb_converted_to_gray_with_note(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 200  # red
    rgb[1, :, 1] = 100
    s = _one(_write(tmp_path / "c.png", rgb[..., ::-1]))  # OpenCV wants BGR
    expected = np.rint(rgb.astype(np.float64) @ LUMA)
    np.testing.assert_allclose(s.pixels(0), expected, atol=1)
    assert any("RGB" in n for n in s.notes)


def test_rgba_alpha_ignored_with_note(tmp_path):
    rgba = np.zeros((5, 3, 4), np.uint8)
    rgba[..., 2] = 250  # blue
    rgba[..., 3] = np.arange(3, dtype=np.uint8) * 100  # alpha varies; must not matter
    s = _one(_write(tmp_path / "c.png", rgba[..., [2, 1, 0, 3]]))
    np.testing.assert_allclose(s.pixels(0), np.full((5, 3), 250 * LUMA[2]), atol=1)
    assert any("RGBA" in n for n in s.notes)


def test_rgb16(tmp_path):
    rgb = np.zeros((3, 3, 3), np.uint16)
    rgb[..., 1] = 40000
    s = _one(_write(tmp_path / "c.png", rgb[..., ::-1]))
    np.testing.assert_allclose(s.pixels(0), np.full((3, 3), 40000 * LUMA[1]), atol=1)


def test_jpeg_close_to_source(tmp_path):
    img = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1))
    s = _one(_write(tmp_path / "a.jpg", img))
    assert (s.rows, s.cols) == img.shape
    assert np.abs(s.pixels(0) - img).mean() < 3


def test_wrong_extension_is_sniffed(tmp_path):
    img = np.full((3, 4), 9, np.uint8)
    png = _write(tmp_path / "a.png", img)
    renamed = tmp_path / "really_png.jpg"
    png.rename(renamed)
    np.testing.assert_array_equal(_one(renamed).pixels(0), img)


def test_case_id_is_content_hash(tmp_path):
    a = _write(tmp_path / "a.png", np.zeros((3, 3), np.uint8))
    b = tmp_path / "b.png"
    b.write_bytes(a.read_bytes())
    c = _write(tmp_path / "c.png", np.ones((3, 3), np.uint8))
    ids = [_one(p).case_id for p in (a, b, c)]
    assert ids[0] == ids[1] != ids[2] and ids[0].startswith("sha256:")


@pytest.mark.parametrize("cut", [0.5, 0.9])
@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_truncated_image_is_typed(tmp_path, ext, cut):
    rng = np.random.default_rng(0)
    path = _write(tmp_path / f"a{ext}", rng.integers(0, 256, (64, 64), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(LoadError) as err:
        load(path)
    assert err.value.path == str(path) and "truncated" in err.value.reason


@pytest.mark.parametrize("content,words", [(b"", "empty"),
                                           (b"just some text\n" * 10, "not"),
                                           (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "")])
def test_wrong_or_empty_files_are_typed(tmp_path, content, words):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(LoadError) as err:
        load(path)
    assert err.value.path == str(path) and words in err.value.reason


def test_huge_header_refused(tmp_path):
    # A PNG header claiming 20000x20000 pixels: refused from the header alone.
    path = _write(tmp_path / "a.png", np.zeros((2, 2), np.uint8))
    data = bytearray(path.read_bytes())
    data[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(LoadError) as err:
        load(path)
    assert "megapixels" in err.value.reason


def test_folder_of_images(tmp_path):
    _write(tmp_path / "a.png", np.zeros((3, 3), np.uint8))
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub" / "b.bmp", np.ones((4, 5), np.uint8))
    (tmp_path / "bad.png").write_bytes(b"nope")
    result = load(tmp_path)
    assert sorted((s.rows, s.cols) for s in result.series) == [(3, 3), (4, 5)]
    assert all(s.kind == "image" for s in result.series)
    assert [Path(e.path).name for e in result.skipped] == ["bad.png"]
