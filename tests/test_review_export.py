"""``lungview review export``: contents against a hand-computed summary, files, errors."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys

import pytest

from lungview.cli import main
from lungview.review import ReadingKey, Region, ReviewStore, reading_rows, summarise
from lungview.review.export import READING_COLUMNS, SUMMARY_COLUMNS
from tests.conftest import ROOT


def cid(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


C1, C2 = cid(1), cid(2)
TRICKY = 'Mass, "spiculated";\nsecond line — ağrı'


def fill(store: ReviewStore) -> None:
    store.upsert_case(C1, "one", "/cases/one.png")
    store.upsert_case(C2, "two", "/cases/two")
    store.update_reading(ReadingKey(C1, "gradcam", 0, "r"), focus="yes", usefulness=4,
                         agreement="agree", pointing_hit=True, energy_share=0.6)
    store.update_reading(ReadingKey(C2, "gradcam", 0, "r"), focus="partial", usefulness=2,
                         agreement="disagree", pointing_hit=False, energy_share=0.2)
    # metrics but no regions on slice 5: stale, left out of the pointing/energy means
    store.update_reading(ReadingKey(C1, "gradcam", 5, "r"), focus="no", pointing_hit=True,
                         energy_share=0.9)
    store.update_reading(ReadingKey(C1, "scorecam", 0, "r"), focus="yes", usefulness=5)
    store.update_reading(ReadingKey(C2, "scorecam", 0, "r"), usefulness=3, comment=TRICKY,
                         fp_flags={"normal_lung", "mirror"}, missed_count=2,
                         predicted_prob=0.875, completed=True)
    store.update_reading(ReadingKey(C1, "my-new-cam", 0, "r"), comment="x")
    store.set_regions(C1, 0, [Region.box(10, 20, 30, 40)], reviewer="r")
    store.set_regions(C2, 0, [Region.polygon([(1, 1), (9, 1), (5, 7)])], reviewer="r")
    store.set_regions(C1, 5, [Region.box(0, 0, 5, 5, 5)], reviewer="someone else")


EXPECTED_SUMMARY = [
    {"method": "gradcam", "readings": 3, "focus_yes": 1, "focus_partial": 1, "focus_no": 1,
     "focus_unset": 0, "usefulness_n": 2, "usefulness_mean": 3.0, "agree": 1,
     "disagree": 1, "pointing_n": 2, "pointing_hit_rate": 0.5, "energy_n": 2,
     "energy_share_mean": pytest.approx(0.4)},
    {"method": "scorecam", "readings": 2, "focus_yes": 1, "focus_partial": 0, "focus_no": 0,
     "focus_unset": 1, "usefulness_n": 2, "usefulness_mean": 4.0, "agree": 0,
     "disagree": 0, "pointing_n": 0, "pointing_hit_rate": None, "energy_n": 0,
     "energy_share_mean": None},
    {"method": "my-new-cam", "readings": 1, "focus_yes": 0, "focus_partial": 0,
     "focus_no": 0, "focus_unset": 1, "usefulness_n": 0, "usefulness_mean": None,
     "agree": 0, "disagree": 0, "pointing_n": 0, "pointing_hit_rate": None, "energy_n": 0,
     "energy_share_mean": None},
]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "reviews.sqlite3"
    with ReviewStore(path) as store:
        fill(store)
    return path


def export(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["review", "export", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_matches_hand_computation(db):
    with ReviewStore(db) as store:
        rows = reading_rows(store)
    assert len(rows) == 6
    assert summarise(rows) == EXPECTED_SUMMARY
    assert summarise([]) == []


def test_json_to_stdout(db, capsys):
    code, out, err = export(capsys, "--format", "json", "--db", str(db))
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert set(doc) == {"readings", "summary"}
    assert doc["summary"] == EXPECTED_SUMMARY
    rows = {(r["case_id"], r["method"], r["slice_index"]): r for r in doc["readings"]}
    assert list(doc["readings"][0]) == list(READING_COLUMNS)
    first = rows[(C1, "gradcam", 0)]
    assert first["case_label"] == "one" and first["pointing_hit"] is True
    assert first["regions"] == [{"kind": "box", "points": [[10.0, 20.0], [30.0, 40.0]]}]
    assert rows[(C1, "gradcam", 5)]["regions"] == []  # another reviewer's region: not ours
    tricky = rows[(C2, "scorecam", 0)]
    assert tricky["comment"] == TRICKY and tricky["fp_mirror"] is True
    assert tricky["fp_bone"] is False and tricky["completed_at"] is not None
    assert tricky["agreement"] is None and tricky["missed_count"] == 2


def test_csv_files_readings_and_summary(db, tmp_path, capsys):
    out_file = tmp_path / "out" / "readings.csv"
    out_file.parent.mkdir()
    code, out, err = export(capsys, "--format", "csv", "--out", str(out_file), "--db", str(db))
    assert (code, err) == (0, "")
    summary_file = tmp_path / "out" / "readings-summary.csv"
    assert str(summary_file) in out
    with open(out_file, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and list(rows[0]) == list(READING_COLUMNS)
    tricky = next(r for r in rows if r["comment"].startswith("Mass"))
    assert tricky["comment"] == TRICKY
    assert (tricky["fp_normal_lung"], tricky["fp_bone"], tricky["fp_mirror"]) == ("1", "0", "1")
    assert (tricky["focus"], tricky["usefulness"], tricky["predicted_prob"]) == ("", "3", "0.875")
    boxed = next(r for r in rows if (r["case_id"], r["method"], r["slice_index"]) ==
                 (C1, "gradcam", "0"))
    assert json.loads(boxed["regions"]) == [{"kind": "box",
                                             "points": [[10.0, 20.0], [30.0, 40.0]]}]
    assert boxed["pointing_hit"] == "1"
    with open(summary_file, newline="", encoding="utf-8") as fh:
        summary = list(csv.DictReader(fh))
    assert list(summary[0]) == list(SUMMARY_COLUMNS)
    assert [s["method"] for s in summary] == ["gradcam", "scorecam", "my-new-cam"]
    g = summary[0]
    assert (g["readings"], g["focus_yes"], g["focus_no"], g["usefulness_mean"]) == (
        "3", "1", "1", "3.0")
    assert (g["pointing_n"], g["pointing_hit_rate"]) == ("2", "0.5")
    assert float(g["energy_share_mean"]) == pytest.approx(0.4)
    assert summary[1]["pointing_hit_rate"] == "" and summary[1]["usefulness_mean"] == "4.0"


def test_csv_to_stdout_is_readings_blank_line_summary(db, capsys):
    code, out, _ = export(capsys, "--format", "csv", "--db", str(db))
    assert code == 0
    table = list(csv.reader(io.StringIO(out)))
    blank = table.index([])
    assert table[0] == list(READING_COLUMNS) and blank == 7  # header + 6 readings
    assert table[blank + 1] == list(SUMMARY_COLUMNS)
    assert [row[0] for row in table[blank + 2:]] == ["gradcam", "scorecam", "my-new-cam"]


def test_default_database_and_empty_database(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LUNGVIEW_DATA_DIR", str(tmp_path / "data"))
    code, _, err = export(capsys, "--format", "json")
    assert code == 1 and err.startswith(f"lungview: error: {tmp_path / 'data'}")
    ReviewStore().close()
    code, out, err = export(capsys, "--format", "json")
    assert (code, err, json.loads(out)) == (0, "", {"readings": [], "summary": []})


def test_export_does_not_modify_the_database(db, capsys, tmp_path):
    before = db.read_bytes()
    code, _, _ = export(capsys, "--format", "json", "--db", str(db))
    assert code == 0 and db.read_bytes() == before
    # SQLite may leave its WAL sidecars (-wal, -shm) beside a read-only reader; no new file else.
    leftovers = {p.name for p in tmp_path.iterdir()} - {"reviews.sqlite3-wal", "reviews.sqlite3-shm"}
    assert leftovers == {"reviews.sqlite3"}


def test_export_includes_journaled_edits(db, capsys):
    with ReviewStore(db, read_only=True) as ro:
        with pytest.raises(Exception):
            ro.save_field(ReadingKey(C1, "gradcam", 0, "r"), "comment", "from the journal")
    code, out, _ = export(capsys, "--format", "json", "--db", str(db))
    assert code == 0
    comments = [r["comment"] for r in json.loads(out)["readings"]]
    assert "from the journal" in comments


@pytest.mark.parametrize("make_db, reason", [
    (lambda p: None, "no review database here"),
    (lambda p: p.write_bytes(b"\x00garbage" * 512), "not a lungview review database"),
    (lambda p: p.write_bytes(b""), "not a lungview review database"),
])
def test_bad_database_is_exit_1_with_one_error_line(tmp_path, capsys, make_db, reason):
    path = tmp_path / "x.sqlite3"
    make_db(path)
    code, out, err = export(capsys, "--format", "csv", "--db", str(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"lungview: error: {path}: ") and reason in err
    assert err.count("\n") == 1
    if path.exists():
        assert path.stat().st_size in (0, 4096)  # never turned into a new database


def test_unwritable_out_is_exit_1_and_leaves_nothing(db, tmp_path, capsys):
    target = tmp_path / "missing-dir" / "out.json"
    code, _, err = export(capsys, "--format", "json", "--out", str(target), "--db", str(db))
    assert code == 1 and err.startswith(f"lungview: error: {target}: cannot be written")
    assert not target.parent.exists()


@pytest.mark.parametrize("argv", [["review"], ["review", "export"],
                                  ["review", "export", "--format", "xml"],
                                  ["review", "import", "--format", "csv"]])
def test_bad_usage_is_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "lungview: error:" in capsys.readouterr().err


def test_command_line_entry_point_end_to_end(db):
    proc = subprocess.run([sys.executable, "-m", "lungview", "review", "export", "--format",
                           "json", "--db", str(db)], cwd=ROOT, capture_output=True,
                          text=True, encoding="utf-8")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["readings"]) == 6
