"""The importer contract: a format name, a confidence for a sampled file, and a way to load it.

An importer is registered under a format name. It says how sure it is that a file is in its
format (:meth:`Importer.sniff`, from a :class:`~tokenomy.importers.reading.Sample`) and loads
the file into the store (:meth:`Importer.load`). Most importers only turn records into Calls
and Charges (:class:`RecordImporter`): they yield items, and the shared sink prices and stores
them, keeping bad records as :class:`~tokenomy.errors.RecordError` items instead of raising.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.results import Context, FileResult, ImportOptions, Item
from tokenomy.importers.sink import store_items


class Importer(ABC):
    """One input format."""

    name: ClassVar[str]
    """The format name used by ``--format``."""
    summary: ClassVar[str]
    """One line for ``--help`` and the docs."""

    @abstractmethod
    def sniff(self, sample: Sample) -> float:
        """How sure this importer is that the sampled file is in its format, from 0 to 1."""

    @abstractmethod
    def load(self, source: Source, ctx: Context) -> FileResult:
        """Import the file into ``ctx.store``.

        Raises:
            ImportFileError: The file as a whole cannot be read in this format.
        """


class RecordImporter(Importer):
    """An importer that yields calls and charges; the shared sink prices and stores them."""

    @abstractmethod
    def read(self, source: Source, options: ImportOptions) -> Iterator[Item]:
        """The file's calls, charges and bad records, in file order.

        Raises:
            ImportFileError: The file as a whole cannot be read in this format.
        """

    def load(self, source: Source, ctx: Context) -> FileResult:
        """Read the file and hand its items to the sink (price, attribute, store)."""
        return store_items(self.read(source, ctx.options), source, ctx, fmt=self.name)
