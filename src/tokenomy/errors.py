"""The error hierarchy. Every message says what went wrong, where, and what to do next.

::

    TokenomyError
    ├── ConfigError            a setting is missing or malformed
    ├── UsageError             a usage body cannot be read
    ├── PricingError           a price cannot be found or an overrides file is bad
    ├── TokenizerError         a tokenizer's data is missing or corrupt
    ├── StoreError             the store cannot be opened, migrated or written
    └── ImportFileError           an input file cannot be imported
        └── RecordError        one record of a file is bad (file, record number, field)
"""

from __future__ import annotations


class TokenomyError(Exception):
    """Base of every error tokenomy raises on purpose."""


class ConfigError(TokenomyError):
    """A setting is missing or malformed."""


class UsageError(TokenomyError):
    """A usage body cannot be read."""


class PricingError(TokenomyError):
    """A price cannot be found, or an overrides file is malformed."""


class TokenizerError(TokenomyError):
    """A tokenizer's data is missing or does not match its checksum."""


class StoreError(TokenomyError):
    """The store cannot be opened, migrated or written."""


class ImportFileError(TokenomyError):
    """An input file cannot be imported (unreadable, truncated, binary, or of unknown format)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.detail = message


class RecordError(ImportFileError):
    """One record of an input file is bad. Good records of the same file are still stored."""

    def __init__(self, path: str, record: int, field: str | None, message: str) -> None:
        where = f"record {record}" + (f", field '{field}'" if field else "")
        super().__init__(path, f"{where}: {message}")
        self.record = record
        self.field = field
