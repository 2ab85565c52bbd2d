"""Shared fixtures. Real data lives in ../shared (absent on a fresh clone: tests skip)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LUNGVIEW_SHARED", ROOT.parent / "shared"))
SHARED_DATA = SHARED / "data"

# Headless Qt for every test; settings and the review database go to a temp folder.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    data_dir = tmp_path_factory.mktemp("lungview-data")
    monkeypatch.setenv("LUNGVIEW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(data_dir / "config"))
    yield


@pytest.fixture
def shared_data() -> Path:
    """Path of ../shared/data, or skip the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (fresh clone): real-data test skipped")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model():
    """A small Keras classifier with the production head and a ``top_conv`` layer."""
    from lungview.model.architecture import build_tiny_classifier

    return build_tiny_classifier(size=64)
