"""What a tool does to the world, judged from its name alone: reads, writes, or runs arbitrary code.

Calls record a tool's name and a hash of its arguments, never the arguments. A repeated call of a
*reading* tool with the same arguments returns what the agent already has, unless something
changed the world in between. Whatever *writes* (edit, save, post, delete...) or *runs code*
(a shell, a Python cell, curl) may have changed it, so it ends the span in which a repeat counts as
redundant, and a repeat of such a tool is never called redundant itself: running ``pytest`` twice
around an edit, or polling a job with the same command, is the point. Navigation and clocks
(``scroll_down``, ``next_page``, ``get_time``) return something new each time and are never redundant
either. A hand-off to a sub-agent (``delegate_*``) is neither judged nor a barrier: the sub-agent's
own tool calls are in the session and speak for themselves. Names are split into words
(``str_replace_editor`` -> str, replace, editor; ``createIssue`` -> create, issue) and matched word
by word.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from tokenomy.usage import args_hash

ToolKind = Literal["read", "write", "exec", "volatile"]

WRITE_WORDS: Final = frozenset(
    {"write", "edit", "create", "update", "delete", "remove", "rm", "post", "put", "patch", "save"}
    | {"submit", "send", "issue", "apply", "insert", "upsert", "commit", "push", "deploy", "refund"}
    | {"cancel", "book", "pay", "purchase", "set", "move", "mv", "rename", "replace", "mkdir", "upload"}
    | {"publish", "approve", "merge", "reply", "add", "append", "modify", "change", "assign", "close"}
    | {"finish", "drop", "reset", "restart", "install", "transfer", "charge", "email", "notify"}
    | {"cd", "pushd", "popd", "export", "source", "cp", "touch", "chmod", "chown", "sed", "ln", "tee"}
)
EXEC_WORDS: Final = frozenset(
    {"bash", "sh", "shell", "terminal", "cmd", "command", "exec", "execute", "python", "ipython"}
    | {"jupyter", "interpreter", "computer", "curl", "wget", "eval", "script", "sandbox", "repl"}
    | {"node", "javascript", "browser", "playwright", "click", "type", "git", "pytest", "make", "npm", "npx"}
    | {"pip", "cargo", "go", "python3", "docker", "kubectl"}
)
VOLATILE_WORDS: Final = frozenset(
    {"scroll", "next", "prev", "previous", "goto", "back", "forward", "wait", "sleep", "poll", "refresh"}
    | {"time", "now", "date", "random", "status", "progress", "tail", "latest"}
    | {"delegate", "spawn", "handoff", "agent", "subagent", "task"}
)
EMPTY_ARGS: Final = frozenset({args_hash({}), args_hash([]), args_hash(None), args_hash("")})
"""Hashes of "no arguments": a call without arguments identifies nothing to compare."""

_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT: Final = re.compile(r"[^a-z0-9]+")


def words(name: str) -> set[str]:
    """The words of a tool name, lower-cased."""
    return {w for w in _SPLIT.split(_CAMEL.sub(" ", name).lower()) if w}


def kind(name: str) -> ToolKind:
    """``write`` or ``exec`` (may change the world), ``volatile`` (new each time) or ``read``."""
    found = words(name)
    if found & WRITE_WORDS:
        return "write"
    if found & EXEC_WORDS:
        return "exec"
    if found & VOLATILE_WORDS:
        return "volatile"
    return "read"
