"""What tokenomy never keeps: free text where a classification belongs, and span attributes outside an
allow-list.

Free text in an error type or a span's status message (an exception's message) and attributes no
convention defines (``error.message``, request metadata) can quote a prompt or a provider key. New
rows are checked where they are read (:func:`tokenomy.errors.error_kind`, the collector's span rows);
:data:`NO_FREE_TEXT` applies the same rules to rows stored before (migration
``0007_no_free_text``).
"""

from __future__ import annotations

from typing import Final

from tokenomy.errors import DIGIT_PATTERN, ERROR_KIND_PATTERN, KEY_PREFIX_PATTERN, LONG_RUN_PATTERN
from tokenomy.store.duckdb_dialect import quote

SPAN_ATTRIBUTES: Final = frozenset(
    {
        # What the span does, and for whom (the GenAI registry's operation, provider, agent, tool and
        # workflow: names, ids, versions and types; never the agent's or tool's free-text description).
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.system",  # the deprecated name of gen_ai.provider.name
        "gen_ai.conversation.id",
        "gen_ai.agent.id",
        "gen_ai.agent.name",
        "gen_ai.agent.version",
        "gen_ai.tool.name",
        "gen_ai.tool.call.id",
        "gen_ai.tool.type",
        "gen_ai.data_source.id",
        "gen_ai.workflow.name",
        "gen_ai.prompt.name",
        "gen_ai.output.type",
        "gen_ai.embeddings.dimension.count",
        # The model request's settings (not its stop sequences: free text chosen by the caller).
        "gen_ai.request.model",
        "gen_ai.request.max_tokens",
        "gen_ai.request.choice.count",
        "gen_ai.request.temperature",
        "gen_ai.request.top_p",
        "gen_ai.request.top_k",
        "gen_ai.request.frequency_penalty",
        "gen_ai.request.presence_penalty",
        "gen_ai.request.encoding_formats",
        "gen_ai.request.seed",
        "gen_ai.request.stream",
        "gen_ai.openai.request.seed",
        "gen_ai.openai.request.response_format",
        "gen_ai.openai.request.service_tier",
        # The response's ids and facts.
        "gen_ai.response.id",
        "gen_ai.response.model",
        "gen_ai.response.finish_reasons",
        "gen_ai.response.time_to_first_chunk",
        "gen_ai.openai.response.service_tier",
        "gen_ai.openai.response.system_fingerprint",
        # Token counts (a model span that wraps other model spans may carry them), deprecated names included.
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.text.input_tokens",
        "gen_ai.usage.image.input_tokens",
        "gen_ai.usage.audio.input_tokens",
        "gen_ai.usage.video.input_tokens",
        "gen_ai.usage.text.output_tokens",
        "gen_ai.usage.audio.output_tokens",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.completion_tokens",
        # Evaluation results (not the evaluator's explanation) and memory stores (not the records).
        "gen_ai.evaluation.name",
        "gen_ai.evaluation.score.value",
        "gen_ai.evaluation.score.label",
        "gen_ai.memory.store.id",
        "gen_ai.memory.record.id",
        "gen_ai.memory.record.count",
        # Errors: the class of the error only (its message is free text).
        "error.type",
        # Transport: where the span went and how it ended (never headers, metadata, URLs or bodies).
        "server.address",
        "server.port",
        "http.request.method",
        "http.response.status_code",
        "rpc.system",
        "rpc.service",
        "rpc.method",
        "rpc.grpc.status_code",
        "rpc.response.status_code",
    }
)
"""The only attributes a span row keeps: an allow-list, because any other name (``error.message``,
``rpc.grpc.request.metadata.authorization``, ``gen_ai.user.message``, an instrumentation's own
``gen_ai.*`` key...) may carry prompt text, headers or keys. These are the OTel semantic conventions'
names of low-cardinality facts (names, ids, settings, counts, classes), none of them content."""


def error_kind_sql(value: str) -> str:
    """A SQL condition, true when ``value`` (an expression) is an error classification: the rule of
    :func:`tokenomy.errors.error_kind`, as DuckDB's regular expressions (RE2, as Python's ``re`` reads
    the same patterns)."""
    kind, key, run, digit = (
        quote(p) for p in (ERROR_KIND_PATTERN, KEY_PREFIX_PATTERN, LONG_RUN_PATTERN, DIGIT_PATTERN)
    )
    long_key = f"(regexp_matches({value}, {run}) AND regexp_matches({value}, {digit}))"
    return f"(regexp_full_match({value}, {kind}) AND NOT regexp_matches({value}, {key}) AND NOT {long_key})"


_KEPT = "(" + ", ".join(quote(k) for k in sorted(SPAN_ATTRIBUTES)) + ")"
NO_FREE_TEXT: Final = (
    f"UPDATE calls SET error_type = NULL WHERE error_type IS NOT NULL AND NOT {error_kind_sql('error_type')}",
    "UPDATE spans SET status_message = NULL WHERE status_message IS NOT NULL"
    f" AND NOT {error_kind_sql('status_message')}",
    f"""UPDATE spans SET attributes = (
        SELECT CASE WHEN count(*) = 0 THEN NULL ELSE json_group_object(key, value)::VARCHAR END
        FROM json_each(spans.attributes)
        WHERE key IN {_KEPT}
          AND (key <> 'error.type' OR coalesce({error_kind_sql("json_extract_string(value, '$')")}, false)))
    WHERE attributes IS NOT NULL""",
)
"""Rows stored before the rules: an ``error_type`` or span status message that is not a
classification is cleared (a status message kept with content capture on is lost with it: it is free
text, and the migration cannot tell), and span attributes are cut to :data:`SPAN_ATTRIBUTES`."""
