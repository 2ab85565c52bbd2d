"""The CAM engine: one compiled sub-model, every method in the registry, one cache.

Base mechanism
--------------
A Keras sub-model ``model.input -> [CAM-layer activations, input of the final Dense]`` is
wrapped in ``tf.function``\\ s with fixed input signatures (traced once per engine). The
pre-softmax logits are rebuilt from the Dense layer's own kernel and bias, so the user's
model is never copied or modified, and every gradient method differentiates the
**logit** of the target class, never the softmax output.

- Gradient methods (``gradcam``, ``gradcam++``, ``xgradcam``, ``layercam``) requested
  together share ONE forward/backward pass; each only re-weights ``A`` and ``dS/dA``.
- ``smoothgrad-cam++`` runs one batched forward/backward pass over its noisy copies.
- ``scorecam`` / ``scorecam-fast`` mask the input by each (top-N) channel, upsampled and
  min-max normalised, in batches whose size bounds memory, scoring the softmax
  probability of the target (as tf-keras-vis). ``progress(done, total)`` is called after
  each batch and cancellation is checked between batches (raises
  :class:`~lungview.explain.result.ExplainCancelled`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Callable, Iterable, Sequence

import numpy as np

from lungview.errors import ExplainError
from lungview.explain import methods as M
from lungview.explain.result import (ALIGNMENTS, CamResult, ExplainCancelled, finalize,
                                      resolve_target, upsample_matrix)
from lungview.imaging.preprocess import Placement, placement_for, to_model_input
from lungview.model.architecture import CAM_LAYER, LABELS

Progress = Callable[[int, int], None]


def parse_methods(methods: str | Iterable[str]) -> list[str]:
    """Validate method names (``"all"`` means every registered method, in display order).

    Raises
    ------
    ExplainError : for an unknown name.
    """
    names = [methods] if isinstance(methods, str) else list(methods)
    out: list[str] = []
    for name in names:
        name = name.strip().lower()
        expanded = list(M.REGISTRY) if name == "all" else [name]
        for item in expanded:
            if item not in M.REGISTRY:
                raise ExplainError(f"unknown CAM method {item!r}; choose from "
                                   f"{', '.join(M.REGISTRY)} or all")
            if item not in out:
                out.append(item)
    if not out:
        raise ExplainError("no CAM method requested")
    return out


def default_score_batch(size: int) -> int:
    """Masked images per Score-CAM forward pass: 32 at 224 px, shrinking with the area
    (6 at 512), which keeps an EfficientNetB0's peak memory well under 3 GB."""
    return int(max(1, min(32, round(32 * (224.0 / size) ** 2))))


