"""Reader-study mode: a worklist of cases, each with its CAM methods blinded and shuffled.

For each case the study shows the methods as "Map A", "Map B", ... in an order drawn from
the study's seed and the case id alone (SHA-256, not :mod:`random`, so the order is the
same after a restart and on any Python version). A map's method is revealed once the
reader marks its reading done (``completed=True``): reading fields are saved on every
keystroke, so "saved" cannot be what lifts the blinding, or the first letter typed would
unblind it. Readings made in a study carry the study's name (``ReadingKey.study``), so an
earlier unblinded look at the same case never counts as a study reading.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from lungview.errors import LoadError
from lungview.review.models import METHODS, ReadingKey, ReadingValueError, check_case_id, \
    check_method
from lungview.review.store import ReviewStore, StoreError, describe, utc_now

#: file suffixes a folder worklist takes as one case each (folders are series)
CASE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm",
                           ".dicom", ".ima"})


@dataclass(frozen=True)
class WorkItem:
    """One case of a worklist."""

    case_id: str
    case_label: str
    source_path: str


@dataclass(frozen=True)
class BlindedMap:
    """One CAM of a case as the reader sees it. ``method`` is for computing the map;
    show :attr:`display_name`, which names the method only once ``revealed``."""

    label: str
    method: str
    revealed: bool

    @property
    def display_name(self) -> str:
        return f"{self.label} ({self.method})" if self.revealed else self.label


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    next_case: WorkItem | None


Identify = Callable[[Path], WorkItem]


def content_case_id(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes, or of a folder's files (relative names and
    contents, in name order) so that a moved or renamed copy keeps its id."""
    digest = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f.relative_to(path).as_posix().encode() + b"\0")
            _hash_file(digest, f)
            digest.update(b"\0")
    else:
        _hash_file(digest, path)
    return "sha256:" + digest.hexdigest()


def _hash_file(digest: "hashlib._Hash", path: Path) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)


def identify_by_content(path: Path) -> WorkItem:
    """The default case identity: content hash, file or folder name as label.

    The GUI passes its own ``identify`` that reads the SeriesInstanceUID of DICOM series
    (review may not read DICOM itself).
    """
    try:
        return WorkItem(content_case_id(path), path.name, str(path.resolve()))
    except OSError as exc:
        raise LoadError(path, f"cannot be read ({exc.strerror or exc})") from None


def _natural(path: Path) -> list[object]:
    # "case (2)" before "case (10)", as a file browser shows them
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _dedupe(items: Iterable[WorkItem]) -> list[WorkItem]:
    seen: dict[str, WorkItem] = {}
    for item in items:
        seen.setdefault(item.case_id, item)  # the same content twice is one case
    return list(seen.values())


def worklist_from_folder(folder: str | Path, identify: Identify = identify_by_content
                         ) -> list[WorkItem]:
    """Each image/DICOM file directly in ``folder``, and each non-empty subfolder (a
    series), is one case, in natural name order. Hidden entries are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LoadError(folder, "is not a folder")
    try:
        entries = sorted((p for p in folder.iterdir() if not p.name.startswith(".")),
                         key=_natural)
    except OSError as exc:
        raise LoadError(folder, f"cannot be listed ({exc.strerror or exc})") from None
    chosen = [p for p in entries
              if (p.is_file() and p.suffix.lower() in CASE_SUFFIXES)
              or (p.is_dir() and any(f.is_file() for f in p.iterdir()))]
    if not chosen:
        raise LoadError(folder, "holds no image or DICOM files and no series folders")
    return _dedupe(identify(p) for p in chosen)


def worklist_from_file(list_file: str | Path, identify: Identify = identify_by_content
                       ) -> list[WorkItem]:
    """One path per line (relative paths are relative to the list file); blank lines and
    lines starting with ``#`` are skipped."""
    list_file = Path(list_file)
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(list_file, f"cannot be read as a text list ({exc})") from None
    items = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line).expanduser()
        path = path if path.is_absolute() else list_file.parent / path
        if not path.exists():
            raise LoadError(path, f"listed on line {number} of {list_file} but not found")
        items.append(identify(path))
    if not items:
        raise LoadError(list_file, "lists no cases")
    return _dedupe(items)


def map_labels(count: int) -> list[str]:
    """``Map A`` ... ``Map Z``, then ``Map AA`` ... (spreadsheet column names)."""
    labels = []
    for i in range(count):
        name, n = "", i + 1
        while n:
            n, rem = divmod(n - 1, 26)
            name = chr(ord("A") + rem) + name
        labels.append(f"Map {name}")
    return labels


