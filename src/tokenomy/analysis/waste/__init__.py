"""Waste detectors: one module per category, each stating its rule, thresholds and evidence.

:data:`DETECTORS` lists them (:mod:`.registry`); :class:`Context` is what they read and
:class:`Detection` what they return. The audit (:mod:`tokenomy.analysis.audit`) runs them and
turns their hits into findings; docs/audit.md describes every rule.
"""

from __future__ import annotations

from tokenomy.analysis.waste.base import (
    AuditOptions,
    Context,
    Detection,
    Detector,
    Hit,
    HitCall,
    Route,
)
from tokenomy.analysis.waste.registry import CATEGORIES, DETECTORS, detector

__all__ = [
    "CATEGORIES",
    "DETECTORS",
    "AuditOptions",
    "Context",
    "Detection",
    "Detector",
    "Hit",
    "HitCall",
    "Route",
    "detector",
]
