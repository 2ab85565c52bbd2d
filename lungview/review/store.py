"""The reading store: one SQLite file, every edit committed the moment it is made.

Durability: WAL journal with ``synchronous=FULL``. In WAL mode ``NORMAL`` already survives
a crash of lungview itself (the write is in the WAL file before ``COMMIT`` returns), but
a power cut or OS crash can roll back the last commits, because the WAL is only fsynced at
checkpoints. ``FULL`` fsyncs the WAL on every commit, so a save that returned is on disk;
it costs one fsync per edit (about 1-3 ms on an SSD, measured by the tests' timing check),
which the GUI can afford for text a radiologist typed and would not type again.

Failures: a write the database refuses (read-only or full disk, a lock held by another
program, a damaged file) raises :class:`SaveError` (a ``ReviewStoreError``) saying why.
The value is never swallowed: before raising, the edit is appended to the pending
journal (see :mod:`lungview.review.journal`) when that works, and ``SaveError.pending_path``
says so; either way the caller keeps its text marked unsaved and may retry. Journaled
edits are replayed, in order, on the next successful write or open.

The store is meant for one thread (the GUI thread): SQLite connections are not shared.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from lungview.errors import ReviewStoreError
from lungview.review import journal
from lungview.review.models import (FP_FLAGS, Case, Reading, ReadingKey, ReadingValueError,
                                    Region, check_case_id, validate_fields)
from lungview.review.schema import MIGRATIONS, Migration, NewerSchemaError, \
    default_db_path, migrate, schema_version

#: reading field -> column, for the fields stored as one column of the same name
_PLAIN = ("comment", "focus", "missed_lesions", "missed_count", "usefulness", "agreement",
          "pointing_hit", "energy_share", "model_name", "model_version", "model_sha256",
          "target_class", "predicted_label", "predicted_prob")
_KEY_COLS = ("case_id", "method", "slice_index", "reviewer", "study")


class StoreError(ReviewStoreError):
    """A review-store failure with the file at fault and one sentence saying why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SaveError(StoreError):
    """An edit was not written to the database.

    ``pending_path`` is the journal file that now holds the edit (it is applied on the
    next successful write), or None when even that failed and only the caller has it.
    """

    def __init__(self, path: str | Path, reason: str, pending_path: Path | None) -> None:
        self.pending_path = pending_path
        if pending_path is not None:
            reason += (f"; the edit was kept in {pending_path} and will be written when "
                       "the database accepts writes again")
        else:
            reason += "; the edit could not be kept anywhere else: keep it and try again"
        super().__init__(path, reason)


def describe(exc: BaseException) -> str:
    """One human sentence for an SQLite or OS error."""
    msg = str(exc).lower()
    if "full" in msg or "no space" in msg:
        return "the disk is full (or the database reached its size limit)"
    if "readonly" in msg or "read-only" in msg or "read only" in msg:
        return "the database is read-only (read-only disk, folder or file permissions)"
    if "locked" in msg or "busy" in msg:
        return "the database is locked by another program (another lungview window?)"
    if "not a database" in msg or "malformed" in msg:
        return "the file is not a lungview review database, or it is damaged"
    if "unable to open" in msg or "permission" in msg:
        return "the database file cannot be opened (missing folder or no permission)"
    if "disk i/o" in msg:
        return "the disk reported an I/O error (removed or failing drive?)"
    return f"the database refused the operation ({exc})"


