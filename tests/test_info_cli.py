"""``lungview info``: the command-line contract of issue 2 (stdout objects, stderr line,
exit status 0/1/2), driven through ``main()`` and, once, through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom.uid import generate_uid

from lungview.cli import main
from tests.test_io_dicom import make_ct, stored, write

FIELDS = {"path", "kind", "modality", "slices", "rows", "cols", "pixel_spacing",
          "slice_positions", "hu", "warnings"}


def _run(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = main(["info", *argv])
    out, err = capsys.readouterr()
    objs = [json.loads(line) for line in out.splitlines() if line.strip()]
    return code, objs, err


@pytest.fixture
def case(tmp_path) -> dict[str, Path]:
    png = tmp_path / "slice.png"
    png.write_bytes(cv2.imencode(".png", np.zeros((5, 7), np.uint8))[1].tobytes())
    single = write(make_ct(stored(1, shape=(6, 4))), tmp_path / "one.dcm")
    folder = tmp_path / "study"
    for uid, n in ((generate_uid(), 3), (generate_uid(), 2)):
        for k in range(n):
            write(make_ct(stored(k, shape=(8, 8)), series_uid=uid, position=(0, 0, 2.0 * k),
                          instance=k + 1), folder / f"{uid[-6:]}_{k}.dcm")
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x00" * 10)
    return {"png": png, "single": single, "folder": folder, "bad": bad}


def test_json_objects_per_kind(capsys, case):
    code, objs, err = _run(capsys, str(case["png"]), str(case["single"]),
                           str(case["folder"]), "--json")
    assert code == 0 and err == ""
    assert [o["kind"] for o in objs] == ["image", "dicom-file", "dicom-series",
                                         "dicom-series"]
    for o in objs:
        assert FIELDS <= set(o)
    img, one, big, small = objs
    assert (img["rows"], img["cols"], img["slices"], img["hu"]) == (5, 7, 1, False)
    assert img["pixel_spacing"] is None and img["slice_positions"] is None
    assert img["modality"] is None and img["path"] == str(case["png"])
    assert (one["modality"], one["rows"], one["cols"], one["hu"]) == ("CT", 6, 4, True)
    assert one["pixel_spacing"] == [0.7, 0.8]
    assert (big["slices"], small["slices"]) == (3, 2)  # largest CT series first
    assert big["slice_positions"] == [0.0, 2.0, 4.0]
    assert big["path"] == small["path"] == str(case["folder"])
    assert big["source"] == str(case["folder"])


def test_bad_input_reported_others_processed(capsys, case, tmp_path):
    missing = tmp_path / "missing.dcm"
    code, objs, err = _run(capsys, "--json", str(missing), str(case["png"]),
                           str(case["bad"]))
    assert code == 1
    assert objs[0] == {"path": str(missing), "error": "no such file or folder"}
    assert objs[1]["kind"] == "image"
    assert objs[2]["path"] == str(case["bad"]) and objs[2]["error"]
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0] == f"lungview: error: {missing}: no such file or folder"
    assert lines[1].startswith(f"lungview: error: {case['bad']}: ")
    assert "Traceback" not in err


def test_folder_with_a_bad_file_exit_1_but_prints_series(capsys, case):
    (case["folder"] / "broken.dcm").write_bytes(b"DICM" * 3)
    code, objs, err = _run(capsys, "--json", str(case["folder"]))
    assert code == 1
    kinds = [o.get("kind") for o in objs]
    assert kinds.count("dicom-series") == 2
    errors = [o for o in objs if "error" in o]
    assert len(errors) == 1 and errors[0]["path"].endswith("broken.dcm")
    assert err.count("\n") == 1 and "broken.dcm" in err


def test_human_output(capsys, case):
    code = main(["info", str(case["single"])])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert str(case["single"]) in out and "CT" in out and "HU" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["info"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["info", "--bogus", "x"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "lungview: error:" in err and "Traceback" not in err


def test_subprocess_contract_and_no_tensorflow(case):
    code = ("import sys; sys.argv=['lungview','info','--json'," + repr(
        str(case["single"])) + "," + repr(str(case["bad"])) + "]\n"
            "from lungview.cli import main\n"
            "rc = main()\n"
            "heavy = [m for m in ('tensorflow','keras','PySide6') if m in sys.modules]\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert objs[0]["kind"] == "dicom-file" and "error" in objs[1]
    err = proc.stderr.splitlines()
    assert err[-1] == "HEAVY="
    assert len(err) == 2 and err[0].startswith("lungview: error: ")
