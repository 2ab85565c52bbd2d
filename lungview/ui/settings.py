"""User settings (recent files) in an INI file under the XDG config folder.

The path is computed here rather than by QSettings' defaults because Qt resolves its
default locations once per process; tests (and users) set ``XDG_CONFIG_HOME`` and expect it
to be honoured every time.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

ORGANIZATION = "lungview"
APPLICATION = "lungview"
MAX_RECENT = 10
_RECENT_KEY = "recent/paths"


def settings_path() -> Path:
    """``$XDG_CONFIG_HOME/lungview/lungview.ini`` (``~/.config`` when the variable is unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / ORGANIZATION / f"{APPLICATION}.ini"


def open_settings() -> QSettings:
    """The app's QSettings (INI format at :func:`settings_path`)."""
    return QSettings(str(settings_path()), QSettings.Format.IniFormat)


class RecentFiles:
    """Most-recently-opened paths, newest first, de-duplicated, at most ``MAX_RECENT``."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings if settings is not None else open_settings()

    def paths(self) -> list[str]:
        value = self._settings.value(_RECENT_KEY, [])
        # INI stores a one-element list as a plain string.
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or []) if str(v)]

    def add(self, path: str | os.PathLike[str]) -> list[str]:
        text = str(Path(path).expanduser().absolute())
        paths = [text] + [p for p in self.paths() if p != text]
        self._store(paths[:MAX_RECENT])
        return self.paths()

    def clear(self) -> None:
        self._store([])

    def _store(self, paths: list[str]) -> None:
        self._settings.setValue(_RECENT_KEY, paths)
        self._settings.sync()