def utc_now() -> str:
    """Now, UTC, ISO 8601 with milliseconds (``2026-05-09T07:35:25.123+00:00``)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ReviewStore:
    """The radiologist's readings in one SQLite file.

    Parameters
    ----------
    path : the database file; default :func:`default_db_path` (created with its folder).
    read_only : open with ``mode=ro`` (export, a database on read-only media); writes
        then fail with :class:`SaveError`.
    busy_timeout_ms : how long a write waits for another program's lock before failing.
    migrations : the schema steps (tests pass a longer list to exercise an upgrade).

    Raises
    ------
    StoreError
        When the file cannot be opened, is not a review database, or is newer than this
        lungview.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False,
                 busy_timeout_ms: int = 1000,
                 migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.read_only = read_only
        self.pending_path = journal.journal_path(self.path)
        self._conn = self._connect(busy_timeout_ms, list(migrations))
        if not read_only:
            try:  # edits journaled last session: apply them now if the db takes them
                self.flush_pending()
            except SaveError:
                pass  # still refused; they stay journaled and are retried on each write

    @classmethod
    def open_existing(cls, path: str | Path) -> "ReviewStore":
        """Open a database that must already exist, changing it only when needed.

        Read-only when the file is current and nothing is journaled (an export must not
        touch it); writable, to upgrade its schema or replay journaled edits, otherwise.
        Never creates a database, unlike the constructor.

        Raises
        ------
        StoreError
            No such file, not a review database, newer schema, or an upgrade is due but
            the file cannot be written.
        """
        path = Path(path)
        if not path.is_file():
            raise StoreError(path, "no review database here (nothing has been saved yet?)")
        try:
            probe = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
            try:
                found = schema_version(probe)
                probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                probe.close()
        except sqlite3.Error as exc:
            raise StoreError(path, describe(exc)) from None
        if found == 0:
            raise StoreError(path, "not a lungview review database")
        if found == len(MIGRATIONS) and not journal.journal_path(path).exists():
            return cls(path, read_only=True)
        return cls(path)

    # -- connection ------------------------------------------------------------------
    def _connect(self, busy_timeout_ms: int, migrations: list[Migration]) -> sqlite3.Connection:
        if self.read_only and not self.path.is_file():
            raise StoreError(self.path, "no review database here")
        try:
            if self.read_only:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(self.path, describe(exc)) from None
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
            conn.execute("PRAGMA foreign_keys = ON")
            if self.read_only:
                found = schema_version(conn)
                if found != len(migrations):
                    conn.close()
                    raise StoreError(self.path, (
                        f"schema v{found} cannot be read here (this lungview reads "
                        f"v{len(migrations)}); open it once without read-only to upgrade"
                        if 0 < found < len(migrations) else
                        "not a lungview review database (or written by a newer lungview)"))
                return conn
            conn.execute("PRAGMA journal_mode = WAL")  # falls back to DELETE on some NFS
            conn.execute("PRAGMA synchronous = FULL")
            migrate(conn, migrations)
        except NewerSchemaError as exc:
            conn.close()
            raise StoreError(self.path, f"written by a newer lungview ({exc}); update "
                                        "lungview to read it") from None
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(self.path, describe(exc)) from None
        return conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ReviewStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return schema_version(self._conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any error (raw sqlite3
        errors propagate: callers map them)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the connection rolls back itself when ROLLBACK cannot run
            raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only SQL query (for the other review modules); errors -> StoreError."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(self.path, describe(exc)) from None

    # -- writing -----------------------------------------------------------------------
    def _write(self, op: str, args: dict[str, Any]) -> None:
        """Flush the journal, then apply one edit in its own transaction; on a refusal,
        journal the edit and raise :class:`SaveError`."""
        try:
            self._flush_journal()
            with self.transaction() as conn:
                _APPLY[op](conn, args)
        except sqlite3.IntegrityError as exc:
            # bad input the validators cannot see (a case never registered): not journaled
            raise StoreError(self.path, f"the edit breaks a database rule ({exc}); "
                                        "register the case with upsert_case first"
                             ) from None
        except (sqlite3.Error, OSError) as exc:  # OSError: the journal could not be read
            reason = describe(exc)
            try:
                journal.append(self.pending_path, op, args)
                kept: Path | None = self.pending_path
            except OSError:
                kept = None
            raise SaveError(self.path, reason, kept) from None

    def _flush_journal(self) -> int:
        """Apply every journaled edit in one transaction, then remove the journal."""
        if not self.pending_path.is_file():
            return 0
        applied, rejected = 0, []
        with self.transaction() as conn:
            for raw, entry in journal.entries(self.pending_path):
                apply = _APPLY.get(entry["op"]) if entry else None
                if apply is None:
                    rejected.append(raw)
                    continue
                conn.execute("SAVEPOINT entry")
                try:
                    apply(conn, entry["args"])
                    conn.execute("RELEASE entry")
                    applied += 1
                except (sqlite3.IntegrityError, KeyError, TypeError, ValueError):
                    conn.execute("ROLLBACK TO entry")
                    conn.execute("RELEASE entry")
                    rejected.append(raw)
        try:
            journal.reject(journal.rejected_path(self.path), rejected)
            self.pending_path.unlink()
        except OSError:
            pass  # journal kept: replaying it again is harmless (every entry is a "set")
        return applied

    def flush_pending(self) -> int:
        """Write journaled edits to the database now; return how many were applied.

        Raises :class:`SaveError` (``pending_path`` set: they stay journaled) when the
        database still refuses them.
        """
        try:
            return self._flush_journal()
        except (sqlite3.Error, OSError) as exc:
            raise SaveError(self.path, describe(exc), self.pending_path) from None

    def pending_count(self) -> int:
        """How many edits wait in the journal (0 when it is absent)."""
        if not self.pending_path.is_file():
            return 0
        try:
            return sum(1 for _ in journal.entries(self.pending_path))
        except OSError as exc:
            raise StoreError(self.pending_path, describe(exc)) from None

    def upsert_case(self, case_id: str, case_label: str, source_path: str | Path) -> Case:
        """Register a case (or update its label and path); returns it."""
        check_case_id(case_id)
        if not isinstance(case_label, str):
            raise ReadingValueError("case_label", "must be text")
        self._write("case", {"case_id": case_id, "case_label": case_label,
                             "source_path": str(source_path), "at": utc_now()})
        return Case(case_id, case_label, str(source_path))

    def update_reading(self, key: ReadingKey, **fields: Any) -> Reading:
        """Set some fields of a reading (creating it when new) and commit at once.

        Parameters
        ----------
        key : which reading; its case must have been registered with :meth:`upsert_case`.
        **fields : any of :data:`lungview.review.models.FIELDS`; ``completed=True`` marks
            the reading done (keeps the first completion time), ``False`` reopens it.

        Returns
        -------
        Reading
            The reading as stored after this edit.

        Raises
        ------
        ReadingValueError
            A field or value a reading cannot hold (nothing written).
        SaveError
            The database refused the write (see the class for the journal fallback).
        """
        values = validate_fields(fields)
        if "fp_flags" in values:
            values["fp_flags"] = sorted(values["fp_flags"])
        self._write("reading", {"key": key.as_dict(), "fields": values, "at": utc_now()})
        reading = self.get_reading(key)
        assert reading is not None  # just committed
        return reading

    def save_field(self, key: ReadingKey, name: str, value: Any) -> Reading:
        """``update_reading(key, **{name: value})``, for one control's edit."""
        return self.update_reading(key, **{name: value})

    def delete_reading(self, key: ReadingKey) -> None:
        self._write("delete_reading", {"key": key.as_dict()})

    def set_regions(self, case_id: str, slice_index: int, regions: Sequence[Region],
                    reviewer: str = "") -> None:
        """Replace the lesion regions ``reviewer`` drew on one slice of a case."""
        check_case_id(case_id)
        for region in regions:
            if not isinstance(region, Region) or region.slice_index != slice_index:
                raise ReadingValueError("region", f"expected Region objects of slice "
                                                  f"{slice_index}, got {region!r}")
        self._write("regions", {"case_id": case_id, "slice_index": slice_index,
                                "reviewer": reviewer, "at": utc_now(),
                                "regions": [r.as_dict() for r in regions]})

    # -- reading -----------------------------------------------------------------------
    def case(self, case_id: str) -> Case | None:
        rows = self.query("SELECT * FROM cases WHERE case_id = ?", (case_id,))
        return Case(rows[0]["case_id"], rows[0]["case_label"], rows[0]["source_path"]
                    ) if rows else None

    def cases(self) -> list[Case]:
        return [Case(r["case_id"], r["case_label"], r["source_path"])
                for r in self.query("SELECT * FROM cases ORDER BY created_at, case_id")]

    def get_reading(self, key: ReadingKey) -> Reading | None:
        where = " AND ".join(f"{c} = ?" for c in _KEY_COLS)
        rows = self.query(f"SELECT * FROM readings WHERE {where}",
                          [getattr(key, c) for c in _KEY_COLS])
        return _reading(rows[0]) if rows else None

    def readings(self, *, case_id: str | None = None, study: str | None = None,
                 reviewer: str | None = None) -> list[Reading]:
        """Readings matching every filter given, in a stable order."""
        filters = {"case_id": case_id, "study": study, "reviewer": reviewer}
        used = {k: v for k, v in filters.items() if v is not None}
        where = " AND ".join(f"{k} = ?" for k in used) or "1"
        return [_reading(r) for r in self.query(
            f"SELECT * FROM readings WHERE {where} ORDER BY case_id, study, reviewer, "
            "method, slice_index", list(used.values()))]

    def regions(self, case_id: str | None = None, *, reviewer: str | None = None,
                slice_index: int | None = None) -> list[tuple[str, str, Region]]:
        """``(case_id, reviewer, region)`` for every region matching the filters."""
        filters = {"case_id": case_id, "reviewer": reviewer, "slice_index": slice_index}
        used = {k: v for k, v in filters.items() if v is not None}
        where = " AND ".join(f"{k} = ?" for k in used) or "1"
        return [(r["case_id"], r["reviewer"],
                 Region(r["kind"], tuple(tuple(p) for p in json.loads(r["points"])),
                        r["slice_index"]))
                for r in self.query(f"SELECT * FROM regions WHERE {where} "
                                    "ORDER BY case_id, reviewer, slice_index, id",
                                    list(used.values()))]


def _reading(row: sqlite3.Row) -> Reading:
    key = ReadingKey(*(row[c] for c in _KEY_COLS))
    plain = {name: row[name] for name in _PLAIN}
    if plain["pointing_hit"] is not None:
        plain["pointing_hit"] = bool(plain["pointing_hit"])
    flags = frozenset(f for f in FP_FLAGS if row[f"fp_{f}"])
    return Reading(key=key, fp_flags=flags, created_at=row["created_at"],
                   updated_at=row["updated_at"], completed_at=row["completed_at"], **plain)


# -- the edits, as applied to the database (also when replayed from the journal) -------
def _apply_case(conn: sqlite3.Connection, a: dict[str, Any]) -> None:
    conn.execute("INSERT INTO cases (case_id, case_label, source_path, created_at) "
                 "VALUES (?, ?, ?, ?) ON CONFLICT (case_id) DO UPDATE SET "
                 "case_label = excluded.case_label, source_path = excluded.source_path",
                 (a["case_id"], a["case_label"], a["source_path"], a["at"]))


def _apply_reading(conn: sqlite3.Connection, a: dict[str, Any]) -> None:
    key, fields, at = a["key"], a["fields"], a["at"]
    cols: dict[str, Any] = {c: key[c] for c in _KEY_COLS}
    cols.update(created_at=at, updated_at=at)
    updates = ["updated_at = excluded.updated_at"]
    for name, value in fields.items():
        if name in _PLAIN:
            cols[name] = value
            updates.append(f"{name} = excluded.{name}")
        elif name == "fp_flags":
            for flag in FP_FLAGS:
                cols[f"fp_{flag}"] = int(flag in value)
                updates.append(f"fp_{flag} = excluded.fp_{flag}")
        elif name == "completed":
            cols["completed_at"] = at if value else None
            # marking done twice keeps the first time; reopening clears it
            updates.append("completed_at = COALESCE(readings.completed_at, "
                           "excluded.completed_at)" if value else "completed_at = NULL")
        else:
            raise KeyError(name)  # a journal line from elsewhere: rejected by the replay
    names = ", ".join(cols)
    marks = ", ".join("?" for _ in cols)
    conn.execute(f"INSERT INTO readings ({names}) VALUES ({marks}) "
                 f"ON CONFLICT ({', '.join(_KEY_COLS)}) DO UPDATE SET {', '.join(updates)}",
                 list(cols.values()))


def _apply_delete_reading(conn: sqlite3.Connection, a: dict[str, Any]) -> None:
    key = a["key"]
    conn.execute("DELETE FROM readings WHERE " + " AND ".join(f"{c} = ?" for c in _KEY_COLS),
                 [key[c] for c in _KEY_COLS])


def _apply_regions(conn: sqlite3.Connection, a: dict[str, Any]) -> None:
    conn.execute("DELETE FROM regions WHERE case_id = ? AND reviewer = ? AND slice_index = ?",
                 (a["case_id"], a["reviewer"], a["slice_index"]))
    conn.executemany(
        "INSERT INTO regions (case_id, reviewer, slice_index, kind, points, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(a["case_id"], a["reviewer"], a["slice_index"], r["kind"], json.dumps(r["points"]),
          a["at"]) for r in a["regions"]])


_APPLY = {"case": _apply_case, "reading": _apply_reading,
          "delete_reading": _apply_delete_reading, "regions": _apply_regions}
