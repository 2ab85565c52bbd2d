"""Classifier architectures. Built flat so that ``top_conv`` is a layer of the classifier
itself (a nested backbone hides it from CAM tools and gives "Graph disconnected")."""

from __future__ import annotations

LABELS = ("normal", "benign", "malignant")
CAM_LAYER = "top_conv"


def _set_bn_momentum(model, momentum: float) -> None:
    """From-scratch training on ~50 steps an epoch: Keras' default BatchNorm momentum of
    0.99 needs hundreds of steps before the moving statistics match the weights, and
    validation sits at chance meanwhile. A lower momentum lets them follow."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def build_efficientnet_b0(size: int | None = 512, n_classes: int = len(LABELS),
                          weights: str | None = None, dropout: float = 0.2,
                          bn_momentum: float | None = None):
    """The paper's classifier: EfficientNetB0 (no top) -> GAP -> Dropout -> Dense softmax.

    Parameters
    ----------
    size : input side; ``None`` builds a size-agnostic model (fully convolutional up to
        the pooling), which lets one set of weights train at 256 and fine-tune at 512.
    weights : ``None`` (offline default), ``"imagenet"`` or a path to a weights file for
        the backbone (e.g. ``efficientnetb0_notop.h5``).
    bn_momentum : when given, overrides every BatchNormalization momentum (training).
    """
    import keras

    inputs = keras.Input(shape=(size, size, 3), name="image")
    backbone = keras.applications.EfficientNetB0(
        include_top=False, weights=weights, input_tensor=inputs)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(backbone.output)
    x = keras.layers.Dropout(dropout, name="top_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="lungview_effnetb0")
    if bn_momentum is not None:
        _set_bn_momentum(model, bn_momentum)
    return model


def build_tiny_classifier(size: int | None = 64, n_classes: int = len(LABELS), seed: int = 0):
    """A small model with the same head and a conv layer named ``top_conv``: for tests,
    where an EfficientNet would cost seconds per call."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", name=CAM_LAYER)(x)
    x = keras.layers.Activation("relu", name="top_activation")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(0.2, name="top_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="lungview_tiny")
