"""PyInstaller entry point of the desktop build: the same ``lungview`` command as the pip
install (``lungview.cli.main``), so the built app takes the same arguments, including
``--self-test``."""

from __future__ import annotations

import sys

from lungview.cli import main

if __name__ == "__main__":
    sys.exit(main())
