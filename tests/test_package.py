"""The package contract: cheap import, version, the layering rules."""

from __future__ import annotations

import subprocess
import sys

from lungview import __version__
from tests.conftest import ROOT


def test_import_is_light():
    code = ("import sys, lungview, lungview.cli, lungview.errors;"
            "heavy=[m for m in ('tensorflow','keras','PySide6') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"importing lungview pulled in: {out}"


def test_version_command():
    proc = subprocess.run([sys.executable, "-m", "lungview", "--version"],
                          capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"lungview {__version__}"


def test_layering_contract():
    """import-linter: no Qt outside lungview.ui, no TensorFlow in io/imaging/review,
    dependencies pointing one way (contracts in pyproject.toml)."""
    lint = ROOT / ".venv" / "bin" / "lint-imports"
    exe = str(lint) if lint.exists() else "lint-imports"
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
