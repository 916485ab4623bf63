"""A subscriber import started from the console, run by a worker with progress: read and check every
row, store the valid ones, keep a report by line (never a number), drop the uploaded file."""
from __future__ import annotations

import io
import logging

from . import organizer
from .importer import CsvFormatError, read_subscribers_csv

log = logging.getLogger(__name__)


def start_import(runtime, data: bytes, lang: str, region: str, tags: list[str], strict: bool, who: str) -> str:
    """Keep the file (encrypted, an hour at most) and queue the job; returns the import's id."""
    from .jobs import BROADCASTS, enqueue_import
    data.decode("utf-8-sig")   # UnicodeDecodeError for the caller to report: before anything is kept
    import_id = runtime.store.imports.start(data, {"lang": lang, "region": region, "tags": tags,
                                                   "strict": strict}, who)
    enqueue_import(runtime.queue(BROADCASTS), import_id)
    return import_id


def run_import(runtime, import_id: str) -> dict:
    store = runtime.store
    imports = store.imports
    job = imports.get(import_id)
    text = imports.csv(import_id)
    if job is None or text is None:
        return {"skipped": "no such import (or its file expired)"}
    options = job["options"]
    imports.progress(import_id, state="reading", total=text.count("\n") + 1)
    languages = set(runtime.content.get().catalog.languages)
    try:
        result = read_subscribers_csv(io.StringIO(text), languages, default_lang=options.get("lang") or "es",
                                      default_region=options.get("region") or "US",
                                      extra_tags=options.get("tags") or (),
                                      progress=lambda n: imports.progress(import_id, read=n) if n % 500 == 0 else None,
                                      allow_fictional=runtime.config.dry_run)
    except (CsvFormatError, ValueError) as exc:
        imports.drop_csv(import_id)
        imports.progress(import_id, state="failed", error=str(exc))
        return {"failed": str(exc)}
    finally:
        del text
    imports.drop_csv(import_id)
    rejected = [{"line": r.line, "field": r.field, "reason": r.reason} for r in result.rejected]
    report = {"summary": result.summary(), "rejected": rejected[:1000], "rejected_rows": len(result.rejected_lines),
              "duplicates_merged": result.duplicates_merged, "ready": len(result.rows)}
    imports.progress(import_id, read=result.total_lines, total=len(result.rows) or 1, state="storing")
    if options.get("strict") and rejected:
        report.update(imported=0, updated=0, opted_out=0, strict=True)
        imports.progress(import_id, state="refused", report=report)
        return report
    outcome = organizer.import_subscribers(store, result, job.get("who") or "console",
                                           progress=lambda n: imports.progress(import_id, stored=n))
    report.update(imported=outcome.imported, updated=outcome.updated, opted_out=outcome.opted_out)
    imports.progress(import_id, state="done", stored=len(result.rows), report=report)
    return {k: v for k, v in report.items() if k != "rejected"}
