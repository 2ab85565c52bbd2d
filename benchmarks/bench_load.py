"""Time and peak memory to load a CT series and touch every slice: lungview vs. naive pydicom.

Why: issue 2 asks that a 500-slice series load without decoding everything to float64.
This measures :func:`lungview.io.load` followed by ``series.pixels(i)`` for every slice
(the lazy, int16-cached path the viewer uses) against the naive baseline most scripts
use, measured in the same run: ``pydicom.dcmread`` of every file, ``pixel_array`` as
float64 with rescale applied, all slices kept in a list (a float64 volume).

Each measurement runs in a fresh Python process, so the peak RSS (``ru_maxrss``) belongs
to that one load alone; files are read once beforehand (warm page cache for both) and the
methods alternate. The table reports the median over ``--repeats`` runs and the ratio
baseline / method (above 1: the method is faster / smaller than the baseline).

Cases: the 98-slice ``../shared/data/dicom/lung-fused-ct-pathology-0001`` series (skipped
when absent) and a synthetic 500-slice 512x512 int16 CT series written to a temp folder.

    .venv/bin/python benchmarks/bench_load.py [--repeats 3] [--slices 500]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LUNGVIEW_SHARED", ROOT.parent / "shared"))
FUSED = SHARED / "data" / "dicom" / "lung-fused-ct-pathology-0001"

METHODS = ("naive-pydicom-float64", "lungview")
BASELINE = "naive-pydicom-float64"


# -- workers (run in a child process) -------------------------------------------------------
def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _worker_naive(folder: Path) -> tuple[int, float]:
    import numpy as np
    import pydicom

    volume = []
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        hu = ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(
            ds.get("RescaleIntercept", 0))
        volume.append(hu)
    return len(volume), float(sum(float(v.sum()) for v in volume))


def _worker_lungview(folder: Path) -> tuple[int, float]:
    from lungview.io import load

    series = load(folder).series[0]
    total = 0.0
    for i in range(len(series)):
        total += float(series.pixels(i).sum(dtype="float64"))
    return len(series), total


def worker(method: str, folder: str) -> None:
    # Imports are part of neither measurement's time: load them first.
    import numpy  # noqa: F401
    import pydicom  # noqa: F401
    import pydicom.pixels  # noqa: F401

    if method == "lungview":
        import lungview.io  # noqa: F401
    rss_before = _peak_rss_mib()
    start = time.perf_counter()
    fn = _worker_lungview if method == "lungview" else _worker_naive
    n, checksum = fn(Path(folder))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mib": _peak_rss_mib(),
                      "rss_after_imports_mib": rss_before, "slices": n,
                      "checksum": checksum}))


# -- driver ---------------------------------------------------------------------------------
def write_synthetic(folder: Path, n: int, size: int = 512) -> None:
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(0)
    base = rng.integers(0, 2500, size=(size, size)).astype(np.uint16)
    uid = generate_uid()
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = uid
        ds.Modality = "CT"
        ds.ImagePositionPatient = [0.0, 0.0, float(-k)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.InstanceNumber = k + 1
        ds.PixelSpacing = [0.7, 0.7]
        ds.RescaleSlope = 1
        ds.RescaleIntercept = -1024
        ds.set_pixel_data(np.roll(base, k, axis=0), "MONOCHROME2", 12,
                          generate_instance_uid=False)
        ds.save_as(folder / f"{k:04d}.dcm", enforce_file_format=True)


def measure(method: str, folder: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", method, str(folder)],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{method} on {folder} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slices", type=int, default=500, help="synthetic series length")
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "FOLDER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0

    with tempfile.TemporaryDirectory(prefix="lungview-bench-") as tmp:
        cases: list[tuple[str, Path]] = []
        if FUSED.is_dir():
            cases.append((f"lung-fused-ct-pathology-0001 (98 real slices)", FUSED))
        else:
            print(f"(skipping the real series: {FUSED} is absent)")
        synth = Path(tmp) / "synthetic"
        synth.mkdir()
        write_synthetic(synth, args.slices)
        cases.append((f"synthetic {args.slices} x 512x512 int16", synth))

        rows = []
        for label, folder in cases:
            for path in folder.rglob("*.dcm"):  # same warm page cache for both methods
                path.read_bytes()
            results: dict[str, list[dict]] = {m: [] for m in METHODS}
            for _ in range(args.repeats):  # interleaved, so load drifts hit both alike
                for m in METHODS:
                    results[m].append(measure(m, folder))
            sums = {m: {r["checksum"] for r in rs} for m, rs in results.items()}
            if len({round(c, 3) for s in sums.values() for c in s}) != 1:
                print(f"WARNING: checksums differ on {label}: {sums}")
            med = {m: (statistics.median(r["seconds"] for r in rs),
                       statistics.median(r["peak_rss_mib"] for r in rs),
                       statistics.median(r["rss_after_imports_mib"] for r in rs))
                   for m, rs in results.items()}
            for m in METHODS:
                t, rss, base = med[m]
                bt, brss, _ = med[BASELINE]
                rows.append((label, m, results[m][0]["slices"], t, rss, rss - base,
                             bt / t, brss / rss))

    print(f"\nmedian of {args.repeats} runs, each in a fresh process; ratio = "
          f"{BASELINE} / method (above 1: method is faster / smaller)\n")
    header = ("| case | method | slices | time s | peak RSS MiB | RSS over imports MiB "
              "| time ratio | RSS ratio |")
    print(header)
    print("|" + "---|" * 8)
    for label, m, n, t, rss, extra, tr, rr in rows:
        print(f"| {label} | {m} | {n} | {t:.2f} | {rss:.0f} | {extra:.0f} | {tr:.2f} "
              f"| {rr:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
