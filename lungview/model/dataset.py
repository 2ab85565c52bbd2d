"""The training pool (a folder laid out like IQ-OTH/NCCD) and the two evaluation splits.

No TensorFlow here: arrays and indices only, so splits can be inspected and tested fast.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lungview.errors import LoadError
from lungview.imaging.preprocess import to_gray, to_model_input
from lungview.model.architecture import LABELS

#: Folder names of the IQ-OTH/NCCD release (note its spelling "Bengin") -> our labels.
FOLDER_LABELS = {"bengin cases": "benign", "benign cases": "benign",
                 "malignant cases": "malignant", "normal cases": "normal"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
PROTOCOLS = ("patient", "random")


@dataclass
class Pool:
    """Every labelled slice of a training folder."""

    root: Path
    paths: list[str]        # relative to root
    labels: np.ndarray      # int, index into LABELS
    groups: list[str]       # patient-run id (manifest series_guess; else one group per image)

    def __len__(self) -> int:
        return len(self.paths)


def read_pool(root: str | Path) -> Pool:
    """Read ``root``: ``manifest.csv`` (path,label,series_guess,...) when present, else the
    class folders. Raises LoadError when the folder holds no labelled images."""
    root = Path(root)
    manifest = root / "manifest.csv"
    rows: list[tuple[str, str, str]] = []
    if manifest.is_file():
        with manifest.open(newline="") as fh:
            for row in csv.DictReader(fh):
                group = row.get("series_guess") or row["path"]
                rows.append((row["path"], row["label"], group))
    elif root.is_dir():
        for sub in sorted(p for p in root.iterdir() if p.is_dir()):
            label = FOLDER_LABELS.get(sub.name.lower(), sub.name.lower())
            for img in sorted(sub.iterdir()):
                if img.suffix.lower() in IMAGE_SUFFIXES:
                    rel = str(img.relative_to(root))
                    rows.append((rel, label, rel))
    else:
        raise LoadError(root, "training data folder does not exist")
    rows = [r for r in rows if r[1] in LABELS]
    if not rows:
        raise LoadError(root, f"no images labelled {', '.join(LABELS)} found "
                              "(expected class folders or a manifest.csv)")
    return Pool(root=root, paths=[r[0] for r in rows],
                labels=np.array([LABELS.index(r[1]) for r in rows]),
                groups=[r[2] for r in rows])


def read_gray(path: Path) -> np.ndarray:
    """One training image as a 2-D 0-255 array (the same gray conversion as the viewer)."""
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise LoadError(path, "not a readable image")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if image.shape[2] == 4
                             else cv2.COLOR_BGR2RGB)
    gray = to_gray(image).astype(np.float32)
    if image.dtype == np.uint16:
        gray /= 257.0
    return gray


def load_inputs(pool: Pool, indices: np.ndarray, size: int) -> np.ndarray:
    """Model inputs for ``indices`` at ``size`` as uint8 (N, size, size): one channel is
    enough in memory; the 3-channel float copy is made per batch."""
    out = np.empty((len(indices), size, size), dtype=np.uint8)
    for k, i in enumerate(indices):
        x, _ = to_model_input(read_gray(pool.root / pool.paths[i]), size)
        out[k] = x[..., 0].astype(np.uint8)  # already integer-valued
    return out


@dataclass
class Split:
    protocol: str
    seed: int
    train: np.ndarray   # indices used for gradient steps
    val: np.ndarray     # indices the callbacks watch (never the test set)
    test: np.ndarray    # indices only `evaluate` looks at


def make_split(pool: Pool, protocol: str, seed: int = 0, test_fraction: float = 0.2,
               val_fraction: float = 0.15) -> Split:
    """The two protocols of the model card.

    ``random``: the paper's protocol, an 80/20 stratified split slice by slice (neighbouring
    slices of one patient land on both sides: optimistic). ``patient``: a stratified
    split by patient run (``series_guess``), so test patients are never seen in training.
    In both, the callbacks' validation set is carved out of the training part the same way,
    so the test part influences nothing.
    """
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}")
    idx = np.arange(len(pool))
    if protocol == "random":
        rest, test = train_test_split(idx, test_size=test_fraction, random_state=seed,
                                      stratify=pool.labels)
        train, val = train_test_split(rest, test_size=val_fraction, random_state=seed,
                                      stratify=pool.labels[rest])
    else:
        groups = np.array(pool.groups)

        def group_split(sub: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
            # Small folders (tests, a user's own data) may hold fewer runs per class than
            # folds; fall back to fewer, larger folds rather than failing.
            runs_per_class = min(len(set(groups[sub][pool.labels[sub] == c]))
                                 for c in np.unique(pool.labels[sub]))
            n_splits = max(2, min(round(1 / fraction), runs_per_class))
            folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            keep, held = next(folds.split(sub, pool.labels[sub], groups[sub]))
            return sub[keep], sub[held]

        rest, test = group_split(idx, test_fraction)
        train, val = group_split(rest, val_fraction)
    return Split(protocol, seed, np.sort(train), np.sort(val), np.sort(test))