class CamEngine:
    """Class activation maps for one Keras classifier.

    Parameters
    ----------
    model : a Keras classifier whose last layer is a Dense (softmax) layer.
    labels : class names, in output order.
    cam_layer : name of the convolutional layer to explain (``top_conv``).
    input_size : side of the square input; read from the model when it has a fixed one.
    model_sha256 : identifies the weights in cache keys; hashed from the weights if None.
    cache_size : number of maps kept (LRU; about 2 MB each at 512 px).
    top_n : channels kept by ``scorecam-fast`` (tf-keras-vis ``max_N``).
    smooth_samples, smooth_noise : noisy copies for ``smoothgrad-cam++`` and the noise
        standard deviation as a fraction of ``input_range``.
    input_range : range of the model input (0-255 here).
    alignment : how CAM-layer cells map onto input pixels, for the maps and for the
        Score-CAM masks (see :func:`lungview.explain.result.cell_centres`). ``"auto"``
        (default) places each cell on its receptive-field centre; ``"corners"`` reproduces
        tf-keras-vis' ``scipy.ndimage.zoom(order=1)``, used by the equivalence tests.
    score_batch : masked images per Score-CAM batch (default :func:`default_score_batch`).
    seed : seeds the SmoothGrad noise, so the same slice always gives the same map.
    """

    def __init__(self, model, *, labels: Sequence[str] = LABELS, cam_layer: str = CAM_LAYER,
                 input_size: int | None = None, model_sha256: str | None = None,
                 cache_size: int = 32, top_n: int = 10, smooth_samples: int = 4,
                 smooth_noise: float = 0.3, input_range: float = 255.0,
                 score_batch: int | None = None, seed: int = 0,
                 alignment: str = "auto") -> None:
        import keras
        import tensorflow as tf

        self.model = model
        self.labels = tuple(labels)
        self.cam_layer = cam_layer
        if top_n < 1:
            raise ExplainError(f"top-N must be at least 1, got {top_n}")
        self.top_n = int(top_n)
        self.smooth_samples = max(1, int(smooth_samples))
        self.smooth_noise = float(smooth_noise)
        self.input_range = float(input_range)
        self.seed = seed
        if alignment not in ALIGNMENTS:
            raise ExplainError(f"unknown alignment {alignment!r}; choose from {ALIGNMENTS}")
        self.alignment = alignment
        try:
            layer = model.get_layer(cam_layer)
        except ValueError as exc:
            raise ExplainError(f"the model has no layer named {cam_layer!r}") from exc
        head = model.layers[-1]
        if not isinstance(head, keras.layers.Dense):
            raise ExplainError("the model's last layer must be a Dense classifier head "
                               f"(found {type(head).__name__})")
        if len(layer.output.shape) != 4:
            raise ExplainError(f"layer {cam_layer!r} is not a 2-D convolutional feature map")
        shape = model.inputs[0].shape
        size = input_size or shape[1]
        if size is None or (shape[1] is not None and shape[1] != size):
            raise ExplainError("the model input size is unknown or differs from input_size")
        self.input_size = int(size)
        if head.units != len(self.labels):
            raise ExplainError(f"the model has {head.units} outputs but "
                               f"{len(self.labels)} labels were given")
        self.score_batch = int(score_batch or default_score_batch(self.input_size))
        self.sha256 = model_sha256 or _weights_digest(model)
        self._features = keras.Model(model.inputs, [layer.output, head.input],
                                     name="lungview_cam_features")
        kernel, bias = head.kernel, head.bias
        features = self._features
        S = self.input_size
        h, w = (int(d) for d in layer.output.shape[1:3])
        # Score-CAM masks use the same cell-to-pixel interpolation as the maps.
        up_rows = tf.constant(upsample_matrix(h, S, alignment))
        up_cols = tf.constant(upsample_matrix(w, S, alignment))

        def logits_of(pooled):
            out = tf.matmul(pooled, tf.convert_to_tensor(kernel))
            return out + tf.convert_to_tensor(bias) if bias is not None else out

        @tf.function(input_signature=[tf.TensorSpec([None, S, S, 3], tf.float32),
                                      tf.TensorSpec([], tf.int32)], reduce_retracing=True)
        def grads(x, target):
            """A, dS/dA and logits; ``target < 0`` means each row's predicted class."""
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                acts, pooled = features(x, training=False)
                logits = logits_of(pooled)
                chosen = tf.where(target < 0, tf.argmax(logits, axis=-1, output_type=tf.int32),
                                  tf.fill(tf.shape(logits)[:1], target))
                score = tf.gather(logits, chosen, axis=1, batch_dims=1)
            return acts, tape.gradient(score, acts), logits

        @tf.function(input_signature=[tf.TensorSpec([None, S, S, 3], tf.float32)],
                     reduce_retracing=True)
        def forward(x):
            acts, pooled = features(x, training=False)
            return acts, logits_of(pooled)

        @tf.function(input_signature=[tf.TensorSpec([1, S, S, 3], tf.float32),
                                      tf.TensorSpec([None, None, None], tf.float32),
                                      tf.TensorSpec([], tf.int32)], reduce_retracing=True)
        def masked_scores(x, acts, target):
            """Softmax probability of ``target`` for ``x`` masked by each channel of
            ``acts`` (h, w, b): linear upsampling between cell centres (as the maps),
            then per-channel min-max to [0, 1] (epsilon 1e-7, as tf-keras-vis)."""
            up = tf.einsum("ih,hwb,jw->bij", up_rows, acts, up_cols)[..., None]
            lo = tf.reduce_min(up, axis=(1, 2), keepdims=True)
            hi = tf.reduce_max(up, axis=(1, 2), keepdims=True)
            masks = (up - lo) / (hi - lo + 1e-7)
            masked = x * masks                                      # (b, S, S, 3)
            _, pooled = features(masked, training=False)
            return tf.nn.softmax(logits_of(pooled), axis=-1)[:, target]

        self._grads, self._forward, self._masked_scores = grads, forward, masked_scores
        self._cache: OrderedDict[tuple, CamResult] = OrderedDict()
        self._pred_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._cache_size = max(0, int(cache_size))
        self._cancel = threading.Event()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_classifier(cls, classifier, **kwargs) -> "CamEngine":
        """Engine for a loaded :class:`lungview.model.classifier.Classifier`."""
        return cls(classifier.keras_model, labels=classifier.labels,
                   cam_layer=classifier.cam_layer, input_size=classifier.input_size,
                   model_sha256=classifier.sha256, **kwargs)

    # ------------------------------------------------------------------ public API
    def cancel(self) -> None:
        """Ask the computation in progress to stop at its next batch boundary (it raises
        ExplainCancelled). A no-op when nothing runs: each call clears the flag at start."""
        self._cancel.set()

    def warm_up(self, methods: str | Iterable[str] = "all") -> None:
        """Trace the compiled functions ``methods`` need on a blank input, so the first
        real map's ``seconds`` is not charged with graph compilation (about a second)."""
        import tensorflow as tf

        kinds = {M.REGISTRY[n].kind for n in parse_methods(methods)}
        S = self.input_size
        zero = tf.zeros((1, S, S, 3), tf.float32)
        acts, _ = self._forward(zero)
        if kinds & {"gradient", "smooth"}:
            self._grads(zero, tf.constant(0, tf.int32))
        if "score" in kinds:
            self._masked_scores(zero, acts[0, ..., :1], tf.constant(0, tf.int32))

    def clear_cache(self) -> None:
        self._cache.clear()
        self._pred_cache.clear()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Softmax probabilities for a (N, S, S, 3) or (S, S, 3) model input."""
        x = self._batch(x)
        _, logits = self._forward(x)
        return _softmax(logits.numpy())

    def explain(self, gray: np.ndarray, methods: str | Iterable[str] = "gradcam",
                target: int | str | None = None, *, key: object = None,
                slice_index: int = 0, progress: Progress | None = None,
                cancelled: Callable[[], bool] | None = None) -> dict[str, CamResult]:
        """Maps for one 2-D 0-255 slice (converted with the one model-input transform).

        Parameters
        ----------
        gray : the slice as the model sees it before ``to_model_input`` (any geometry).
        methods : a registry name, a list of them, or ``"all"``.
        target : class to explain: None (the predicted class), a label or an index.
        key : identifies the image (e.g. ``series.case_id``) for the cache; None disables
            caching for this call.
        slice_index : slice number within ``key``.
        progress : ``progress(done, total)`` after each Score-CAM batch.
        cancelled : polled between batches; returning True cancels like :meth:`cancel`.

        Returns
        -------
        dict method name -> :class:`CamResult`, in the requested order. A cached result
        is returned as the same object, without recomputation.

        Raises
        ------
        ExplainError : unknown method or class. ExplainCancelled : cancelled.
        """
        try:
            x, place = to_model_input(gray, self.input_size)
        except ValueError as exc:
            raise ExplainError(f"cannot explain this image: {exc}") from exc
        return self.explain_input(x, place, methods, target, key=key, slice_index=slice_index,
                                  progress=progress, cancelled=cancelled)

    def explain_input(self, x: np.ndarray, place: Placement | None = None,
                      methods: str | Iterable[str] = "gradcam",
                      target: int | str | None = None, *, key: object = None,
                      slice_index: int = 0, progress: Progress | None = None,
                      cancelled: Callable[[], bool] | None = None) -> dict[str, CamResult]:
        """As :meth:`explain`, for an already prepared (S, S, 3) float32 model input.
        ``place`` defaults to a square slice filling the input."""
        names = parse_methods(methods)
        x = self._batch(x)[:1]
        place = place or placement_for(self.input_size, self.input_size, self.input_size)
        self._cancel.clear()
        with self._lock:
            return self._explain(x, place, names, target, key, slice_index, progress,
                                 cancelled)

    # ------------------------------------------------------------------ internals
    def _explain(self, x, place, names, target, key, slice_index, progress, cancelled):
        import tensorflow as tf

        pkey = None if key is None else (key, slice_index, self.sha256)
        probs = self._pred_cache.get(pkey) if pkey is not None else None
        index = (resolve_target(target, self.labels, probs)
                 if target is not None or probs is not None else None)
        results: dict[str, CamResult] = {}
        if index is not None and pkey is not None:
            for name in names:
                hit = self._cache_get((key, slice_index, name, index, self.sha256))
                if hit is not None:
                    results[name] = hit
        todo = [n for n in names if n not in results]
        if not todo:
            return {n: results[n] for n in names}

        kinds = {n: M.REGISTRY[n].kind for n in todo}
        shared_users = [n for n in todo if kinds[n] in ("gradient", "score")]
        t0 = time.perf_counter()
        xt = tf.constant(x)
        acts = grads = None
        if any(k == "gradient" for k in kinds.values()):
            t = -1 if index is None else index
            a, g, logits = self._grads(xt, tf.constant(t, tf.int32))
            acts, grads = a.numpy()[0], g.numpy()[0]
        else:
            a, logits = self._forward(xt)
            acts = a.numpy()[0]
        probs = _softmax(logits.numpy())[0]
        if index is None:
            index = resolve_target(target, self.labels, probs)
        if pkey is not None:
            _lru_put(self._pred_cache, pkey, probs, max(self._cache_size, 1))
        share = (time.perf_counter() - t0) / max(1, len(shared_users))

        for name in todo:
            ckey = (key, slice_index, name, index, self.sha256)
            hit = self._cache_get(ckey) if pkey is not None else None
            if hit is not None:
                results[name] = hit
                continue
            t1 = time.perf_counter()
            kind = kinds[name]
            if kind == "gradient":
                raw = M.GRADIENT_MAPS[name](acts, grads)
            elif kind == "smooth":
                raw = self._smooth(x, index)
            else:
                top = self.top_n if name == "scorecam-fast" else None
                raw = self._score(x, acts, index, top, progress, cancelled)
            post = finalize(raw, place, self.alignment)
            seconds = time.perf_counter() - t1 + (share if name in shared_users else 0.0)
            result = CamResult(method=name, target_index=index,
                               target_label=self.labels[index],
                               probability=float(probs[index]), seconds=seconds,
                               placement=place,
                               probabilities=tuple(float(v) for v in probs),
                               labels=self.labels, **post)
            if pkey is not None:
                _lru_put(self._cache, ckey, result, self._cache_size)
            results[name] = result
        return {n: results[n] for n in names}

    def _smooth(self, x: np.ndarray, index: int) -> np.ndarray:
        import tensorflow as tf

        # One gray noise field per copy, shared by the 3 identical channels: independent
        # per-channel noise would make colour images the model never saw. Not clipped,
        # as in SmoothGrad. Seeded, so the map is reproducible (and cacheable).
        rng = np.random.default_rng(self.seed)
        n, S = self.smooth_samples, self.input_size
        noise = rng.normal(0.0, self.smooth_noise * self.input_range, (n, S, S, 1))
        noisy = (x + noise).astype(np.float32)
        a, g, _ = self._grads(tf.constant(noisy), tf.constant(index, tf.int32))
        return M.smoothgrad_cam_pp(a.numpy(), g.numpy())

    def _score(self, x, acts, index, top, progress, cancelled) -> np.ndarray:
        import tensorflow as tf

        channels = M.top_channels(acts, top)
        total = len(channels)
        scores = np.empty(total, dtype=np.float64)
        xt = tf.constant(x)
        t = tf.constant(index, tf.int32)
        step = self.score_batch
        for start in range(0, total, step):
            if self._cancel.is_set() or (cancelled is not None and cancelled()):
                raise ExplainCancelled("class activation map cancelled")
            sub = np.ascontiguousarray(acts[..., channels[start:start + step]])
            scores[start:start + sub.shape[-1]] = self._masked_scores(
                xt, tf.constant(sub, tf.float32), t).numpy()
            if progress is not None:
                progress(min(start + step, total), total)
        return M.score_weighted(acts[..., channels], scores)

    def _batch(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 3:
            x = x[None]
        S = self.input_size
        if x.ndim != 4 or x.shape[1:] != (S, S, 3):
            raise ExplainError(f"expected a ({S}, {S}, 3) model input, got {x.shape[1:]}")
        return x

    def _cache_get(self, ckey: tuple) -> CamResult | None:
        hit = self._cache.get(ckey)
        if hit is not None:
            self._cache.move_to_end(ckey)
        return hit


def _lru_put(cache: OrderedDict, key: tuple, value, size: int) -> None:
    if size <= 0:
        return
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _weights_digest(model) -> str:
    """sha256 of the weights, for cache keys of models that came without a card."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()
