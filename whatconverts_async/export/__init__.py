"""Backfill export: every lead of a date range to JSONL or CSV, resumable after any crash.

How exactly-once output survives a crash (``kill -9`` included):

* Leads are appended page by page to a data file (the output itself for JSONL, a
  ``.partial`` JSONL beside it for CSV), flushed and fsynced (:mod:`.sinks`).
* After each page a sidecar checkpoint (``<output>.checkpoint``) is replaced atomically
  (write a temporary file, fsync, rename, fsync the folder). It records the byte length
  of the data file at that moment, the window and the next page to read, the window's
  total, and the scan's fixed end instant (:mod:`.checkpoint`).
* The checkpoint also proves the data: per finished window its end offset, line count
  and SHA-256, the same for the current window's committed pages, and the leads written
  without a ``date_created`` (see :class:`.Checkpoint`). Before any request a resume
  hashes the data file again and refuses (:class:`CheckpointError` naming the file, the
  window, its lines and the way out) if a line was cut short, removed, added or edited,
  or if what follows the last committed page is not what a crash leaves there.
* ``resume=True`` then truncates the data file to the recorded length (dropping anything
  written after the last checkpoint), re-reads the lead ids already written in the
  current window, hands the undated leads back to the scan plan (so the API returning
  one of them for a later window stops the export instead of writing it twice), and
  continues from the recorded page. If the window's total has
  changed meanwhile, the window is read again from its first page, skipping the ids
  already written. Nothing is lost, nothing is written twice.
* A CSV is produced from the finished data file in one streaming pass, written to a
  temporary file and renamed into place, so a CSV at the output path is always whole.
* A finished export leaves a completion record in the state folder; ``resume=True`` on
  it is a no-op (``ExportResult.already_complete``), so cron can repeat one command.
* One export per output at a time (:mod:`.lock`).

Example::

    async with WhatConverts.from_env() as wc:
        result = await export_leads(wc, "leads.jsonl", start_date=date(2015, 1, 1))
        print(result.leads_written, result.requests_used)
"""

from ..errors import CheckpointError, ExportError
from .checkpoint import CHECKPOINT_VERSION, Checkpoint, Completion
from .orchestrator import ExportProgress, ExportResult, export_leads, export_state
from .sinks import CSV_FIELDS, jsonl_to_csv, merge_jsonl, read_jsonl_ids

__all__ = [
    "CHECKPOINT_VERSION",
    "CSV_FIELDS",
    "Checkpoint",
    "CheckpointError",
    "Completion",
    "ExportError",
    "ExportProgress",
    "ExportResult",
    "export_leads",
    "export_state",
    "jsonl_to_csv",
    "merge_jsonl",
    "read_jsonl_ids",
]
