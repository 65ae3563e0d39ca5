"""Tests of tokenomy.pricing."""
