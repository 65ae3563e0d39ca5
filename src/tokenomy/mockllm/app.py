"""The mock's request handling: route, validate, inject faults, plan, render, and account.

:class:`App` turns one parsed HTTP request into an answer for the connection to carry out
(:mod:`tokenomy.mockllm.reply`). It owns the ground truth: the planner (random generator,
prompt caches) and the ledger. It is not thread-safe; the server calls it from its event loop
only.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from tokenomy.mockllm import overrides
from tokenomy.mockllm.config import FAULTS, MockLLMConfig
from tokenomy.mockllm.counting import Counter
from tokenomy.mockllm.http import Request
from tokenomy.mockllm.ledger import Ledger, Served
from tokenomy.mockllm.plan import Plan, Planner
from tokenomy.mockllm.prompt import InvalidRequestError, Prompt
from tokenomy.mockllm.reply import Action, Drop, Headers, Reply, Stream
from tokenomy.mockllm.wire import anthropic_messages, openai_legacy
from tokenomy.mockllm.wire.anthropic_messages import Messages
from tokenomy.mockllm.wire.base import Endpoint, Frame, dumps, malformed_body, malformed_frame
from tokenomy.mockllm.wire.errors import ANTHROPIC, OPENAI
from tokenomy.mockllm.wire.openai_chat import ChatCompletions
from tokenomy.mockllm.wire.openai_legacy import Completions, Embeddings
from tokenomy.mockllm.wire.openai_responses import Responses

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    ChatCompletions(),
    Responses(),
    Completions(),
    Embeddings(),
    Messages(),
)
"""The LLM API surfaces, each an adapter; routed by path."""

JSON: Final = b"content-type: application/json\r\n"
SSE: Final = b"content-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
MODELS_CREATED: Final = 1_700_000_000
_READS: Final = frozenset({"GET", "HEAD"})
"""Methods the read endpoints answer (a HEAD gets the head a GET would, without the body)."""
MEMO_BODY_BYTES: Final = 64 * 1024
MEMO_ENTRIES: Final = 512


class App:
    """Answers requests; keeps the ledger and the planner."""

    def __init__(self, config: MockLLMConfig, counter: Counter | None = None) -> None:
        self.config = config
        self.counter = counter or Counter()
        self.planner = Planner(config, self.counter)
        self.ledger = Ledger(config.keep_requests)
        self.routes: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}
        self._prefix = "req_" + secrets.token_hex(4)
        self._seq = 0
        self._parsed: dict[tuple[str, bytes], Prompt] = {}

    @property
    def received(self) -> int:
        """Requests received so far (control endpoints included), answered or not."""
        return self._seq

    def handle(self, req: Request) -> Action:
        """The answer to one request."""
        self._seq += 1
        rid = f"{self._prefix}{self._seq:012x}"
        endpoint = self.routes.get(req.path)
        if endpoint is None:
            return self._other(req, rid)
        if req.method != "POST":
            return self._error(endpoint, rid, 405, f"{req.method} is not allowed on {req.path}; use POST")
        body: Any = None
        try:
            prompt = self._parsed.get((req.path, req.body))
            if prompt is None:
                body = json.loads(req.body)
                if not isinstance(body, dict):
                    raise InvalidRequestError("the request body must be a JSON object")
                prompt = self._remember(req, endpoint.parse(body))
            over = overrides.read(req.headers) if self.config.header_overrides else overrides.NONE
        except ValueError as exc:  # JSON errors, bad X-Mock-* headers
            message = (
                f"could not parse the request body as JSON: {exc}"
                if req.body
                else "the request body is empty"
            )
            if isinstance(exc, overrides.HeaderError):
                message = str(exc)
            return self._error(endpoint, rid, 400, message)
        except InvalidRequestError as exc:
            return self._error(endpoint, rid, exc.status, exc.message, param=exc.param, model=_model_of(body))
        return self._answer(endpoint, prompt, over, rid)

    def _remember(self, req: Request, prompt: Prompt) -> Prompt:
        """Keep the prompt of a small body: clients and load generators resend the same bodies, and
        a prompt (with its token counts) is the same every time its bytes are."""
        if len(req.body) <= MEMO_BODY_BYTES:
            if len(self._parsed) >= MEMO_ENTRIES:
                self._parsed.clear()
            self._parsed[req.path, req.body] = prompt
        return prompt

    def _answer(self, endpoint: Endpoint, prompt: Prompt, over: overrides.Overrides, rid: str) -> Action:
        fault = over.error if over.error is not None else self._draw_fault()
        if isinstance(fault, int) or (fault == "stream_error" and not prompt.stream):
            status = fault if isinstance(fault, int) else 500
            return self._error(endpoint, rid, status, endpoint.errors.injected(status), model=prompt.model)
        if fault in ("hangup", "stall"):
            stall = self.config.stall_ms if over.stall_ms is None else over.stall_ms
            served = Served(rid, prompt.model, endpoint.name, 0, fault, prompt.stream, complete=False)
            return Drop(stall / 1000 if fault == "stall" else 0.0, lambda: self.ledger.record(served))
        plan = self.planner.plan(prompt, over, rid, self._seq, int(time.time()))
        job = _Job(endpoint, prompt, plan, self._headers(endpoint, rid, stream=prompt.stream), fault)
        if prompt.stream and prompt.generates:
            return self._stream(job, over.cut_after)
        return self._reply(job)

    def _reply(self, job: _Job) -> Reply:
        plan = job.plan
        body = malformed_body() if job.fault == "malformed" else job.endpoint.body(plan, job.prompt)

        def done(complete: bool) -> None:
            self.ledger.record(job.served(False, complete, plan.total_output, plan.reasoning_tokens))

        return Reply(
            200,
            job.headers,
            body,
            delay_s=plan.timing.before_body(plan.token_frames),
            chunked=self.config.chunked_json,
            cut_at=len(body) // 2 if job.fault == "cut" else None,
            done=done,
        )

    def _stream(self, job: _Job, cut: int | None) -> Stream:
        plan, fault = job.plan, job.fault
        frames = job.endpoint.frames(plan, job.prompt)
        at = min(self.config.cut_after_frames if cut is None else cut, len(frames) - 1)
        if fault == "malformed":
            frames = [*frames[:at], Frame(malformed_frame(_event_name(frames[at].data))), *frames[at + 1 :]]
        elif fault == "stream_error":
            frames = [*frames[:at], Frame(job.endpoint.stream_error(plan))]

        def done(sent: int, complete: bool) -> None:
            if complete and fault is None:  # every frame went out: the plan's totals, no need to add up
                self.ledger.record(job.served(True, True, plan.total_output, plan.reasoning_tokens))
                return
            out = frames[:sent]
            self.ledger.record(
                job.served(True, complete, sum(f.tokens for f in out), sum(f.reasoning for f in out))
            )

        timing = plan.timing
        gap = timing.gap_s if timing.total_s is None else timing.gap_for(sum(1 for f in frames if f.tokens))
        return Stream(job.headers, frames, timing.ttft_s, gap, at if fault == "cut" else None, done)

    def _draw_fault(self) -> int | str | None:
        cfg = self.config
        if not cfg.error_rates and not cfg.fault_rates:
            return None
        draw = self.planner.rng.random()
        for status, rate in sorted(cfg.error_rates.items()):
            draw -= rate
            if draw < 0:
                return status
        for fault in FAULTS:
            draw -= cfg.fault_rates.get(fault, 0.0)
            if draw < 0:
                return fault
        return None

    def _headers(self, endpoint: Endpoint, rid: str, *, stream: bool) -> Headers:
        ids = b"x-request-id: %s\r\n" % rid.encode()
        if endpoint.id_header != "x-request-id":
            ids += b"request-id: %s\r\n" % rid.encode()
        return (SSE if stream else JSON) + ids

    def _error(
        self,
        endpoint: Endpoint,
        rid: str,
        status: int,
        message: str,
        *,
        param: str | None = None,
        model: str = "",
    ) -> Reply:
        body = endpoint.errors.body(status, message, param=param, request_id=rid)
        served = Served(rid, model, endpoint.name, status)
        return Reply(
            status,
            self._headers(endpoint, rid, stream=False),
            body,
            done=lambda _: self.ledger.record(served),
        )

    def _other(self, req: Request, rid: str) -> Reply:
        """Control endpoints, model listings and unknown paths (not recorded in the ledger)."""
        anthropic = "anthropic-version" in req.headers
        headers = JSON + b"%s: %s\r\n" % (b"request-id" if anthropic else b"x-request-id", rid.encode())
        path, method = req.path, req.method
        if path == "/_mock/stats" and method in _READS:
            with_requests = req.query.replace(" ", "") not in ("requests=0", "requests=false")
            return Reply(200, headers, dumps(self.stats(with_requests=with_requests)))
        if path.startswith("/_mock/requests/") and method in _READS:
            served = self.ledger.get(path.removeprefix("/_mock/requests/"))
            if served is not None:
                return Reply(200, headers, dumps(asdict(served)))
        elif path == "/_mock/reset" and method == "POST":
            self.reset()
            return Reply(200, headers, b'{"reset":true}')
        elif path == "/v1/models" and method in _READS:
            models = self.config.models
            body = anthropic_messages.models_list(models, "2025-01-01T00:00:00Z") if anthropic else None
            return Reply(200, headers, body or openai_legacy.models_list(models, MODELS_CREATED))
        elif path.startswith("/v1/models/") and method in _READS:
            return self._model(path.removeprefix("/v1/models/"), anthropic, headers, rid)
        shape = ANTHROPIC if anthropic else OPENAI
        body = shape.body(404, f"Invalid URL ({method} {path})", param=None, request_id=rid)
        return Reply(404, headers, body)

    def _model(self, model: str, anthropic: bool, headers: Headers, rid: str) -> Reply:
        shape = ANTHROPIC if anthropic else OPENAI
        if model not in self.config.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return Reply(404, headers, shape.body(404, message, param="model", request_id=rid))
        if anthropic:
            return Reply(200, headers, anthropic_messages.model_info(model, "2025-01-01T00:00:00Z"))
        return Reply(200, headers, openai_legacy.model_info(model, MODELS_CREATED))

    def stats(self, *, with_requests: bool = True) -> dict[str, Any]:
        """The ledger's snapshot, plus how input tokens are counted."""
        return {**self.ledger.snapshot(with_requests=with_requests), "counter": self.counter.source}

    def reset(self) -> None:
        """Forget what was served; empty the prompt caches; restart the random sequence."""
        self.ledger.reset()
        self.planner.reset()


@dataclass(slots=True)
class _Job:
    """One planned answer, on its way to the connection."""

    endpoint: Endpoint
    prompt: Prompt
    plan: Plan
    headers: Headers
    fault: str | None

    def served(self, streamed: bool, complete: bool, output: int, reasoning: int) -> Served:
        """The ledger record of this answer, with the output tokens really sent."""
        plan = self.plan
        return Served(
            request_id=plan.request_id,
            model=plan.model,
            endpoint=self.endpoint.name,
            status=200,
            fault=self.fault,
            streamed=streamed,
            complete=complete,
            input_tokens=plan.input_tokens,
            cached_tokens=plan.cache_read,
            cache_write_5m=plan.cache_write_5m,
            cache_write_1h=plan.cache_write_1h,
            output_tokens=output,
            reasoning_tokens=reasoning,
        )


def _model_of(body: Any) -> str:
    model = body.get("model") if isinstance(body, Mapping) else None
    return model if isinstance(model, str) else ""


def _event_name(frame: bytes) -> str | None:
    if not frame.startswith(b"event: "):
        return None
    return frame[7 : frame.index(b"\n")].decode()
