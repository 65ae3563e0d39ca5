"""Tests of the tokenomy command line."""