class Study:
    """A reader study stored in a :class:`ReviewStore`; use :meth:`create` or :meth:`open`."""

    def __init__(self, store: ReviewStore, name: str, seed: int, methods: Sequence[str],
                 cases: Sequence[WorkItem]) -> None:
        self.store, self.name, self.seed = store, name, seed
        self.methods = tuple(methods)
        self.cases = tuple(cases)

    @classmethod
    def create(cls, store: ReviewStore, name: str, items: Sequence[WorkItem],
               methods: Sequence[str] = METHODS, seed: int | None = None) -> "Study":
        """Store a new study (its worklist, methods and seed) and return it.

        Raises
        ------
        ReadingValueError
            Empty name, no cases, or a bad method name / case id.
        StoreError
            A study of that name exists, or the database refused the write.
        """
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ReadingValueError("study", "needs a name of 1 to 200 characters")
        if not items:
            raise ReadingValueError("study", "needs at least one case")
        methods = list(dict.fromkeys(check_method(m) for m in methods))
        if not methods:
            raise ReadingValueError("study", "needs at least one method")
        for item in items:
            check_case_id(item.case_id)
        seed = secrets.randbits(62) if seed is None else int(seed)
        at = utc_now()
        try:
            with store.transaction() as conn:
                if conn.execute("SELECT 1 FROM studies WHERE name = ?", (name,)).fetchone():
                    raise StoreError(store.path, f"a study named {name!r} already exists")
                conn.execute("INSERT INTO studies (name, seed, methods, created_at) "
                             "VALUES (?, ?, ?, ?)", (name, seed, json.dumps(methods), at))
                for position, item in enumerate(items):
                    conn.execute(
                        "INSERT INTO cases (case_id, case_label, source_path, created_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (case_id) DO NOTHING",
                        (item.case_id, item.case_label, item.source_path, at))
                    conn.execute("INSERT INTO study_cases (study, position, case_id) "
                                 "VALUES (?, ?, ?)", (name, position, item.case_id))
        except sqlite3.IntegrityError:
            raise StoreError(store.path, f"study {name!r} lists a case twice") from None
        except sqlite3.Error as exc:
            raise StoreError(store.path, describe(exc)) from None
        return cls(store, name, seed, methods, items)

    @classmethod
    def open(cls, store: ReviewStore, name: str) -> "Study":
        """Load a stored study; ``StoreError`` when there is none of that name."""
        rows = store.query("SELECT seed, methods FROM studies WHERE name = ?", (name,))
        if not rows:
            raise StoreError(store.path, f"no study named {name!r}")
        cases = [WorkItem(r["case_id"], r["case_label"], r["source_path"])
                 for r in store.query(
                     "SELECT c.case_id, c.case_label, c.source_path FROM study_cases s "
                     "JOIN cases c USING (case_id) WHERE s.study = ? ORDER BY s.position",
                     (name,))]
        return cls(store, name, rows[0]["seed"], json.loads(rows[0]["methods"]), cases)

    @staticmethod
    def names(store: ReviewStore) -> list[str]:
        return [r["name"] for r in store.query("SELECT name FROM studies ORDER BY created_at")]

    def method_order(self, case_id: str) -> list[str]:
        """The blinded order of the methods for one case (stable for this study's seed)."""
        def rank(method: str) -> str:
            return hashlib.sha256(f"{self.seed}\0{case_id}\0{method}".encode()).hexdigest()
        return sorted(self.methods, key=rank)

    def _completed(self, reviewer: str) -> set[tuple[str, str]]:
        return {(r.key.case_id, r.key.method)
                for r in self.store.readings(study=self.name, reviewer=reviewer)
                if r.completed}

    def maps(self, case_id: str, reviewer: str = "") -> list[BlindedMap]:
        """The case's maps in blinded order; a map is revealed once its reading is done."""
        done = self._completed(reviewer)
        order = self.method_order(case_id)
        return [BlindedMap(label, method, (case_id, method) in done)
                for label, method in zip(map_labels(len(order)), order)]

    def key(self, case_id: str, method: str, slice_index: int = 0,
            reviewer: str = "") -> ReadingKey:
        """The key of a reading made in this study."""
        return ReadingKey(case_id, method, slice_index, reviewer, self.name)

    def progress(self, reviewer: str = "") -> Progress:
        """Cases whose every map is done, the total, and the first case not yet done
        (in worklist order: where a reader resumes)."""
        done = self._completed(reviewer)
        finished = [all((c.case_id, m) in done for m in self.methods) for c in self.cases]
        next_case = next((c for c, f in zip(self.cases, finished) if not f), None)
        return Progress(sum(finished), len(self.cases), next_case)

    def resume(self, reviewer: str = "") -> tuple[WorkItem, BlindedMap] | None:
        """The next case and its first map not done yet; None when the study is finished."""
        item = self.progress(reviewer).next_case
        if item is None:
            return None
        first = next(m for m in self.maps(item.case_id, reviewer) if not m.revealed)
        return item, first
