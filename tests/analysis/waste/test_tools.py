"""What a tool does, from its name: read, write, run code, or return something new each time."""

from __future__ import annotations

import pytest

from tokenomy.analysis.waste import tools
from tokenomy.usage import args_hash


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("read_file", "read"),
        ("web_search", "read"),
        ("lookupOrder", "read"),
        ("run_tests", "read"),
        ("str_replace_editor", "write"),
        ("createIssue", "write"),
        ("issue_refund", "write"),
        ("cd", "write"),
        ("bash", "exec"),
        ("run_python", "exec"),
        ("curl", "exec"),
        ("scroll_down", "volatile"),
        ("get_current_time", "volatile"),
        ("delegate_page_reader", "volatile"),
    ],
)
def test_tool_kinds_come_from_the_words_of_the_name(name: str, kind: str) -> None:
    assert tools.kind(name) == kind


def test_names_split_into_words() -> None:
    assert tools.words("str_replace_editor") == {"str", "replace", "editor"}
    assert tools.words("createIssue") == {"create", "issue"}


def test_no_arguments_hash_like_an_empty_object() -> None:
    assert args_hash("") in tools.EMPTY_ARGS
    assert args_hash("{}") in tools.EMPTY_ARGS
    assert args_hash({"path": "a.py"}) not in tools.EMPTY_ARGS
