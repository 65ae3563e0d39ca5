"""Analyses over the store: plain functions that return typed results or Arrow tables."""

from __future__ import annotations

from tokenomy.analysis.report import Report, ReportRow, daily_totals

__all__ = ["Report", "ReportRow", "daily_totals"]
