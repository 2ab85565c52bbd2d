"""``lungview train``: reproducible, resumable training of the bundled classifier.

Recipe (each choice answers a measured failure of a naive from-scratch run, which sat at
chance for five epochs while BatchNorm statistics settled and then had its learning rate
cut to nothing by the plateau schedule):

- EfficientNetB0 built size-agnostic, so one set of weights can train in two phases:
  phase 1 at ``--size1`` (default 256, 1.6 s/step on 2 cores) from a higher learning rate
  (from scratch, Adam 1e-3); an optional phase 2 (``--epochs2 N``) fine-tunes at
  ``--size2`` (default 512, the paper's input and its 16x16 ``top_conv`` grid) with the
  paper's Adam 1e-4. The shipped model's input is the size of the last phase that trained.
  The bundled model skips phase 2: on the patient-run validation part, a phase-1 model
  at its best (0.75 3-class accuracy at 256 px) fell to 0.45 / 0.38 after one / two
  fine-tuning epochs at 512 (4.4-4.9 min each on 2 cores; the runs' logs are in
  ``docs/model/512-finetune-trial/``): the network has to relearn the scale of every
  structure, which takes more 512-px epochs than a CPU affords. With an accelerator, ``--epochs2 8`` is the way to the paper's grid.
- BatchNorm momentum 0.9 instead of 0.99: the moving statistics follow the weights within
  an epoch of ~40 steps, so validation means something from the first epochs.
- The paper's callbacks: ModelCheckpoint (best val_loss), EarlyStopping, and
  ReduceLROnPlateau(factor=0.3, patience 3), but the plateau schedule and early stopping
  only start watching after ``--warmup`` epochs (default 6): from scratch, validation is
  noise for the first epochs (measured: val_loss 1.04, 9.1, 1.77, 1.31 in epochs 1-4 at
  256 px, while training accuracy rose steadily), and a schedule that reacts to that noise
  cuts the rate before the network has learnt anything.
- Class weights (balanced) for the normal/benign/malignant imbalance.
- CT-plausible augmentation: small rotations, shifts and zooms with air (0) fill, and
  contrast/brightness jitter (the source slices were read with different windows). No
  flips: left-right anatomy (heart, mirror-position false foci) is part of what the maps
  are judged on.
- The callbacks watch a validation set carved from the training part; the test part of
  the split is seen only by ``lungview evaluate``.
- Resumable: BackupAndRestore each epoch per phase plus a ``state.json``; ``--resume``
  picks up after a stop. Every epoch is logged to ``log.csv``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lungview.model.architecture import LABELS, build_efficientnet_b0
from lungview.model.dataset import Pool, Split, load_inputs, make_split, read_pool


@dataclass
class TrainConfig:
    data: str
    out: str
    protocol: str = "patient"
    seed: int = 0
    size1: int = 256
    epochs1: int = 30
    warmup: int = 6                   # epochs before the plateau schedule / early stop watch
    lr1: float = 1e-3
    size2: int = 512
    epochs2: int = 0
    lr2: float = 1e-4
    batch: int = 16
    bn_momentum: float = 0.9
    weights: str | None = None
    limit: int | None = None          # tests: use only this many training images
    command: str = field(default_factory=lambda: "lungview " + shlex.join(sys.argv[1:]))

    @property
    def final_size(self) -> int:
        """Input size of the shipped model: that of the last phase with epochs."""
        return self.size2 if self.epochs2 > 0 else self.size1


def _plateau_schedule(start_from_epoch: int, **kwargs):
    """ReduceLROnPlateau that ignores the first ``start_from_epoch`` epochs (EarlyStopping
    has this option; ReduceLROnPlateau does not)."""
    import keras

    class WarmReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
        def on_epoch_end(self, epoch, logs=None):
            if epoch >= start_from_epoch:
                super().on_epoch_end(epoch, logs)

    return WarmReduceLROnPlateau(**kwargs)


def class_weights(labels: np.ndarray, n_classes: int = len(LABELS)) -> dict[int, float]:
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    counts[counts == 0] = 1.0
    return {i: float(len(labels) / (n_classes * c)) for i, c in enumerate(counts)}


def _dataset(images: np.ndarray, labels: np.ndarray, batch: int, seed: int, augment: bool):
    import keras
    import tensorflow as tf

    n_classes = len(LABELS)
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if augment:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        aug = keras.Sequential([
            keras.layers.RandomRotation(0.03, fill_mode="constant", seed=seed),
            keras.layers.RandomTranslation(0.06, 0.06, fill_mode="constant", seed=seed + 1),
            keras.layers.RandomZoom((-0.1, 0.1), fill_mode="constant", seed=seed + 2),
            keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 3),
            keras.layers.RandomBrightness(0.08, value_range=(0, 255), seed=seed + 4),
        ])

    def to_input(x, y):
        x = tf.cast(x, tf.float32)[..., None]
        x = tf.repeat(x, 3, axis=-1)
        return x, tf.one_hot(y, n_classes)

    ds = ds.batch(batch).map(to_input, num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        ds = ds.map(lambda x, y: (tf.clip_by_value(aug(x, training=True), 0.0, 255.0), y),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(2)


class _State:
    """``state.json`` in the output folder: which phases are finished."""

    def __init__(self, out: Path):
        self.path = out / "state.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def done(self, phase: str) -> bool:
        return phase in self.data.get("finished", [])

    def finish(self, phase: str) -> None:
        self.data.setdefault("finished", []).append(phase)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        os.replace(tmp, self.path)


def _run_phase(model, cfg: TrainConfig, out: Path, phase: str, size: int, epochs: int,
               lr: float, pool: Pool, split: Split, train_idx: np.ndarray) -> None:
    import keras

    print(f"[{phase}] preparing {len(train_idx)} training and {len(split.val)} validation "
          f"images at {size}x{size}", flush=True)
    x_train = load_inputs(pool, train_idx, size)
    x_val = load_inputs(pool, split.val, size)
    y_train, y_val = pool.labels[train_idx], pool.labels[split.val]
    # Fine-tuning (phase 2) starts from trained weights: no warm-up needed there.
    warmup = cfg.warmup if phase == "phase1" else 0
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    best = out / f"best-{phase}.keras"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out / f"backup-{phase}")),
        keras.callbacks.ModelCheckpoint(str(best), monitor="val_loss", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=6,
                                      start_from_epoch=warmup),
        _plateau_schedule(warmup, monitor="val_loss", factor=0.3, patience=3, min_lr=1e-6,
                          verbose=1),
        keras.callbacks.CSVLogger(str(out / f"log-{phase}.csv"), append=True),
    ]
    t0 = time.time()
    model.fit(_dataset(x_train, y_train, cfg.batch, cfg.seed, augment=True),
              validation_data=_dataset(x_val, y_val, cfg.batch, cfg.seed, augment=False),
              epochs=epochs, class_weight=class_weights(y_train), callbacks=callbacks,
              shuffle=False,  # the tf.data pipeline shuffles
              verbose=2)
    print(f"[{phase}] done in {time.time() - t0:.0f} s", flush=True)
    if best.exists():  # continue from the best epoch, not the last
        model.load_weights(best)


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train per ``cfg``; returns the path of the final ``model.keras``."""
    import keras

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    state = _State(out)
    if state.data and not resume:
        raise SystemExit(f"lungview: error: {out}: holds an earlier run; pass --resume to "
                         "continue it or choose another --out")
    keras.utils.set_random_seed(cfg.seed)
    pool = read_pool(cfg.data)
    split = make_split(pool, cfg.protocol, cfg.seed)
    train_idx = split.train
    if cfg.limit is not None:  # an evenly spread subset keeps every class represented
        train_idx = train_idx[np.linspace(0, len(train_idx) - 1, cfg.limit).astype(int)]
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    (out / "split.json").write_text(json.dumps(
        {k: [pool.paths[i] for i in getattr(split, k)] for k in ("train", "val", "test")}))

    model = build_efficientnet_b0(size=None, weights=cfg.weights,
                                  bn_momentum=cfg.bn_momentum)
    phases = [("phase1", cfg.size1, cfg.epochs1, cfg.lr1),
              ("phase2", cfg.size2, cfg.epochs2, cfg.lr2)]
    for name, size, epochs, lr in phases:
        if state.done(name):
            model.load_weights(out / f"end-{name}.weights.h5")
            print(f"[{name}] already finished, weights reloaded", flush=True)
            continue
        if epochs > 0:
            _run_phase(model, cfg, out, name, size, epochs, lr, pool, split, train_idx)
        model.save_weights(out / f"end-{name}.weights.h5")
        state.finish(name)

    # The shipped model: a fixed input of the last trained phase's size (the card's input
    # size), no optimizer state. Weights trained at 256 only are not fit for 512 input.
    final = build_efficientnet_b0(size=cfg.final_size)
    final.set_weights(model.get_weights())
    path = out / "model.keras"
    final.save(path, include_optimizer=False)
    print(f"model written to {path}", flush=True)
    return path
