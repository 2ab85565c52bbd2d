"""The radiologist's readings: a SQLite store saved on every edit, reader studies, export.

Pure Python (sqlite3): no Qt, no TensorFlow, nothing from lungview.explain or .model.

Typical use from the GUI (one store per process, on the GUI thread)::

    store = ReviewStore()                       # the user's data folder
    store.upsert_case(case_id, "A0002 series 2", path)
    key = ReadingKey(case_id, "gradcam", slice_index=12, reviewer="dr. x")
    try:
        store.save_field(key, "comment", text)  # committed (and fsynced) on return
    except SaveError as exc:                    # keep the text dirty; exc.pending_path
        show(exc.reason)                        # says whether it was journaled
"""

from lungview.review.export import reading_rows, summarise
from lungview.review.models import (AGREEMENT_VALUES, FIELDS, FOCUS_VALUES, FP_FLAGS, METHODS,
                                    Case, Reading, ReadingKey, ReadingValueError, Region)
from lungview.review.schema import MIGRATIONS, default_data_dir, default_db_path
from lungview.review.store import ReviewStore, SaveError, StoreError
from lungview.review.study import (BlindedMap, Progress, Study, WorkItem, content_case_id,
                                   worklist_from_file, worklist_from_folder)

__all__ = [
    "AGREEMENT_VALUES", "FIELDS", "FOCUS_VALUES", "FP_FLAGS", "METHODS", "MIGRATIONS",
    "BlindedMap", "Case", "Progress", "Reading", "ReadingKey", "ReadingValueError",
    "Region", "ReviewStore", "SaveError", "StoreError", "Study", "WorkItem",
    "content_case_id", "default_data_dir", "default_db_path", "reading_rows", "summarise",
    "worklist_from_file", "worklist_from_folder",
]
