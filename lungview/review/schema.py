"""Where the review database lives, its schema, and the migrations that build it.

The schema version is SQLite's ``PRAGMA user_version``: 0 for a new file, ``N`` after
``MIGRATIONS[:N]`` ran. To change the schema, *append* a step (never edit a released one:
files in the field were built by it) and add a test that opens a file of the previous
version. A step is SQL text (statements separated by ``;``) or a function
``step(connection)`` for changes SQL alone cannot express; each step runs in its own
``BEGIN IMMEDIATE`` transaction together with the version bump, so a crash or a second
process opening the file at the same time leaves it at one version or the next, never
half-migrated.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Callable, Sequence

#: file name of the database inside the data folder
DB_NAME = "reviews.sqlite3"

SCHEMA_V1 = """
CREATE TABLE cases (
    case_id     TEXT PRIMARY KEY,
    case_label  TEXT NOT NULL,
    source_path TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE readings (
    id              INTEGER PRIMARY KEY,
    case_id         TEXT NOT NULL REFERENCES cases(case_id) ON DELETE CASCADE,
    method          TEXT NOT NULL,
    slice_index     INTEGER NOT NULL CHECK (slice_index >= 0),
    reviewer        TEXT NOT NULL DEFAULT '',
    study           TEXT NOT NULL DEFAULT '',
    comment         TEXT NOT NULL DEFAULT '',
    focus           TEXT CHECK (focus IN ('yes', 'partial', 'no')),
    missed_lesions  TEXT NOT NULL DEFAULT '',
    missed_count    INTEGER CHECK (missed_count >= 0),
    fp_normal_lung  INTEGER NOT NULL DEFAULT 0 CHECK (fp_normal_lung IN (0, 1)),
    fp_bone         INTEGER NOT NULL DEFAULT 0 CHECK (fp_bone IN (0, 1)),
    fp_heart        INTEGER NOT NULL DEFAULT 0 CHECK (fp_heart IN (0, 1)),
    fp_mirror       INTEGER NOT NULL DEFAULT 0 CHECK (fp_mirror IN (0, 1)),
    usefulness      INTEGER CHECK (usefulness BETWEEN 1 AND 5),
    agreement       TEXT CHECK (agreement IN ('agree', 'disagree')),
    pointing_hit    INTEGER CHECK (pointing_hit IN (0, 1)),
    energy_share    REAL CHECK (energy_share BETWEEN 0 AND 1),
    model_name      TEXT,
    model_version   TEXT,
    model_sha256    TEXT,
    target_class    TEXT,
    predicted_label TEXT,
    predicted_prob  REAL CHECK (predicted_prob BETWEEN 0 AND 1),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    completed_at    TEXT,
    UNIQUE (case_id, method, slice_index, reviewer, study)
);
CREATE TABLE regions (
    id          INTEGER PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases(case_id) ON DELETE CASCADE,
    reviewer    TEXT NOT NULL DEFAULT '',
    slice_index INTEGER NOT NULL CHECK (slice_index >= 0),
    kind        TEXT NOT NULL CHECK (kind IN ('box', 'polygon')),
    points      TEXT NOT NULL,  -- JSON [[row, col], ...] in original pixels
    created_at  TEXT NOT NULL
);
CREATE INDEX regions_by_slice ON regions (case_id, reviewer, slice_index);
CREATE TABLE studies (
    name       TEXT PRIMARY KEY,
    seed       INTEGER NOT NULL,
    methods    TEXT NOT NULL,  -- JSON list of CAM method names
    created_at TEXT NOT NULL
);
CREATE TABLE study_cases (
    study    TEXT NOT NULL REFERENCES studies(name) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    case_id  TEXT NOT NULL REFERENCES cases(case_id),
    PRIMARY KEY (study, position),
    UNIQUE (study, case_id)
);
"""

Migration = str | Callable[[sqlite3.Connection], None]

#: step i turns a version-i file into version i+1
MIGRATIONS: list[Migration] = [SCHEMA_V1]


def default_data_dir() -> Path:
    """The user's lungview data folder (not created here).

    ``LUNGVIEW_DATA_DIR`` when set (tests and portable installs); otherwise
    ``%APPDATA%/lungview`` on Windows, ``~/Library/Application Support/lungview`` on macOS
    and ``$XDG_DATA_HOME/lungview`` (default ``~/.local/share/lungview``) elsewhere.
    """
    override = os.environ.get("LUNGVIEW_DATA_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform.startswith("win"):
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "lungview"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "lungview"
    xdg = os.environ.get("XDG_DATA_HOME")
    # the XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored
    base_dir = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local/share"
    return base_dir / "lungview"


def default_db_path() -> Path:
    """``default_data_dir() / reviews.sqlite3``."""
    return default_data_dir() / DB_NAME


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _statements(script: str) -> list[str]:
    """Split SQL text into statements (``executescript`` would commit our transaction)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in migration: {current.strip()[:60]}")
    return out


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to ``len(migrations)``; return the version it was at.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Raises
    ``sqlite3.Error`` from SQLite and :class:`NewerSchemaError` for a file written by a
    newer lungview (which this one must not touch).
    """
    start = schema_version(conn)
    target = len(migrations)
    if start > target:
        raise NewerSchemaError(start, target)
    for version in range(start, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # re-read under the write lock: another process may have migrated meanwhile
            if schema_version(conn) > version:
                conn.execute("COMMIT")
                continue
            step = migrations[version]
            if isinstance(step, str):
                for statement in _statements(step):
                    conn.execute(statement)
            else:
                step(conn)
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return start


class NewerSchemaError(Exception):
    """The file's schema version is above the newest this code knows."""

    def __init__(self, found: int, known: int) -> None:
        self.found, self.known = found, known
        super().__init__(f"schema v{found}, this lungview knows up to v{known}")
