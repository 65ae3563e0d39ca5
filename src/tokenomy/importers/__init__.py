"""Importers: files and exports from other tools turned into Calls and Charges, priced and stored.

One importer per format (:data:`FORMATS`): native JSONL, raw provider responses and streams, OTLP
traces, LiteLLM logs, Langfuse exports, chat transcripts, SWE-agent trajectories and OpenHands
call logs. :func:`import_paths` walks files and directories, detects each file's format, and
stores what it reads, reporting bad records by file, record and field. docs/importing.md
describes every format's mapping.

Typical use::

    from tokenomy.importers import import_paths
    from tokenomy.pricing import Pricer
    from tokenomy.store import open_store

    with open_store("tokenomy.duckdb") as store:
        summary = import_paths(["logs/"], store=store, pricer=Pricer())
    print(summary.calls, summary.cost, summary.rejected)
"""

from __future__ import annotations

from tokenomy.importers.base import Importer, RecordImporter
from tokenomy.importers.otel_calls import calls_from_spans, is_llm_span
from tokenomy.importers.otlp_decode import Span, decode_json, decode_protobuf
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.registry import FORMATS, detect, format_names
from tokenomy.importers.results import Context, FileResult, ImportOptions, Note, Progress
from tokenomy.importers.run import AUTO, ImportSummary, collect_files, import_file, import_paths

__all__ = [
    "AUTO",
    "FORMATS",
    "Context",
    "FileResult",
    "ImportOptions",
    "ImportSummary",
    "Importer",
    "Note",
    "Progress",
    "RecordImporter",
    "Sample",
    "Source",
    "Span",
    "calls_from_spans",
    "collect_files",
    "decode_json",
    "decode_protobuf",
    "detect",
    "format_names",
    "import_file",
    "import_paths",
    "is_llm_span",
]
