"""The pending journal: where an edit goes when the database refuses it.

One JSON object per line, appended and fsynced, in a file next to the database
(``reviews.sqlite3.pending.jsonl``). Every entry is an idempotent "set" (set these
fields, replace this slice's regions, ...), so replaying an entry twice (a crash between
the replay's commit and the journal's removal) gives the same database. The store
replays the journal, in order, before any new write, so a journaled edit can never
overwrite a newer one. Lines that cannot be parsed (a torn last line after a crash) or
applied are moved to ``...pending.rejected.jsonl`` rather than dropped: text is never
thrown away silently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

FORMAT_VERSION = 1


def journal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".pending.jsonl")


def rejected_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".pending.rejected.jsonl")


def append(path: Path, op: str, args: dict[str, Any]) -> None:
    """Append one entry and fsync it; raises ``OSError`` when the disk will not take it."""
    line = json.dumps({"v": FORMAT_VERSION, "op": op, "args": args},
                      ensure_ascii=False, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def entries(path: Path) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """Yield ``(raw_line, entry)`` for each line; ``entry`` is None for a line that is not
    a well-formed entry of a known format version."""
    try:
        fh = open(path, encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return
    with fh:
        for raw in fh:
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            if not (isinstance(entry, dict) and entry.get("v") == FORMAT_VERSION
                    and isinstance(entry.get("op"), str)
                    and isinstance(entry.get("args"), dict)):
                entry = None
            yield raw, entry


def reject(path: Path, raw_lines: list[str]) -> None:
    """Keep lines that could not be replayed (best effort: the journal itself is kept
    when this fails, see the caller)."""
    if not raw_lines:
        return
    with open(path, "a", encoding="utf-8", errors="surrogateescape") as fh:
        for raw in raw_lines:
            fh.write(raw if raw.endswith("\n") else raw + "\n")
        fh.flush()
        os.fsync(fh.fileno())
