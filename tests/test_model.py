"""Model card, loading with a hash check, compiled prediction, splits, metrics, training."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from lungview.errors import LoadError, ModelError
from lungview.model.architecture import LABELS
from lungview.model.card import ModelCard, sha256_of, verified_card
from lungview.model.dataset import make_split, read_pool
from lungview.model.evaluate import classification_metrics, expected_calibration_error
from tests.conftest import ROOT


def write_pool(root, per_class=6, groups_per_class=3, size=40):
    """A tiny IQ-OTH/NCCD-shaped folder with a manifest: class folders, patient runs."""
    rng = np.random.default_rng(1)
    rows = ["path,label,index,series_guess,width,height,sha256"]
    for folder, label in (("Normal cases", "normal"), ("Bengin cases", "benign"),
                          ("Malignant cases", "malignant")):
        (root / folder).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (size, size + 8)).astype(np.uint8)
            if label == "malignant":
                img[10:20, 10:20] = 250
            name = f"{folder}/{label} ({i + 1}).png"
            cv2.imwrite(str(root / name), img)
            rows.append(f"{name},{label},{i + 1},{label}-{i % groups_per_class:03d},"
                        f"{size + 8},{size},x")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def save_model_with_card(model, folder, tamper=False):
    path = folder / "m.keras"
    model.save(path)
    card = ModelCard(name="tiny", version="t1", labels=LABELS,
                     input_size=int(model.input_shape[1]), cam_layer="top_conv",
                     sha256=sha256_of(path))
    card.write(folder / "m.json")
    if tamper:
        with open(path, "ab") as fh:
            fh.write(b"x")
    return path


def test_read_pool_and_patient_split_keeps_runs_apart(tmp_path):
    pool = read_pool(write_pool(tmp_path / "data", per_class=20, groups_per_class=10))
    assert len(pool) == 60 and set(pool.labels) == {0, 1, 2}
    split = make_split(pool, "patient", seed=3)
    groups = np.array(pool.groups)
    assert not set(groups[split.test]) & set(groups[split.train])
    assert not set(groups[split.val]) & set(groups[split.train])
    all_idx = np.concatenate([split.train, split.val, split.test])
    assert sorted(all_idx.tolist()) == list(range(60))
    again = make_split(pool, "patient", seed=3)
    assert np.array_equal(again.test, split.test)
    rnd = make_split(pool, "random", seed=3)
    assert len(rnd.test) == 12 and set(pool.labels[rnd.test]) == {0, 1, 2}


def test_read_pool_errors(tmp_path):
    with pytest.raises(LoadError, match="does not exist"):
        read_pool(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError, match="no images"):
        read_pool(tmp_path / "empty")


def test_metrics_by_hand():
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.6, 0.1, 0.3]])
    truth = np.array([0, 1, 2, 2])
    m = classification_metrics(probs, truth, LABELS)
    assert m["accuracy"] == 0.75
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert m["binary_malignant_vs_not"]["accuracy"] == 0.75
    assert m["per_class"]["malignant"]["recall"] == 0.5
    ece, table = expected_calibration_error(probs, truth)
    # bins: 0.6 (wrong), 0.7 (right), 0.8 (right), 0.9 (right)
    assert ece == pytest.approx((0.6 + 0.3 + 0.2 + 0.1) / 4)
    assert sum(r["count"] for r in table) == 4


def test_classifier_load_checks_hash(tmp_path, tiny_model):
    from lungview.model.classifier import Classifier

    path = save_model_with_card(tiny_model, tmp_path)
    clf = Classifier.load(path)
    probs = clf.predict(np.zeros((2, 64, 64, 3), np.float32))
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    pred = clf.classify(np.full((50, 70), 128, np.uint8))
    assert pred.label in LABELS and pred.seconds >= 0
    assert clf.identity()["sha256"] == sha256_of(path)
    save_model_with_card(tiny_model, tmp_path, tamper=True)
    with pytest.raises(ModelError, match="do not match"):
        Classifier.load(path)


def test_card_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        verified_card(tmp_path / "nope.keras")
    (tmp_path / "a.keras").write_bytes(b"123")
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(ModelError, match="not readable"):
        verified_card(tmp_path / "a.keras")
    (tmp_path / "a.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="lacks"):
        verified_card(tmp_path / "a.keras")


def test_train_end_to_end_one_epoch_then_resume(tmp_path):
    """The real EfficientNetB0 recipe on a tiny subset at a tiny size, then --resume."""
    data = write_pool(tmp_path / "data", per_class=6, groups_per_class=3)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lungview", "train", "--data", str(data), "--out", str(out),
           "--size1", "32", "--epochs1", "1", "--size2", "32", "--epochs2", "0",
           "--batch", "4", "--limit", "8"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "model.keras").is_file()
    log = (out / "log-phase1.csv").read_text().splitlines()
    assert log[0].startswith("epoch") and len(log) == 2
    state = json.loads((out / "state.json").read_text())
    assert state["finished"] == ["phase1", "phase2"]
    # A second start without --resume refuses to overwrite; with --resume it is a no-op.
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert again.returncode != 0 and "--resume" in again.stderr
    resumed = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, cwd=ROOT,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "already finished" in resumed.stdout


def test_shipped_input_size_is_that_of_the_last_trained_phase():
    from lungview.model.train import TrainConfig

    assert TrainConfig("d", "o", size1=256, size2=512, epochs2=0).final_size == 256
    assert TrainConfig("d", "o", size1=256, size2=512, epochs2=3).final_size == 512


def test_publish_model_writes_a_card_that_loads(tmp_path):
    """publish-model on a finished (tiny) run: weights copied, hash and metrics measured."""
    from lungview.model.classifier import Classifier

    data = write_pool(tmp_path / "data", per_class=6, groups_per_class=3)
    run = tmp_path / "run"
    # --size2 without --epochs2: the model keeps the size it was trained at (32, not 48).
    train = [sys.executable, "-m", "lungview", "train", "--data", str(data), "--out", str(run),
             "--size1", "32", "--epochs1", "1", "--size2", "48", "--epochs2", "0",
             "--batch", "4", "--limit", "8"]
    assert subprocess.run(train, capture_output=True, cwd=ROOT, timeout=600).returncode == 0
    models, plots = tmp_path / "models", tmp_path / "plots"
    proc = subprocess.run([sys.executable, "-m", "lungview", "publish-model", "--run", str(run),
                           "--paper-run", str(run), "--data", str(data), "--out", str(models),
                           "--plots", str(plots), "--version", "9.9"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    clf = Classifier.load(models / "lungview-effnetb0.keras")
    card = clf.card
    assert (card.version, card.input_size, card.labels) == ("9.9", 32, LABELS)
    assert clf.keras_model.inputs[0].shape[1:3] == (32, 32)
    metrics = card.extra["metrics"]
    assert set(metrics) == {"patient_run_split", "random_slice_split"}
    for m in metrics.values():
        assert 0 <= m["accuracy"] <= 1 and sum(map(sum, m["confusion_matrix"])) == m["n"]
    command = card.extra["training"]["patient_run_split"]["command"]
    assert command.startswith("lungview train --data") and "--epochs1 1" in command
    assert sorted(p.name for p in plots.glob("*.png")) == [
        "patient-confusion.png", "patient-reliability.png", "random-confusion.png",
        "random-reliability.png"]
    missing = subprocess.run([sys.executable, "-m", "lungview", "publish-model", "--run",
                              str(tmp_path / "nope"), "--data", str(data)],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert missing.returncode == 1 and "no model.keras" in missing.stderr
