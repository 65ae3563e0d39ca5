"""OpenAI's simpler surfaces: ``POST /v1/completions``, ``POST /v1/embeddings``, ``GET /v1/models``.

Completions count the prompt's text (or its token ids) and, like the real API, default
``max_tokens`` to 16. Embeddings count every input, return a deterministic unit vector per input
(floats, or base64 little-endian float32 when ``encoding_format`` is ``base64``, the SDK's
default) and report ``prompt_tokens`` = ``total_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokenomy.mockllm import generate
from tokenomy.mockllm.plan import Plan
from tokenomy.mockllm.prompt import InvalidRequestError, Prompt, Segment, optional_int, require_model
from tokenomy.mockllm.wire.base import DELTA, DeltaTemplate, ErrorShape, Frame, dumps, sse
from tokenomy.mockllm.wire.errors import OPENAI
from tokenomy.mockllm.wire.openai_chat import DONE

DEFAULT_COMPLETION_TOKENS: Final = 16
EMBEDDING_DIMS: Final = {"text-embedding-3-large": 3072}
DEFAULT_DIMS: Final = 1536


class Completions:
    """``/v1/completions`` (legacy text completions)."""

    name = "/v1/completions"
    errors: ErrorShape = OPENAI
    id_header = "x-request-id"

    def parse(self, body: Mapping[str, Any]) -> Prompt:
        """Read a completion request."""
        model = require_model(body)
        prompts = _inputs(body.get("prompt"), "prompt")
        stream = body.get("stream") is True
        options = body.get("stream_options")
        return Prompt(
            model=model,
            segments=prompts,
            max_output=optional_int(body, "max_tokens") or DEFAULT_COMPLETION_TOKENS,
            stream=stream,
            include_usage=stream and isinstance(options, Mapping) and options.get("include_usage") is True,
            reasoning=False,
            body=body,
        )

    def body(self, plan: Plan, prompt: Prompt) -> bytes:
        """The ``text_completion`` object."""
        choice = {
            "text": generate.text(plan.output_tokens),
            "index": 0,
            "logprobs": None,
            "finish_reason": _finish(plan),
        }
        return dumps({**_head(plan), "choices": [choice], "usage": _usage(plan)})

    def frames(self, plan: Plan, prompt: Prompt) -> list[Frame]:
        """``text_completion`` chunks, the optional usage chunk, then ``[DONE]``."""
        head = _head(plan)
        template = DeltaTemplate({**head, "choices": [_choice(DELTA, None)]})
        frames = [
            Frame(template.fill_words(t), output=n)
            for t, n in generate.chunks(plan.output_tokens, plan.chunk_tokens)
        ]
        frames.append(Frame(sse({**head, "choices": [_choice("", _finish(plan))]})))
        if prompt.include_usage:
            frames.append(Frame(sse({**head, "choices": [], "usage": _usage(plan)})))
        frames.append(Frame(DONE))
        return frames

    def stream_error(self, plan: Plan) -> bytes:
        """An ``error`` object as a data event."""
        message = "The server had an error while processing your request. (mock upstream: stream_error)"
        return b"data: " + OPENAI.body(500, message, param=None, request_id=plan.request_id) + b"\n\n"


class Embeddings:
    """``/v1/embeddings``."""

    name = "/v1/embeddings"
    errors: ErrorShape = OPENAI
    id_header = "x-request-id"

    def parse(self, body: Mapping[str, Any]) -> Prompt:
        """Read an embeddings request (never streamed, never cached, no output)."""
        model = require_model(body)
        inputs = _inputs(body.get("input"), "input")
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            raise InvalidRequestError(
                f"'encoding_format' must be 'float' or 'base64', got {fmt!r}", "encoding_format"
            )
        optional_int(body, "dimensions")
        return Prompt(model=model, segments=inputs, cache="none", generates=False, body=body)

    def body(self, plan: Plan, prompt: Prompt) -> bytes:
        """The embeddings list."""
        dims = prompt.body.get("dimensions") or EMBEDDING_DIMS.get(plan.model, DEFAULT_DIMS)
        b64 = prompt.body.get("encoding_format") == "base64"
        data = []
        for index, segment in enumerate(prompt.segments):
            vector = generate.embedding(segment.key, int(dims))
            values: Any = generate.embedding_base64(vector) if b64 else [float(x) for x in vector]
            data.append({"object": "embedding", "index": index, "embedding": values})
        usage = {"prompt_tokens": plan.input_tokens, "total_tokens": plan.input_tokens}
        return dumps({"object": "list", "data": data, "model": plan.model, "usage": usage})

    def frames(self, plan: Plan, prompt: Prompt) -> list[Frame]:
        """Embeddings are never streamed: one frame holding the whole body."""
        return [Frame(self.body(plan, prompt))]

    def stream_error(self, plan: Plan) -> bytes:
        """Not used: embeddings do not stream."""
        return b""


def models_list(models: tuple[str, ...], created: int) -> bytes:
    """``GET /v1/models`` as OpenAI answers it."""
    data = [{"id": m, "object": "model", "created": created, "owned_by": "mock"} for m in models]
    return dumps({"object": "list", "data": data})


def model_info(model: str, created: int) -> bytes:
    """``GET /v1/models/{id}`` as OpenAI answers it."""
    return dumps({"id": model, "object": "model", "created": created, "owned_by": "mock"})


def _inputs(raw: Any, field: str) -> tuple[Segment, ...]:
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise InvalidRequestError(
            f"'{field}' must be a string, an array of strings or an array of token arrays", field
        )
    segments = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            segments.append(Segment(item, item))
        elif isinstance(item, list) and all(isinstance(t, int) for t in item):
            segments.append(Segment(repr(item), "", len(item)))
        else:
            raise InvalidRequestError(f"'{field}[{i}]' must be a string or an array of token ids", field)
    return tuple(segments)


def _head(plan: Plan) -> dict[str, Any]:
    return {
        "id": f"cmpl-mock{plan.seq:020x}",
        "object": "text_completion",
        "created": plan.created,
        "model": plan.model,
    }


def _choice(text: str, finish: str | None) -> dict[str, Any]:
    return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}


def _finish(plan: Plan) -> str:
    return "length" if plan.capped else "stop"


def _usage(plan: Plan) -> dict[str, Any]:
    total = plan.input_tokens + plan.total_output
    return {"prompt_tokens": plan.input_tokens, "completion_tokens": plan.total_output, "total_tokens": total}
