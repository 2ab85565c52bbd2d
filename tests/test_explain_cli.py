"""``lungview explain``: files written, JSON contract, errors (tiny model saved with a card)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from lungview.cli import main
from lungview.explain import METHOD_NAMES
from lungview.model.architecture import LABELS
from lungview.model.card import ModelCard, sha256_of

FIELDS = {"path", "slice", "method", "target", "label", "probability", "seconds",
          "heatmap", "overlay", "peak"}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("model")
    path = folder / "tiny.keras"
    tiny_model.save(path)
    ModelCard(name="tiny", version="t1", labels=LABELS, input_size=64, cam_layer="top_conv",
              sha256=sha256_of(path)).write(folder / "tiny.json")
    return path


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    wide = tmp_path / "wide.png"
    cv2.imwrite(str(wide), rng.integers(0, 255, (40, 90), dtype=np.uint8))
    square = tmp_path / "square.jpg"
    cv2.imwrite(str(square), rng.integers(0, 255, (64, 64), dtype=np.uint8))
    return wide, square


def _lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_explain_all_methods_json(model_path, images, tmp_path, capsys):
    wide, square = images
    out = tmp_path / "maps"
    code = main(["explain", str(wide), str(square), "--method", "all", "--out", str(out),
                 "--json", "--model", str(model_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    objs = _lines(captured.out)
    assert len(objs) == 2 * len(METHOD_NAMES)
    assert [o["method"] for o in objs[:len(METHOD_NAMES)]] == list(METHOD_NAMES)
    for o in objs:
        assert FIELDS <= set(o)
        assert o["slice"] is None and o["target"] == o["label"]  # default: predicted class
        assert 0.0 < o["probability"] <= 1.0 and o["seconds"] > 0
        heat = np.load(o["heatmap"])
        shape = (40, 90) if o["path"] == str(wide) else (64, 64)
        assert heat.dtype == np.float32 and heat.shape == shape
        assert 0.0 <= heat.min() and heat.max() <= 1.0
        if not o["flat"]:
            assert heat[tuple(o["peak"])] == heat.max()
        png = cv2.imread(o["overlay"])
        assert png is not None and png.shape[0] > shape[0] and png.shape[1] > shape[1]
    assert len({o["heatmap"] for o in objs}) == len(objs)  # nothing overwritten


def test_explain_target_and_human_output(model_path, images, tmp_path, capsys):
    wide, _ = images
    code = main(["explain", str(wide), "--method", "gradcam,layercam", "--target",
                 "malignant", "--out", str(tmp_path / "o"), "--model", str(model_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2 and all("for malignant" in line for line in lines)


def test_explain_errors(model_path, images, tmp_path, capsys):
    wide, _ = images
    missing = tmp_path / "nope.png"
    code = main(["explain", str(missing), str(wide), "--json", "--out", str(tmp_path / "o"),
                 "--model", str(model_path)])
    captured = capsys.readouterr()
    assert code == 1
    objs = _lines(captured.out)
    assert objs[0]["path"] == str(missing) and "error" in objs[0]
    assert objs[1]["method"] == "gradcam"
    assert captured.err.startswith(f"lungview: error: {missing}: ")
    assert "Traceback" not in captured.err

    assert main(["explain", str(wide), "--method", "gradcam+++", "--model",
                 str(model_path)]) == 2
    assert "unknown CAM method" in capsys.readouterr().err
    assert main(["explain", str(wide), "--target", "cancer", "--out", str(tmp_path / "o"),
                 "--model", str(model_path)]) == 2
    assert "unknown class" in capsys.readouterr().err
    assert main(["explain", str(wide), "--out", str(tmp_path / "o"), "--model",
                 str(tmp_path / "missing.keras")]) == 1
    assert "model file not found" in capsys.readouterr().err


@pytest.mark.shared
def test_explain_a_dicom_series_folder(model_path, shared_data, tmp_path, capsys):
    series = shared_data / "dicom" / "lung-pet-ct-dx-A0002" / "series-3-B40f"
    code = main(["explain", str(series), "--json", "--out", str(tmp_path / "o"),
                 "--model", str(model_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    objs = _lines(captured.out)
    assert [o["slice"] for o in objs] == list(range(30))
    assert np.load(objs[0]["heatmap"]).shape == (512, 512)
