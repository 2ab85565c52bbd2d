"""Turning a finished training run into the bundled model and its card.

The card's numbers are never typed in: ``lungview publish-model`` copies the run's
``model.keras``, hashes it, evaluates it on the patient-run split it was trained for, evaluates
a second run of the same recipe on the paper's random slice split (that model is measured,
not shipped: the bundled model has seen some of the random split's test slices' neighbours),
predicts every slice of the Lung-PET-CT-Dx A0002 series, and writes all of it into the JSON.
Rerunning the command on the same runs and data reproduces the card.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from lungview.imaging.preprocess import MODEL_DICOM_WINDOW, PREPROCESSING_DESCRIPTION
from lungview.model.architecture import CAM_LAYER, LABELS
from lungview.model.card import ModelCard, sha256_of
from lungview.model.train import TrainConfig

MODEL_NAME = "lungview-effnetb0"

INTENDED_USE = (
    "Research use only; not a medical device and not for diagnosis. Trained on 936 "
    "already-windowed axial CT slices from one Iraqi hospital (IQ-OTH/NCCD, 2019); it has "
    "never seen other scanners, kernels or populations and its probabilities are not "
    "calibrated risks. Meant for studying where a CNN looks (class activation maps) and for "
    "reader studies.")


def _train_command(config: dict[str, Any]) -> str:
    """The command line recorded by ``lungview train`` (``--resume`` dropped: a resumed run
    ends in the same place as an uninterrupted one)."""
    return " ".join(w for w in config["command"].split() if w != "--resume")


def training_summary(run: Path) -> dict[str, Any]:
    """Config, the command that reproduces the run, and each phase's epochs from its log."""
    config = json.loads((run / "config.json").read_text())
    phases = {}
    for log in sorted(run.glob("log-phase*.csv")):
        rows = list(csv.DictReader(log.open()))
        if not rows:
            continue
        best = min(rows, key=lambda r: float(r["val_loss"]))
        phases[log.stem.removeprefix("log-")] = {
            "epochs_run": len(rows),
            "best_epoch": int(best["epoch"]) + 1,
            "best_val_loss": round(float(best["val_loss"]), 4),
            "best_val_accuracy": round(float(best["val_accuracy"]), 4),
        }
    return {"config": config, "command": _train_command(config), "phases": phases}


def _short(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = ("protocol", "seed", "n", "accuracy", "macro_f1", "roc_auc_ovr_macro", "ece",
            "binary_malignant_vs_not", "per_class", "confusion_matrix")
    return {k: metrics[k] for k in keep if k in metrics}


def a0002_predictions(classifier, series_dir: Path, annotations: Path) -> dict[str, Any]:
    """Every slice of one A0002 series: label, p(malignant), and whether the collection's
    radiologists boxed a tumour on it (all boxed slices are malignant)."""
    from lungview.io import load
    from lungview.model.inputs import model_gray

    boxed_uids = {p.stem for p in annotations.glob("*.xml")}
    series = load(series_dir).series[0]
    rows = []
    for i in range(len(series)):
        pred = classifier.classify(model_gray(series, i))
        rows.append({"slice": i, "boxed": series.sop_uid(i) in boxed_uids,
                     "label": pred.label,
                     "p_malignant": round(pred.malignant_probability, 4)})
    boxed = [r for r in rows if r["boxed"]]
    other = [r for r in rows if not r["boxed"]]

    def share(group):
        return (sum(r["label"] == "malignant" for r in group), len(group))

    return {
        "series": str(series_dir),
        "dicom_window": list(MODEL_DICOM_WINDOW),
        "boxed_slices_called_malignant": "{}/{}".format(*share(boxed)),
        "other_slices_called_malignant": "{}/{}".format(*share(other)),
        "mean_p_malignant_boxed": round(float(np.mean([r["p_malignant"] for r in boxed])), 4)
        if boxed else None,
        "mean_p_malignant_other": round(float(np.mean([r["p_malignant"] for r in other])), 4)
        if other else None,
        "slices": rows,
    }


def publish(run: Path, paper_run: Path | None, data: Path, out: Path, version: str,
            plots: Path | None, a0002: Path | None) -> Path:
    """Write ``out/lungview-effnetb0.keras`` and its card; returns the card path."""
    import keras

    from lungview.model.classifier import Classifier
    from lungview.model.evaluate import evaluate, save_plots

    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"{MODEL_NAME}.keras"
    shutil.copyfile(run / "model.keras", model_path)
    size = TrainConfig(**json.loads((run / "config.json").read_text())).final_size
    card = ModelCard(
        name=MODEL_NAME, version=version, labels=LABELS, input_size=size,
        cam_layer=CAM_LAYER, sha256=sha256_of(model_path),
        preprocessing=PREPROCESSING_DESCRIPTION.format(
            c=MODEL_DICOM_WINDOW[0], w=MODEL_DICOM_WINDOW[1], size=size),
        intended_use=INTENDED_USE)
    clf = Classifier(keras.saving.load_model(model_path, compile=False), card, model_path)
    clf.warm_up()

    metrics: dict[str, Any] = {}
    patient = evaluate(clf, data, "patient", seed=0)
    metrics["patient_run_split"] = _short(patient) | {
        "model": "this model (trained on the patient-run split's train part)"}
    if plots:
        save_plots(patient, clf.labels, plots)
    training = {"patient_run_split": training_summary(run)}
    if paper_run is not None:
        paper_model = keras.saving.load_model(paper_run / "model.keras", compile=False)
        paper_clf = Classifier.from_model(paper_model, LABELS, name="paper-protocol-run")
        paper_clf.warm_up()
        random = evaluate(paper_clf, data, "random", seed=0)
        metrics["random_slice_split"] = _short(random) | {
            "model": "same recipe retrained on the random split's train part (not shipped)",
            "sha256": sha256_of(paper_run / "model.keras")}
        if plots:
            save_plots(random, LABELS, plots)
        training["random_slice_split"] = training_summary(paper_run)

    card.extra = {
        "architecture": "Keras EfficientNetB0(include_top=False, weights=None), built flat; "
                        "GlobalAveragePooling2D, Dropout(0.2), Dense(3, softmax)",
        "training_data": "IQ-OTH/NCCD lung cancer dataset (936 slices: 482 malignant, "
                         "354 normal, 100 benign), split by patient run (manifest "
                         "series_guess), seed 0",
        "dicom_input": f"HU windowed at centre {MODEL_DICOM_WINDOW[0]:g} / width "
                       f"{MODEL_DICOM_WINDOW[1]:g} to 0-255 (the training JPEGs are "
                       "already-windowed 8-bit slices, read with windows of width 350-1200 "
                       "and centre 50-600 HU)",
        "training": training,
        "metrics": metrics,
        "reproduce": "lungview publish-model --run RUN --paper-run PAPER_RUN --data DATA "
                     "(recomputes every number in this card)",
    }
    if a0002 is not None:
        card.extra["a0002_predictions"] = a0002_predictions(
            clf, a0002 / "series-3-B40f", a0002 / "annotations")
    card_path = model_path.with_suffix(".json")
    card.write(card_path)
    return card_path
