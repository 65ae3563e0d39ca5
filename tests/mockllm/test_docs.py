"""docs/mock-upstream.md documents every knob, header, option and fault the mock has."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import click

from tokenomy.cli.mockllm import command
from tokenomy.mockllm import FAULTS, MockLLMConfig, overrides

DOC = (Path(__file__).resolve().parents[2] / "docs" / "mock-upstream.md").read_text(encoding="utf-8")


def test_every_config_field_is_documented() -> None:
    missing = [f.name for f in dataclasses.fields(MockLLMConfig) if f"`{f.name}`" not in DOC]
    assert not missing, f"add these MockLLMConfig fields to docs/mock-upstream.md: {missing}"


def test_every_header_is_documented() -> None:
    headers = set(re.findall(r'"(x-mock-[a-z-]+)"', inspect.getsource(overrides)))
    assert len(headers) == 12
    missing = [h for h in sorted(headers) if h not in DOC.lower()]
    assert not missing, f"add these headers to docs/mock-upstream.md: {missing}"


def test_every_cli_option_and_fault_is_documented() -> None:
    options = [opt for p in command.params if isinstance(p, click.Option) for opt in p.opts]
    missing = [o for o in options if f"`{o}" not in DOC] + [f for f in FAULTS if f"`{f}`" not in DOC]
    assert not missing, f"add these to docs/mock-upstream.md: {missing}"
