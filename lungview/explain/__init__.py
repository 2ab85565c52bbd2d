"""Class activation maps for the classifier, their faithfulness/agreement metrics and
overlays.

Importing this package is light: TensorFlow is loaded only when :class:`CamEngine` is
used. ``metrics``, ``overlay`` and ``result`` are pure numpy/OpenCV.

>>> from lungview.explain import CamEngine, METHOD_NAMES
>>> engine = CamEngine.from_classifier(classifier)              # doctest: +SKIP
>>> maps = engine.explain(gray, "all", target="malignant", key=case_id, slice_index=12)
"""

from __future__ import annotations

from lungview.explain.methods import METHOD_NAMES, REGISTRY, CamMethod, register
from lungview.explain.result import CamResult, ExplainCancelled

__all__ = ["CamEngine", "CamMethod", "CamResult", "ExplainCancelled", "METHOD_NAMES",
           "REGISTRY", "parse_methods", "register"]


def __getattr__(name: str):
    # The engine imports TensorFlow; keep it out of `import lungview.explain`.
    if name in ("CamEngine", "parse_methods"):
        from lungview.explain import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'lungview.explain' has no attribute {name!r}")
