"""Client adapters: one module per supported SDK (openai, anthropic), chosen by :func:`adapter_for`."""

from __future__ import annotations

from tokenomy.capture.sdk.base import ClientAdapter, ErrorInfo, Route
from tokenomy.capture.sdk.registry import ADAPTERS, adapter_for

__all__ = ["ADAPTERS", "ClientAdapter", "ErrorInfo", "Route", "adapter_for"]
