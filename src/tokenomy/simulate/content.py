"""Short representative prompt and completion text, written only with ``--content``.

The text is a stand-in, not a transcript: one line for the newest turn of the prompt (a request,
a human's follow-up, a tool's result, a correction note) and one for the answer (a tool call or
a reply). Replies of calls with ``filler_tokens`` open and close with filler phrases; no other
reply contains them, so content-based filler detectors can be scored. Failed calls have no
completion.
"""

from __future__ import annotations

from typing import Final

from tokenomy.schema import Content
from tokenomy.simulate.attempts import FINISH_LENGTH, OK
from tokenomy.simulate.batch import Chunk
from tokenomy.simulate.tables import Tables

OPENINGS: Final = (
    "Certainly! Here is what you asked for.",
    "Great question! Here's a detailed answer.",
    "Sure! I'd be happy to help with that.",
    "Absolutely! Below you will find the answer.",
)
CLOSINGS: Final = (
    "I hope this helps!",
    "Let me know if you have any other questions.",
    "Feel free to reach out if you need anything else!",
)
CORRECTION: Final = (
    "Your previous reply did not follow the required format. Reply again, following it exactly."
)

TOPICS: Final[dict[str, tuple[str, ...]]] = {
    "classify": ("refund for a damaged order", "cheap flights to Lisbon", "reset my password", "GPU prices"),
    "extract": ("the company page of Acme Tools", "invoice INV-2291", "the contract with Northwind"),
    "summarize": ("ticket #48213 and its replies", "the Q3 planning document", "a 12-page vendor report"),
    "chat_support": ("a late delivery", "a double charge", "changing the shipping address"),
    "web_research": ("battery recycling regulations in the EU", "pricing of competitor CRMs"),
    "code_review": ("PR #1932: retry logic in the payments client", "PR #2210: new caching layer"),
    "plan": ("the checkout outage of last night", "the database failover drill"),
    "analyze": ("weekly active users by region", "churn of the annual plans"),
}
REPLIES: Final[dict[str, str]] = {
    "classify": '{{"label": "support", "confidence": 0.93}}',
    "extract": '{{"name": "Acme Tools", "employees": 240, "country": "DE"}}',
    "summarize": "Summary of {topic}: the main points, the decisions taken and the open questions.",
    "chat_support": "About {topic}: I checked your order and here is what happens next.",
    "web_research": "Findings on {topic}, with the sources consulted and how they agree.",
    "code_review": "Review of {topic}: two issues to fix before merging, and one suggestion.",
    "plan": "Plan for {topic}: timeline, owners, and the three follow-up actions.",
    "analyze": "Analysis of {topic}: the trend, the main driver, and a chart description.",
}


def for_call(tables: Tables, chunk: Chunk, i: int) -> Content:
    """The prompt (newest turn) and completion text of call ``i`` of a chunk."""
    calls = chunk.calls
    intent = tables.names.intents[int(tables.feature_intent[calls.feature[i]])]
    pick = int(calls.call_id[i][:8], 16)
    topic = TOPICS[intent][pick % len(TOPICS[intent])]
    return Content(
        prompt=_prompt(tables, chunk, i, intent, topic), completion=_completion(tables, chunk, i, topic, pick)
    )


def _prompt(tables: Tables, chunk: Chunk, i: int, intent: str, topic: str) -> str:
    calls, steps = chunk.calls, chunk.steps
    row = int(calls.row[i])
    if calls.corrected[i]:
        return CORRECTION
    if steps.first[row] or not tables.agent_conversation[steps.agent[row]]:
        return f"[{intent}] Please handle {topic}."
    previous = row - 1
    if steps.human_next[previous]:
        return f"Follow-up about {topic}: can you say more?"
    names = [tables.names.tools[int(t)] for t in (steps.t1[previous], steps.t2[previous]) if t >= 0]
    return "Results of " + ", ".join(names) + "."


def _completion(tables: Tables, chunk: Chunk, i: int, topic: str, pick: int) -> str | None:
    calls = chunk.calls
    if calls.status[i] != OK:
        return None
    if calls.t1[i] >= 0:
        names = [tables.names.tools[int(t)] for t in (calls.t1[i], calls.t2[i]) if t >= 0]
        return "Calling " + " and ".join(names) + f" about {topic}."
    intent = tables.names.intents[int(tables.feature_intent[calls.feature[i]])]
    body = REPLIES[intent].format(topic=topic)
    if calls.finish[i] == FINISH_LENGTH:
        return body[: len(body) // 2] + "..."
    if calls.filler[i] > 0:
        return f"{OPENINGS[pick % len(OPENINGS)]} {body} {CLOSINGS[pick % len(CLOSINGS)]}"
    return body
