"""The registry of input formats, and detection: which importer reads a file.

Every format is one importer in :data:`FORMATS`. Detection samples the file (its first bytes,
its first JSON records; see :class:`~tokenomy.importers.reading.Sample`), asks every importer how
sure it is, and takes the surest one above :data:`MIN_CONFIDENCE`; ties go to the earlier entry.
A file no importer claims is refused with a one-line error naming what it looked like.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from tokenomy.errors import ImportFileError
from tokenomy.importers.base import Importer
from tokenomy.importers.langfuse import LangfuseImporter
from tokenomy.importers.litellm import LiteLLMImporter
from tokenomy.importers.native import NativeImporter
from tokenomy.importers.openhands import OpenHandsImporter
from tokenomy.importers.otlp import OtlpImporter
from tokenomy.importers.provider import ProviderImporter
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.recordings import RecordingImporter
from tokenomy.importers.swe_agent import SweAgentImporter
from tokenomy.importers.transcript import TranscriptImporter

FORMATS: Final[Mapping[str, Importer]] = MappingProxyType(
    {
        importer.name: importer
        for importer in (
            NativeImporter(),
            OtlpImporter(),
            LiteLLMImporter(),
            LangfuseImporter(),
            OpenHandsImporter(),
            SweAgentImporter(),
            ProviderImporter(),
            RecordingImporter(),
            TranscriptImporter(),
        )
    }
)
"""Every importer by format name, in tie-breaking order (read-only)."""

MIN_CONFIDENCE: Final = 0.5


def format_names() -> tuple[str, ...]:
    """The format names ``--format`` accepts (besides ``auto``)."""
    return tuple(FORMATS)


def get(name: str) -> Importer:
    """The importer of a format.

    Raises:
        KeyError: No format has that name.
    """
    return FORMATS[name]


def detect(source: Source) -> Importer:
    """The importer surest to read ``source``.

    Raises:
        ImportFileError: The file is empty or unreadable, or no importer recognises it.
    """
    sample = source.sample()
    scored = [(importer.sniff(sample), index, importer) for index, importer in enumerate(FORMATS.values())]
    confidence, _, best = max(scored, key=lambda s: (s[0], -s[1]))
    if confidence < MIN_CONFIDENCE:
        raise ImportFileError(
            source.name,
            f"unrecognised format ({describe(sample)}); pass --format with one of: {', '.join(FORMATS)}",
        )
    return best


def describe(sample: Sample) -> str:
    """A few words on what a sampled file looks like, for error messages."""
    if sample.kind == "binary":
        return "binary data that is not an OTLP protobuf request"
    if sample.kind == "text":
        first = sample.text.strip().splitlines()[0][:40] if sample.text.strip() else ""
        return f"text starting {first!r}"
    first = sample.first
    if isinstance(first, Mapping):
        keys = ", ".join(sorted(map(str, first))[:8])
        return f"{'JSON lines' if sample.kind == 'jsonl' else 'a JSON object'} with keys {keys}"
    if isinstance(first, list):
        return f"a JSON list of {len(first)} items"
    return f"JSON {type(first).__name__}"
