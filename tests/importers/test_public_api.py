"""The importers' public API, pinned: changing it is a decision, not an accident."""

from __future__ import annotations

import tokenomy.importers


def test_public_names() -> None:
    assert sorted(tokenomy.importers.__all__) == sorted(
        [
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
    )
    assert all(hasattr(tokenomy.importers, name) for name in tokenomy.importers.__all__)
