"""The CAM methods: one registry, and the per-method maths on plain numpy arrays.

Every method turns what the engine computed at the CAM layer into a raw map at the layer's
resolution (``h`` x ``w``); the engine then applies the one shared post-processing
(:func:`lungview.explain.result.finalize`). No TensorFlow here, so the maths is testable
and readable on its own.

Notation: ``A`` are the CAM layer's activations ``(h, w, K)`` for one image, ``G`` the
gradients ``dS/dA`` of the target's **pre-softmax** score ``S`` (the logit: the softmax
output saturates, and its gradient vanishes for confident predictions, which is why every
reference implementation replaces the softmax by a linear output for gradient CAMs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: How a method gets its inputs from the engine.
#: ``gradient``: one shared forward/backward pass of the clean image (A, G).
#: ``smooth``: a batched forward/backward pass of noisy copies.
#: ``score``: forward passes of the image masked by each (or the top-N) activation maps.
KINDS = ("gradient", "smooth", "score")


@dataclass(frozen=True)
class CamMethod:
    """One registry entry.

    Attributes
    ----------
    name : registry name (``lungview explain --method NAME``).
    kind : one of :data:`KINDS`.
    title : human name for legends and tables.
    reference : the paper or implementation the maths follows.
    """

    name: str
    kind: str
    title: str
    reference: str


def gradcam(A: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Grad-CAM: channel weights are the spatial mean of the gradients.

    Parameters
    ----------
    A, G : activations and gradients of the pre-softmax target score, ``(h, w, K)``.

    Returns
    -------
    The raw map ``sum_k w_k A_k``, ``(h, w)`` float64 (before ReLU).
    """
    A, G = _f64(A), _f64(G)
    weights = G.mean(axis=(0, 1))
    return A @ weights


def gradcam_plus_plus(A: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Grad-CAM++ with the exp-logit closed form, as tf-keras-vis 0.8.7 computes it.

    With ``Y = exp(S)`` (``S`` the pre-softmax score), the paper's higher derivatives are
    ``dY/dA = Y G``, ``d2Y/dA2 = Y G^2``, ``d3Y/dA3 = Y G^3``. ``Y`` cancels in
    ``alpha = G^2 / (2 G^2 + G^3 sum(A))`` and is a positive constant factor of the map,
    which the min-max normalisation removes; it is therefore left out, which also avoids
    ``exp`` overflowing for logits above ~88. As in tf-keras-vis, alphas are further
    divided by their spatial sum per channel, and the map is ``sum_k w_k A_k`` with
    ``w_k = sum_ij relu(G_kij) alpha_kij``.

    Parameters
    ----------
    A, G : activations and gradients of the pre-softmax target score, ``(h, w, K)``.
    """
    A, G = _f64(A), _f64(G)
    g2 = G * G
    g3 = g2 * G
    global_sum = A.sum(axis=(0, 1), keepdims=True)
    denom = 2.0 * g2 + g3 * global_sum
    denom = denom + (g2 == 0.0)            # where G == 0, alpha = 0 / 1 = 0
    alphas = g2 / denom
    norm = alphas.sum(axis=(0, 1), keepdims=True)
    alphas = alphas / (norm + (norm == 0.0))
    weights = (np.maximum(G, 0.0) * alphas).sum(axis=(0, 1))
    return A @ weights


def xgradcam(A: np.ndarray, G: np.ndarray) -> np.ndarray:
    """XGrad-CAM (Fu et al. 2020): ``w_k = sum_ij (A_kij / sum_ij A_kij) G_kij``.

    Channels whose activations sum to zero get weight zero (their map is zero anyway).

    Parameters
    ----------
    A, G : activations and gradients of the pre-softmax target score, ``(h, w, K)``.
    """
    A, G = _f64(A), _f64(G)
    total = A.sum(axis=(0, 1))
    safe = np.where(total == 0.0, 1.0, total)
    weights = (A * G).sum(axis=(0, 1)) / safe
    return A @ weights


def layercam(A: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Layer-CAM (Jiang et al. 2021): element-wise ``sum_k relu(G_k) * A_k``.

    Parameters
    ----------
    A, G : activations and gradients of the pre-softmax target score, ``(h, w, K)``.
    """
    A, G = _f64(A), _f64(G)
    return (A * np.maximum(G, 0.0)).sum(axis=-1)


def smoothgrad_cam_pp(As: np.ndarray, Gs: np.ndarray) -> np.ndarray:
    """SmoothGrad-CAM++: the mean over noisy copies of each copy's ReLU'd Grad-CAM++ map.

    Parameters
    ----------
    As, Gs : activations and gradients for ``n`` noisy copies, ``(n, h, w, K)``.
    """
    maps = [np.maximum(gradcam_plus_plus(a, g), 0.0) for a, g in zip(As, Gs)]
    return np.mean(maps, axis=0)


def score_weighted(A: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Score-CAM's map: ``sum_k s_k A_k`` with ``s_k`` the softmax probability of the
    target for the input masked by channel ``k`` (tf-keras-vis: no baseline subtracted).

    Parameters
    ----------
    A : activations of the channels that were scored, ``(h, w, K')``.
    scores : one probability per channel, ``(K',)``.
    """
    return _f64(A) @ _f64(scores)


def top_channels(A: np.ndarray, n: int | None) -> np.ndarray:
    """Indices of the ``n`` channels with the largest spatial standard deviation (Faster
    Score-CAM; tf-keras-vis ``max_N``), or all channels when ``n`` is None or covers them.

    Ties are broken by channel order, as ``tf.math.top_k`` does.
    """
    k = A.shape[-1]
    if n is None or n >= k:
        return np.arange(k)
    std = _f64(A).reshape(-1, k).std(axis=0)
    return np.argsort(-std, kind="stable")[:n]


GRADIENT_MAPS = {
    "gradcam": gradcam,
    "gradcam++": gradcam_plus_plus,
    "xgradcam": xgradcam,
    "layercam": layercam,
}

REGISTRY: dict[str, CamMethod] = {}


def register(method: CamMethod) -> None:
    """Add a method to the registry (names are unique)."""
    if method.kind not in KINDS:
        raise ValueError(f"unknown method kind {method.kind!r}")
    REGISTRY[method.name] = method


for _m in (
    CamMethod("gradcam", "gradient", "Grad-CAM", "Selvaraju et al., ICCV 2017"),
    CamMethod("gradcam++", "gradient", "Grad-CAM++", "Chattopadhay et al., WACV 2018"),
    CamMethod("xgradcam", "gradient", "XGrad-CAM", "Fu et al., BMVC 2020"),
    CamMethod("layercam", "gradient", "Layer-CAM", "Jiang et al., IEEE TIP 2021"),
    CamMethod("scorecam", "score", "Score-CAM", "Wang et al., CVPR-W 2020"),
    CamMethod("scorecam-fast", "score", "Faster Score-CAM",
              "tabayashi0117/Score-CAM; tf-keras-vis max_N"),
    CamMethod("smoothgrad-cam++", "smooth", "SmoothGrad-CAM++", "Omeiza et al., 2019"),
):
    register(_m)

#: The seven method names, in display order.
METHOD_NAMES: tuple[str, ...] = tuple(REGISTRY)


def _f64(a: np.ndarray) -> np.ndarray:
    # float64 for the products and sums: G^3 of small logit gradients underflows float32
    return np.asarray(a, dtype=np.float64)
