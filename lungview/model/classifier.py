"""Loading the classifier (hash-checked against its card) and compiled prediction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lungview.errors import ModelError
from lungview.imaging.preprocess import Placement, to_model_input
from lungview.model.card import BUNDLED_MODEL, ModelCard, verified_card


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]
    seconds: float

    @property
    def malignant_probability(self) -> float:
        return float(self.probabilities.get("malignant", 0.0))


class Classifier:
    """A Keras classifier plus its card. Build with :meth:`load` (file + card, hash checked)
    or :meth:`from_model` (an in-memory model, e.g. in tests)."""

    def __init__(self, keras_model, card: ModelCard, path: Path | None = None) -> None:
        import tensorflow as tf

        self.keras_model = keras_model
        self.card = card
        self.path = path
        shape = keras_model.input_shape
        if shape[1] not in (None, card.input_size):
            raise ModelError(f"{path or card.name}: model input {shape[1:3]} differs from "
                             f"the card's input size {card.input_size}")
        n_out = keras_model.output_shape[-1]
        if n_out != len(card.labels):
            raise ModelError(f"{path or card.name}: model has {n_out} outputs but the card "
                             f"lists {len(card.labels)} labels")
        try:
            keras_model.get_layer(card.cam_layer)
        except ValueError:
            raise ModelError(f"{path or card.name}: CAM layer {card.cam_layer!r} named in "
                             "the card is not a layer of the model") from None
        size = card.input_size
        # One compiled graph for every call: an eager call costs 250-450 ms on 2 cores.
        self._predict = tf.function(
            lambda x: keras_model(x, training=False),
            input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)],
            reduce_retracing=True)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> "Classifier":
        """Load ``path`` (default: the bundled model) after checking its sha256 against the
        card beside it. Raises ModelError on any problem."""
        path = Path(path) if path else BUNDLED_MODEL
        card = verified_card(path)
        import keras

        try:
            model = keras.saving.load_model(path, compile=False)
        except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
            raise ModelError(f"{path}: cannot load the model ({type(exc).__name__}: "
                             f"{exc})") from None
        return cls(model, card, path)

    @classmethod
    def from_model(cls, keras_model, labels: tuple[str, ...], cam_layer: str = "top_conv",
                   name: str = "in-memory", version: str = "0") -> "Classifier":
        card = ModelCard(name=name, version=version, labels=tuple(labels),
                         input_size=int(keras_model.input_shape[1]), cam_layer=cam_layer,
                         sha256="")
        return cls(keras_model, card)

    # -- properties ---------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    @property
    def input_size(self) -> int:
        return self.card.input_size

    @property
    def cam_layer(self) -> str:
        return self.card.cam_layer

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def sha256(self) -> str:
        return self.card.sha256

    def identity(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    # -- prediction ---------------------------------------------------------------------
    def prepare(self, gray: np.ndarray) -> tuple[np.ndarray, Placement]:
        """The one preprocessing (lungview.imaging.preprocess) at this model's size."""
        return to_model_input(gray, self.input_size)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, n_classes) for model inputs (N, S, S, 3) float32 0-255."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        return np.asarray(self._predict(batch), dtype=np.float64)

    def warm_up(self) -> None:
        """Trace and run the compiled graph once, so the first real call is not charged
        with compilation (seconds reported per prediction exclude start-up)."""
        self.predict(np.zeros((1, self.input_size, self.input_size, 3), np.float32))

    def classify(self, gray: np.ndarray) -> Prediction:
        """Predict one 0-255 grayscale slice; ``seconds`` is the compute time only."""
        x, _ = self.prepare(gray)
        t0 = time.perf_counter()
        probs = self.predict(x[None])[0]
        seconds = time.perf_counter() - t0
        return Prediction(label=self.labels[int(np.argmax(probs))],
                          probabilities={k: float(p) for k, p in zip(self.labels, probs)},
                          seconds=seconds)
