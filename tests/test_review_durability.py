"""Crash safety and failing writes: nothing reported saved is lost, nothing typed is
swallowed. Failures are real SQLite failures (size limit, read-only URI, a held lock),
not mocks: tests run as root, so file permissions would not stop a write."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from lungview.errors import ReviewStoreError
from lungview.review import ReadingKey, ReviewStore, SaveError
from tests.conftest import ROOT


def cid(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


KEY = ReadingKey(cid(1), "gradcam", 0, "dr")


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "r.sqlite3"
    with ReviewStore(path) as s:
        s.upsert_case(cid(1), "one", "/one.png")
        s.save_field(KEY, "comment", "before")
    return path


def stored_comment(path, key=KEY) -> str:
    """What the database file itself holds (read-only: replays nothing)."""
    with ReviewStore(path, read_only=True) as s:
        return s.get_reading(key).comment


WRITER = textwrap.dedent("""
    import sys
    from lungview.review import ReadingKey, ReviewStore
    path, case = sys.argv[1], sys.argv[2]
    store = ReviewStore(path)
    store.upsert_case(case, "crash", "/crash.png")
    grow = ReadingKey(case, "gradcam", 0, "dr")
    text = ""
    for i in range(100000):
        store.save_field(ReadingKey(case, "scorecam", i, "dr"), "comment", f"note {i} é")
        text += f"word{i} "
        store.save_field(grow, "comment", text)
        print(i, len(text), flush=True)  # only after both commits returned
""")


@pytest.mark.parametrize("kill_after", [25, 160])
def test_sigkill_mid_stream_loses_no_reported_save(tmp_path, kill_after):
    path = tmp_path / "crash.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), cid(7)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reported = []
    try:
        for line in proc.stdout:
            reported.append(tuple(map(int, line.split())))
            if len(reported) >= kill_after:
                break
        proc.kill()  # SIGKILL on POSIX: no cleanup, no atexit, mid-transaction
    finally:
        proc.kill()
        out, err = proc.communicate(timeout=60)
    assert len(reported) >= kill_after, err
    # lines printed between our read and the kill count as reported too
    reported += [tuple(map(int, ln.split())) for ln in out.splitlines() if ln.strip()]
    assert proc.returncode != 0
    with ReviewStore(path) as store:
        for i, _ in reported:
            reading = store.get_reading(ReadingKey(cid(7), "scorecam", i, "dr"))
            assert reading is not None and reading.comment == f"note {i} é", i
        grown = store.get_reading(ReadingKey(cid(7), "gradcam", 0, "dr")).comment
        last_i, last_len = reported[-1]
        assert len(grown) >= last_len and f"word{last_i} " in grown
        assert store.query("PRAGMA integrity_check")[0][0] == "ok"


def test_disk_full_is_a_clear_error_and_keeps_old_data_and_new_text(db):
    store = ReviewStore(db)
    pages = store.query("PRAGMA page_count")[0][0]
    # a real SQLITE_FULL: the database may not grow beyond its current size
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    big = "mass in the right upper lobe; " * 3000  # ~90 kB: new pages needed
    with pytest.raises(SaveError) as info:
        store.save_field(KEY, "comment", big)
    exc = info.value
    assert isinstance(exc, ReviewStoreError)
    assert exc.path == str(db) and "disk is full" in exc.reason
    assert exc.pending_path == store.pending_path and str(exc.pending_path) in str(exc)
    assert stored_comment(db) == "before"  # previous data intact
    entry = json.loads(store.pending_path.read_text(encoding="utf-8"))
    assert entry["args"]["fields"]["comment"] == big  # the new text is kept
    assert store.pending_count() == 1
    store._conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    assert store.flush_pending() == 1
    assert store.get_reading(KEY).comment == big
    assert not store.pending_path.exists()
    store.close()


def test_read_only_database_journals_and_the_next_writable_open_replays(db):
    with ReviewStore(db, read_only=True) as ro:  # sqlite URI mode=ro
        with pytest.raises(SaveError, match="read-only") as info:
            ro.save_field(KEY, "comment", "typed while read-only")
        assert info.value.pending_path is not None
        with pytest.raises(SaveError):
            ro.update_reading(KEY, usefulness=5, focus="yes")
        assert ro.pending_count() == 2
    assert stored_comment(db) == "before"
    with ReviewStore(db) as rw:  # opening replays the journal, in order
        reading = rw.get_reading(KEY)
        assert (reading.comment, reading.usefulness, reading.focus) == (
            "typed while read-only", 5, "yes")
        assert rw.pending_count() == 0 and not rw.pending_path.exists()


def test_locked_database_journals_in_order_and_never_overwrites_a_newer_edit(db):
    store = ReviewStore(db, busy_timeout_ms=50)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        for text in ("a", "ab"):
            with pytest.raises(SaveError, match="locked") as info:
                store.save_field(KEY, "comment", text)
            assert info.value.pending_path is not None
        with pytest.raises(SaveError):
            store.flush_pending()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert stored_comment(db) == "before"
    # the next edit first replays "a", "ab", then writes "abc": newest wins
    assert store.save_field(KEY, "comment", "abc").comment == "abc"
    assert stored_comment(db) == "abc" and store.pending_count() == 0
    store.close()


def test_when_the_journal_fails_too_the_error_says_the_text_was_not_kept(db):
    with ReviewStore(db, read_only=True) as ro:
        ro.pending_path.mkdir()  # the journal cannot be a file: append fails (even as root)
        with pytest.raises(SaveError) as info:
            ro.save_field(KEY, "comment", "only the caller has this")
        assert info.value.pending_path is None
        assert "could not be kept" in info.value.reason
    assert stored_comment(db) == "before"


def test_a_torn_or_foreign_journal_line_is_set_aside_not_lost(db):
    pending = db.with_name(db.name + ".pending.jsonl")
    good = {"v": 1, "op": "reading", "args": {
        "key": KEY.as_dict(), "fields": {"comment": "from journal"},
        "at": "2026-01-01T00:00:00.000+00:00"}}
    unknown_case = {"v": 1, "op": "reading", "args": {
        "key": {**KEY.as_dict(), "case_id": cid(404)}, "fields": {"comment": "orphan"},
        "at": "2026-01-01T00:00:00.000+00:00"}}
    pending.write_text(json.dumps(good) + "\n" + json.dumps(unknown_case) + "\n"
                       + '{"v": 1, "op": "reading", "args": {"ke', encoding="utf-8")
    with ReviewStore(db) as store:
        assert store.get_reading(KEY).comment == "from journal"
        assert not pending.exists()
    rejected = db.with_name(db.name + ".pending.rejected.jsonl").read_text(encoding="utf-8")
    assert "orphan" in rejected and '"args": {"ke' in rejected
