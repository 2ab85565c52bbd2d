"""lungview.explain.evaluation and ``lungview evaluate-cams`` on the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lungview.explain import evaluation as E
from lungview.explain.metrics import Box
from lungview.model.architecture import LABELS
from lungview.model.card import ModelCard, sha256_of


def test_read_voc_boxes(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_text("<annotation><object><bndbox><xmin>134</xmin><ymin>274</ymin>"
                   "<xmax>216</xmax><ymax>338</ymax></bndbox></object></annotation>")
    assert E.read_voc_boxes(xml) == [Box(row0=274, col0=134, row1=338, col1=216)]
    bad = tmp_path / "b.xml"
    bad.write_text("<annotation><object><bndbox><xmin>x</xmin></bndbox>")
    from lungview.errors import LoadError

    with pytest.raises(LoadError):
        E.read_voc_boxes(bad)


def test_evaluate_and_summarise(tiny_model):
    from lungview.explain import CamEngine

    engine = CamEngine(tiny_model, cache_size=0)
    rng = np.random.default_rng(0)
    samples = [E.Sample("boxed", np.clip(rng.normal(120, 50, (64, 80)), 0, 255),
                        "malignant", [(10, 10, 40, 40)]),
               E.Sample("plain", np.clip(rng.normal(120, 50, (64, 64)), 0, 255))]
    seen = []
    rows = E.evaluate(engine, samples, ["gradcam", "scorecam-fast"], steps=4,
                      on_row=seen.append)
    assert len(rows) == 4 and seen == rows
    assert rows[0].target == "malignant" and rows[0].pointing is not None
    assert rows[2].pointing is None and rows[2].energy is None
    summary = E.summarise(rows)
    assert [s["method"] for s in summary] == ["gradcam", "scorecam-fast"]
    for s in summary:
        assert s["n"] == 2 and 0 <= s["average_drop_pct"] <= 100
        assert s["pointing_game_pct"] in (0.0, 100.0)  # one boxed slice
        assert 0 <= s["deletion_auc"] <= 1 and 0 <= s["insertion_auc"] <= 1
    table = E.markdown_table(summary)
    assert table.count("\n") == 3 and "| gradcam | 2 |" in table


@pytest.mark.shared
def test_a0002_has_18_boxed_slices(shared_data):
    samples = E.a0002_samples(shared_data / "dicom" / "lung-pet-ct-dx-A0002")
    assert len(samples) == 18
    assert all(s.gray.shape == (512, 512) and s.regions for s in samples)
    assert {s.name.split("/")[0] for s in samples} == {"series-2-B70f", "series-3-B40f"}


@pytest.mark.shared
def test_evaluate_cams_command(shared_data, tiny_model, tmp_path, capsys):
    from lungview.cli import main

    path = tmp_path / "tiny.keras"
    tiny_model.save(path)
    ModelCard(name="tiny", version="t1", labels=LABELS, input_size=64, cam_layer="top_conv",
              sha256=sha256_of(path)).write(tmp_path / "tiny.json")
    out = tmp_path / "eval"
    code = main(["evaluate-cams", "--model", str(path), "--method", "gradcam",
                 "--a0002", str(shared_data / "dicom" / "lung-pet-ct-dx-A0002"),
                 "--iq", str(shared_data / "iq-othnccd"), "--limit", "3", "--steps", "2",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "18 boxed slices" in captured.out and "| gradcam | 18 |" in captured.out
    report = json.loads((out / "cam-evaluation.json").read_text())
    assert [len(s["rows"]) for s in report["sets"]] == [18, 3]
    assert (out / "cam-evaluation.md").read_text().startswith("Model tiny")
    assert main(["evaluate-cams", "--method", "nope"]) == 2
