"""``lungview evaluate``: the numbers of the model card, recomputed from a model file.

Metrics on the test part of a split (see lungview.model.dataset.make_split): 3-class
accuracy, macro-F1, per-class precision/recall, confusion matrix, one-vs-rest ROC-AUC,
malignant-vs-not accuracy (the paper's two-class view), expected calibration error with
a reliability diagram. Plots are drawn with OpenCV (no plotting library needed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lungview.model.dataset import make_split, read_gray, read_pool
from lungview.imaging.preprocess import to_model_input

ECE_BINS = 10


def expected_calibration_error(probs: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS
                               ) -> tuple[float, list[dict[str, float]]]:
    """ECE of the top-class confidence, equal-width bins; also the per-bin table."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == truth).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece, table = 0.0, []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if not inside.any():
            continue
        acc, avg = correct[inside].mean(), conf[inside].mean()
        ece += inside.mean() * abs(acc - avg)
        table.append({"low": float(lo), "high": float(hi), "count": int(inside.sum()),
                      "accuracy": float(acc), "confidence": float(avg)})
    return float(ece), table


def classification_metrics(probs: np.ndarray, truth: np.ndarray, labels: tuple[str, ...]
                           ) -> dict[str, Any]:
    from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score,
                                 precision_recall_fscore_support, roc_auc_score)

    pred = probs.argmax(axis=1)
    n = len(labels)
    prec, rec, f1, support = precision_recall_fscore_support(
        truth, pred, labels=list(range(n)), zero_division=0)
    try:
        auc = float(roc_auc_score(truth, probs, multi_class="ovr", average="macro",
                                  labels=list(range(n))))
    except ValueError:  # a class absent from the test part
        auc = None
    mal = labels.index("malignant")
    bin_truth, bin_pred = truth == mal, pred == mal
    ece, reliability = expected_calibration_error(probs, truth)
    return {
        "n": int(len(truth)),
        "accuracy": float(accuracy_score(truth, pred)),
        "macro_f1": float(f1_score(truth, pred, average="macro", labels=list(range(n)),
                                   zero_division=0)),
        "per_class": {labels[i]: {"precision": float(prec[i]), "recall": float(rec[i]),
                                  "f1": float(f1[i]), "support": int(support[i])}
                      for i in range(n)},
        "confusion_matrix": confusion_matrix(truth, pred, labels=list(range(n))).tolist(),
        "roc_auc_ovr_macro": auc,
        "binary_malignant_vs_not": {
            "accuracy": float((bin_truth == bin_pred).mean()),
            "malignant_precision": float((bin_truth & bin_pred).sum() / max(bin_pred.sum(), 1)),
            "malignant_recall": float((bin_truth & bin_pred).sum() / max(bin_truth.sum(), 1)),
        },
        "ece": ece,
        "reliability": reliability,
    }


def predict_pool(classifier, root: Path, paths: list[str], batch: int = 8) -> np.ndarray:
    out = []
    for start in range(0, len(paths), batch):
        xs = [to_model_input(read_gray(root / p), classifier.input_size)[0]
              for p in paths[start:start + batch]]
        out.append(classifier.predict(np.stack(xs)))
    return np.concatenate(out)


def evaluate(classifier, data: str | Path, protocol: str, seed: int = 0) -> dict[str, Any]:
    pool = read_pool(data)
    split = make_split(pool, protocol, seed)
    paths = [pool.paths[i] for i in split.test]
    probs = predict_pool(classifier, pool.root, paths)
    truth = pool.labels[split.test]
    metrics = classification_metrics(probs, truth, classifier.labels)
    metrics.update(protocol=protocol, seed=seed, data=str(data))
    return metrics


# -- plots (OpenCV; RGB inside, BGR only at cv2.imwrite) --------------------------------

def _text(img, s, org, scale=0.5, color=(30, 30, 30), thick=1):
    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def plot_confusion(matrix: list[list[int]], labels: tuple[str, ...], title: str) -> np.ndarray:
    m = np.asarray(matrix, dtype=float)
    n, cell, left, top = len(labels), 90, 110, 60
    img = np.full((top + n * cell + 60, left + n * cell + 20, 3), 255, np.uint8)
    _text(img, title, (10, 25), 0.55)
    rows = m.sum(axis=1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    for r in range(n):
        _text(img, labels[r], (5, top + r * cell + cell // 2 + 5))
        for c in range(n):
            shade = int(255 - 180 * frac[r, c])
            x0, y0 = left + c * cell, top + r * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (shade, shade, 255), -1)
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (120, 120, 120), 1)
            _text(img, f"{int(m[r, c])}", (x0 + 30, y0 + cell // 2 + 6), 0.7)
    for c in range(n):
        _text(img, labels[c], (left + c * cell + 10, top + n * cell + 20))
    _text(img, "rows: truth, columns: predicted", (left, top + n * cell + 45), 0.45)
    return img


def plot_reliability(table: list[dict[str, float]], ece: float, title: str) -> np.ndarray:
    size, pad = 320, 50
    img = np.full((size + 2 * pad, size + 2 * pad, 3), 255, np.uint8)
    _text(img, f"{title}  ECE {ece:.3f}", (10, 25), 0.5)
    cv2.rectangle(img, (pad, pad), (pad + size, pad + size), (120, 120, 120), 1)
    cv2.line(img, (pad, pad + size), (pad + size, pad), (160, 160, 160), 1, cv2.LINE_AA)
    for row in table:
        x0 = pad + int(row["low"] * size)
        x1 = pad + int(row["high"] * size)
        y = pad + size - int(row["accuracy"] * size)
        cv2.rectangle(img, (x0 + 2, y), (x1 - 2, pad + size), (70, 110, 200), -1)
        yc = pad + size - int(row["confidence"] * size)
        cv2.line(img, (x0 + 2, yc), (x1 - 2, yc), (200, 60, 60), 2)
    _text(img, "confidence", (pad + size // 2 - 40, pad + size + 30), 0.45)
    _text(img, "accuracy", (5, pad - 8), 0.45)
    _text(img, "bars: accuracy, red: mean confidence", (pad, pad + size + 45), 0.4)
    return img


def save_plots(metrics: dict[str, Any], labels: tuple[str, ...], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    proto = metrics["protocol"]
    files = []
    for name, img in (
            ("confusion", plot_confusion(metrics["confusion_matrix"], labels,
                                         f"confusion, {proto} split (n={metrics['n']})")),
            ("reliability", plot_reliability(metrics["reliability"], metrics["ece"],
                                             f"reliability, {proto} split"))):
        path = out / f"{proto}-{name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        files.append(path)
    (out / f"{proto}-metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return files
