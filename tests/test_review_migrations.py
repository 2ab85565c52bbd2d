"""Schema versions: a v1 file is upgraded in place, atomically; a newer file is refused."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from lungview.review import MIGRATIONS, ReadingKey, Region, ReviewStore, StoreError
from lungview.review.schema import migrate

V1 = MIGRATIONS[:1]
# What a v2 could look like: a new column filled from old data (SQL), and a data change
# SQL alone would make awkward (a Python step), to exercise both kinds of step.
V2_SQL = """
ALTER TABLE readings ADD COLUMN confidence INTEGER;
UPDATE readings SET confidence = usefulness * 20;
"""


def _v3_upper_reviewers(conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT id, reviewer FROM readings").fetchall()
    conn.executemany("UPDATE readings SET reviewer = ? WHERE id = ?",
                     [(r[1].upper(), r[0]) for r in rows])


def cid(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


@pytest.fixture
def v1_file(tmp_path):
    """A database as the first release writes it, with a reading and a region."""
    path = tmp_path / "v1.sqlite3"
    with ReviewStore(path, migrations=V1) as s:
        s.upsert_case(cid(1), "one", "/one.png")
        s.update_reading(ReadingKey(cid(1), "gradcam", 2, "ayşe"), comment="mass found",
                         usefulness=4, focus="yes")
        s.set_regions(cid(1), 2, [Region.box(1, 2, 3, 4, 2)], "ayşe")
    return path


def test_current_schema_is_v1_and_a_fresh_file_gets_it(tmp_path):
    assert len(MIGRATIONS) == 1
    with ReviewStore(tmp_path / "new.sqlite3") as s:
        assert s.schema_version == 1
        tables = {r[0] for r in s.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"cases", "readings", "regions", "studies", "study_cases"}


def test_v1_file_is_migrated_to_v3_keeping_every_reading(v1_file):
    with ReviewStore(v1_file, migrations=[*V1, V2_SQL, _v3_upper_reviewers]) as s:
        assert s.schema_version == 3
        row = s.query("SELECT confidence, reviewer, comment FROM readings")[0]
        assert tuple(row) == (80, "AYŞE", "mass found")
        reading = s.get_reading(ReadingKey(cid(1), "gradcam", 2, "AYŞE"))
        assert (reading.comment, reading.usefulness, reading.focus) == ("mass found", 4, "yes")
        assert len(s.regions(cid(1))) == 1
        # and the migrated file still takes edits
        s.save_field(reading.key, "comment", "edited after upgrade")
    with ReviewStore(v1_file, migrations=[*V1, V2_SQL, _v3_upper_reviewers]) as s:
        assert s.schema_version == 3  # nothing re-run on the next open
        assert s.readings()[0].comment == "edited after upgrade"


def test_a_failing_step_leaves_the_file_at_the_old_version(v1_file):
    broken = "ALTER TABLE readings ADD COLUMN confidence INTEGER;\nSELECT * FROM no_such_table;"
    with pytest.raises(StoreError, match="no_such_table"):
        ReviewStore(v1_file, migrations=[*V1, broken])
    conn = sqlite3.connect(v1_file)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        columns = {r[1] for r in conn.execute("PRAGMA table_info(readings)")}
        assert "confidence" not in columns  # the first statement was rolled back too
    finally:
        conn.close()
    with ReviewStore(v1_file) as s:
        assert s.readings()[0].comment == "mass found"


def test_a_file_from_a_newer_lungview_is_refused_untouched(v1_file):
    conn = sqlite3.connect(v1_file)
    conn.execute("PRAGMA user_version = 9")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer lungview"):
        ReviewStore(v1_file)
    with pytest.raises(StoreError):
        ReviewStore.open_existing(v1_file)
    conn = sqlite3.connect(v1_file)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 9
    conn.close()


def test_migration_skips_steps_another_process_ran_meanwhile(v1_file, monkeypatch):
    """Two lungview processes may open a v1 file together. Simulated interleaving: this
    one read v1 just before the other upgraded it to v2; the step is re-checked under the
    write lock, so ALTER TABLE does not run twice (it would fail: duplicate column)."""
    from lungview.review import schema

    other = sqlite3.connect(v1_file, isolation_level=None)
    assert migrate(other, [*V1, V2_SQL]) == 1
    other.close()
    real = schema.schema_version
    calls = []

    def stale_first(conn):
        calls.append(1)
        return 1 if len(calls) == 1 else real(conn)

    monkeypatch.setattr(schema, "schema_version", stale_first)
    conn = sqlite3.connect(v1_file, isolation_level=None)
    try:
        assert migrate(conn, [*V1, V2_SQL]) == 1
        assert real(conn) == 2 and len(calls) == 2
    finally:
        conn.close()


def test_read_only_open_of_an_old_file_asks_for_an_upgrade(v1_file):
    with pytest.raises(StoreError, match="upgrade"):
        ReviewStore(v1_file, read_only=True, migrations=[*V1, V2_SQL])
