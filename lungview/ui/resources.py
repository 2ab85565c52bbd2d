"""Where the viewer's bundled files are: the demo case, the shortcut sheet, icons.

They live in the repository's ``resources/`` folder (next to the package), which a frozen
build must ship too; ``LUNGVIEW_RESOURCES`` points elsewhere when it does not.
"""

from __future__ import annotations

import os
from pathlib import Path

RESOURCES_DIR = Path(os.environ.get("LUNGVIEW_RESOURCES")
                     or Path(__file__).resolve().parents[2] / "resources")
DEMO_DIR = RESOURCES_DIR / "demo"
#: The case opened when lungview starts without a path: 10 slices of TCIA Lung_Dx-A0002.
DEMO_CASE = DEMO_DIR / "lung-pet-ct-dx-A0002" / "series-3-B40f"
SHORTCUTS_FILE = RESOURCES_DIR / "shortcuts.md"
APP_ICON = RESOURCES_DIR / "icons" / "lungview.png"
