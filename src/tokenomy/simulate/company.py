"""The made-up company whose AI traffic the simulator writes: teams, features, agents, tools.

Five teams run twelve features. Each feature has one intent, one agent (an LLM loop with a
token profile), optionally a sub-agent it delegates to, and a weighted list of model routes.
Token sizes are lognormal: a median and a spread (sigma of the log), so most values sit near
the median and a few are several times larger, as real prompts and documents are.

The numbers are documented in docs/simulate.md; change them here, not in the engine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from tokenomy.simulate.catalog import TOP_MODEL


@dataclass(frozen=True, slots=True)
class Dist:
    """A lognormal size or duration: ``median`` and ``sigma`` (the spread of its logarithm)."""

    median: float
    sigma: float


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool an agent can call.

    Attributes:
        name: The tool's name as the model sees it.
        result: Tokens of the result fed back to the model.
        exec_ms: Time the tool takes to run.
        writes: Calling it changes state (a refund, a posted review): a repeat is not redundant.
        charge: Kind of non-LLM charge each use costs (see :data:`CHARGE_KINDS`), or None.
    """

    name: str
    result: Dist
    exec_ms: Dist
    writes: bool = False
    charge: str | None = None


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent's token profile.

    Attributes:
        name: The agent's name (``attribution.agent``).
        system: Median system prompt tokens (a session's prompt stays within 0.8x to 1.25x).
        tool_defs: Tokens of the tool definitions sent with every call.
        first_user: The request that starts a session (or each independent call).
        followup_user: A human's follow-up turn, or None when the agent works alone.
        tool_call_out: Visible output of a step that calls tools.
        answer_out: Visible output of a step that answers.
        reasoning_ratio: Reasoning tokens per visible token on a reasoning route.
        steps: Fewest and most LLM steps of the agent's loop in one session.
        conversation: History accumulates across steps; False when calls are independent.
        tools: Read-only tools and their weights.
        write_tool: A state-changing tool used at the last tool step, or None.
        write_share: Share of sessions whose last tool step uses the write tool.
        answer_share: Share of non-final steps that answer a human instead of calling a tool.
        max_output: Requested ``max_output_tokens``.
        max_output_reasoning: Requested ``max_output_tokens`` on reasoning routes.
        prune_at: History size at which the agent compacts its history, or None.
        prune_keep: History size right after a compaction.
        human_gap_ms: Time a human takes to reply, or None.
        streamed: Calls are streamed (time to first token recorded).
    """

    name: str
    system: int
    tool_defs: int
    first_user: Dist
    answer_out: Dist
    steps: tuple[int, int]
    max_output: int
    max_output_reasoning: int
    followup_user: Dist | None = None
    tool_call_out: Dist = Dist(60, 0.4)
    reasoning_ratio: float = 2.0
    conversation: bool = False
    tools: tuple[tuple[str, float], ...] = ()
    write_tool: str | None = None
    write_share: float = 0.0
    answer_share: float = 0.0
    prune_at: int | None = None
    prune_keep: int = 0
    human_gap_ms: Dist | None = None
    streamed: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """A model a feature sends its calls to, with the request options of that route.

    Attributes:
        model: Requested model name (see :mod:`tokenomy.simulate.catalog`).
        weight: Share of the feature's sessions on this route.
        thinking: Extended thinking on (Claude) or a thinking budget (Gemini Flash).
        long_cache: Anthropic 1-hour cache writes instead of 5-minute ones.
        batch: Sent through the provider's batch API.
    """

    model: str
    weight: float = 1.0
    thinking: bool = False
    long_cache: bool = False
    batch: bool = False


@dataclass(frozen=True, slots=True)
class Feature:
    """A product feature: who runs it, what it asks, which agent answers on which models.

    Attributes:
        name: ``attribution.feature``.
        team: Owning team.
        intent: ``attribution.intent``.
        agent: Name of the main agent.
        routes: Weighted model routes of the main agent.
        weight: Relative number of sessions started at a peak hour.
        schedule: ``business`` (office hours), ``extended`` (customer-facing, evenings and
            weekends too) or ``nightly`` (a batch job between 01:00 and 05:00).
        users: Prefix and pool size of the users it serves.
        action: ``outcome.action`` of a successful session.
        success: Share of completed sessions that succeed.
        sub_agent: Name of a sub-agent the main agent delegates to, or None.
        sub_share: Share of eligible sessions that delegate once.
        sub_route: The sub-agent's model route.
        environments: Share of sessions in prod, staging and dev.
    """

    name: str
    team: str
    intent: str
    agent: str
    routes: tuple[Route, ...]
    weight: float
    schedule: str
    users: tuple[str, int]
    action: str
    success: float
    sub_agent: str | None = None
    sub_share: float = 0.0
    sub_route: Route | None = None
    environments: tuple[float, float, float] = (0.86, 0.09, 0.05)


@dataclass(frozen=True, slots=True)
class Team:
    """A team and the project its spend is booked to."""

    name: str
    project: str


ENVIRONMENTS: Final = ("prod", "staging", "dev")
SIMPLE_INTENTS: Final = frozenset({"classify", "extract"})
"""Intents a small model answers well: sending them to :data:`TOP_MODEL` is oversized."""
PROSE_INTENTS: Final = frozenset(
    {"summarize", "chat_support", "web_research", "code_review", "plan", "analyze"}
)
"""Intents answered in prose, where filler openings and closings can appear."""
OVERSIZED_ROUTE: Final = Route(TOP_MODEL)
OVERSIZED_BATCH_ROUTE: Final = Route(TOP_MODEL, batch=True)
"""The top model through the batch API: a background job sent to it keeps batching."""

CHARGE_KINDS: Final[dict[str, tuple[str, str, int]]] = {
    # kind: (unit, description, price per unit in 1e-8 USD)
    "search_api": ("query", "web search API query", 500_000),  # $5 per 1,000 queries
    "code_sandbox": ("second", "code sandbox run", 5_000),  # $0.00005 per sandbox-second
}

TEAMS: Final = (
    Team("search", "search-platform"),
    Team("support", "helpdesk"),
    Team("growth", "growth-engine"),
    Team("platform", "devtools"),
    Team("data", "data-platform"),
)

TOOLS: Final = (
    Tool("lookup_order", Dist(320, 0.5), Dist(140, 0.4)),
    Tool("search_kb", Dist(750, 0.5), Dist(280, 0.4)),
    Tool("check_subscription", Dist(180, 0.4), Dist(120, 0.4)),
    Tool("issue_refund", Dist(60, 0.3), Dist(650, 0.4), writes=True),
    Tool("web_search", Dist(950, 0.4), Dist(1100, 0.4), charge="search_api"),
    Tool("fetch_page", Dist(3000, 0.7), Dist(850, 0.6)),
    Tool("save_brief", Dist(40, 0.3), Dist(300, 0.3), writes=True),
    Tool("read_file", Dist(2100, 0.8), Dist(35, 0.5)),
    Tool("search_code", Dist(650, 0.5), Dist(240, 0.5)),
    Tool("run_linter", Dist(420, 0.6), Dist(3500, 0.5)),
    Tool("post_review", Dist(50, 0.3), Dist(420, 0.3), writes=True),
    Tool("run_tests", Dist(900, 0.6), Dist(22_000, 0.6), charge="code_sandbox"),
    Tool("run_sql", Dist(850, 0.8), Dist(2400, 0.8)),
    Tool("run_python", Dist(1000, 0.8), Dist(3800, 0.7), charge="code_sandbox"),
    Tool("describe_table", Dist(480, 0.4), Dist(180, 0.4)),
    # Delegation to a sub-agent: its result is the sub-agent's answer, its time the sub-agent's run.
    Tool("delegate_page_reader", Dist(1, 0.0), Dist(1, 0.0)),
    Tool("delegate_test_runner", Dist(1, 0.0), Dist(1, 0.0)),
)

AGENTS: Final = (
    Agent("query_classifier", 420, 0, Dist(60, 0.6), Dist(8, 0.4), (1, 1), 64, 2048),
    Agent("triage_classifier", 650, 0, Dist(420, 0.7), Dist(14, 0.4), (1, 1), 128, 2048),
    Agent("ticket_summarizer", 520, 0, Dist(2400, 0.7), Dist(220, 0.4), (1, 3), 1024, 8192),
    Agent("doc_summarizer", 800, 0, Dist(7000, 0.8), Dist(420, 0.45), (1, 3), 2048, 8192),
    Agent("lead_extractor", 900, 0, Dist(1800, 0.7), Dist(260, 0.4), (1, 3), 1024, 8192),
    Agent("doc_extractor", 1200, 0, Dist(5200, 0.8), Dist(480, 0.4), (1, 4), 2048, 8192),
    Agent(
        "support_bot", 2300, 950, Dist(70, 0.7), Dist(150, 0.5), (3, 14), 1024, 4096,
        followup_user=Dist(45, 0.7), tool_call_out=Dist(45, 0.4), reasoning_ratio=1.5,
        conversation=True, tools=(("lookup_order", 0.45), ("search_kb", 0.45), ("check_subscription", 0.1)),
        write_tool="issue_refund", write_share=0.25, answer_share=0.6,
        prune_at=4000, prune_keep=1500, human_gap_ms=Dist(55_000, 0.9), streamed=True,
    ),
    Agent(
        "research_agent", 1900, 1100, Dist(110, 0.6), Dist(850, 0.45), (4, 14), 4096, 16_000,
        reasoning_ratio=2.5, conversation=True, tools=(("web_search", 0.6), ("fetch_page", 0.4)),
        prune_at=20_000, prune_keep=8000, streamed=True,
    ),
    Agent(
        "brief_writer", 2600, 1100, Dist(260, 0.6), Dist(1600, 0.4), (6, 18), 8192, 24_000,
        tool_call_out=Dist(70, 0.4), reasoning_ratio=3.0, conversation=True,
        tools=(("web_search", 0.55), ("fetch_page", 0.45)), write_tool="save_brief", write_share=0.8,
        prune_at=24_000, prune_keep=9000,
    ),
    Agent(
        "code_reviewer", 3300, 1450, Dist(2600, 0.8), Dist(1100, 0.5), (5, 24), 8192, 32_000,
        tool_call_out=Dist(75, 0.4), reasoning_ratio=3.5, conversation=True,
        tools=(("read_file", 0.55), ("search_code", 0.3), ("run_linter", 0.15)),
        write_tool="post_review", write_share=0.9, prune_at=32_000, prune_keep=12_000,
    ),
    Agent(
        "incident_planner", 1300, 0, Dist(650, 0.6), Dist(1200, 0.4), (1, 3), 8192, 16_000,
        followup_user=Dist(120, 0.6), reasoning_ratio=5.0, conversation=True, answer_share=1.0,
        human_gap_ms=Dist(90_000, 0.8),
    ),
    Agent(
        "data_analyst", 1600, 820, Dist(140, 0.6), Dist(520, 0.45), (3, 12), 4096, 16_000,
        tool_call_out=Dist(130, 0.5), reasoning_ratio=2.5, conversation=True,
        tools=(("run_sql", 0.5), ("run_python", 0.35), ("describe_table", 0.15)),
        prune_at=10_000, prune_keep=4000,
    ),
    Agent("page_reader", 480, 0, Dist(4200, 0.6), Dist(320, 0.4), (1, 3), 1024, 8192),
    Agent(
        "test_runner", 900, 520, Dist(200, 0.5), Dist(280, 0.4), (2, 5), 2048, 8192,
        tool_call_out=Dist(50, 0.4), conversation=True, tools=(("run_tests", 0.7), ("read_file", 0.3)),
        prune_at=16_000, prune_keep=6000,
    ),
)  # fmt: skip

FEATURES: Final = (
    Feature(
        "query_router", "search", "classify", "query_classifier",
        (Route("gpt-4.1-nano", 0.6), Route("gemini-2.5-flash-lite", 0.4)),
        30.0, "extended", ("web-", 50_000), "query_routed", 0.97,
    ),
    Feature(
        "answer_engine", "search", "web_research", "research_agent",
        (Route("gpt-5-mini", 0.5), Route("claude-sonnet-4-5", 0.3),
         Route("gemini-2.5-flash", 0.2, thinking=True)),
        8.0, "extended", ("web-", 50_000), "answer_delivered", 0.85,
        sub_agent="page_reader", sub_share=0.6, sub_route=Route("gpt-4.1-mini"),
    ),
    Feature(
        "support_chat", "support", "chat_support", "support_bot",
        (Route("gpt-4.1-mini", 0.45), Route("claude-haiku-4-5", 0.4, long_cache=True),
         Route("gpt-4o-mini", 0.15)),
        12.0, "extended", ("cust-", 20_000), "ticket_resolved", 0.78,
    ),
    Feature(
        "ticket_triage", "support", "classify", "triage_classifier",
        (Route("claude-haiku-4-5", 0.5), Route("gpt-4o-mini", 0.5)),
        14.0, "business", ("u-support-", 60), "ticket_triaged", 0.97,
    ),
    Feature(
        "ticket_summary", "support", "summarize", "ticket_summarizer",
        (Route("gpt-4.1-mini", 0.6), Route("gemini-2.5-flash", 0.4, thinking=True)),
        6.0, "business", ("u-support-", 60), "summary_posted", 0.95,
    ),
    Feature(
        "lead_enrichment", "growth", "extract", "lead_extractor",
        (Route("gpt-4o-mini", 0.5), Route("deepseek-chat", 0.3), Route("gemini-2.5-flash-lite", 0.2)),
        6.0, "business", ("u-growth-", 20), "lead_enriched", 0.93,
    ),
    Feature(
        "market_brief", "growth", "web_research", "brief_writer",
        (Route("claude-sonnet-4-5", 0.6, thinking=True), Route("gpt-5", 0.4)),
        1.5, "business", ("u-growth-", 20), "brief_published", 0.85,
        sub_agent="page_reader", sub_share=0.6, sub_route=Route("claude-haiku-4-5"),
    ),
    Feature(
        "pr_review", "platform", "code_review", "code_reviewer",
        (Route("claude-sonnet-4-5", 0.55, thinking=True), Route("gpt-5", 0.3), Route("gpt-4.1", 0.15)),
        4.0, "business", ("u-platform-", 45), "review_posted", 0.88,
        sub_agent="test_runner", sub_share=0.5, sub_route=Route("claude-haiku-4-5"),
    ),
    Feature(
        "incident_planner", "platform", "plan", "incident_planner",
        (Route("o3", 0.5), Route("gpt-5", 0.3), Route(TOP_MODEL, 0.2, thinking=True)),
        1.2, "business", ("u-platform-", 45), "plan_approved", 0.8,
    ),
    Feature(
        "analytics_assistant", "data", "analyze", "data_analyst",
        (Route("o4-mini", 0.45), Route("claude-sonnet-4-5", 0.35), Route("deepseek-reasoner", 0.2)),
        4.0, "business", ("u-data-", 25), "analysis_delivered", 0.82,
    ),
    Feature(
        "doc_summaries", "data", "summarize", "doc_summarizer",
        (Route("gemini-2.5-flash", 0.5), Route("claude-haiku-4-5", 0.5)),
        4.0, "business", ("u-data-", 25), "doc_summarized", 0.95,
    ),
    Feature(
        "nightly_extract", "data", "extract", "doc_extractor",
        (Route("gpt-4.1-mini", 0.6, batch=True), Route("gemini-2.5-flash-lite", 0.4, batch=True)),
        25.0, "nightly", ("svc-nightly-extract", 1), "document_extracted", 0.93,
        environments=(1.0, 0.0, 0.0),
    ),
)  # fmt: skip

SUCCESS_SCORE: Final = ((0.7, 1.0), (0.0, 0.5))
"""``outcome.score`` is uniform in the first range for a success, in the second for a failure."""


def agent(name: str) -> Agent:
    """An agent of the company by name.

    Raises:
        KeyError: No agent has that name.
    """
    for candidate in AGENTS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def tool(name: str) -> Tool:
    """A tool of the company by name.

    Raises:
        KeyError: No tool has that name.
    """
    for candidate in TOOLS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def user_id(feature: Feature, index: int) -> str:
    """The id of user ``index`` of a feature's pool: prefix and zero-padded number (prefix alone for one)."""
    prefix, pool = feature.users
    if pool == 1:
        return prefix.rstrip("-")
    return f"{prefix}{index:0{len(str(pool - 1))}d}"


def api_key_id(team: str, environment: str) -> str:
    """The hashed id of a team's API key in an environment (an id, never a key)."""
    return "key_" + hashlib.sha256(f"{team}:{environment}".encode()).hexdigest()[:12]


def is_background(feature: Feature) -> bool:
    """The feature is a background job: every one of its routes goes through a batch API."""
    return all(r.batch for r in feature.routes)


def oversized_route(feature: Feature) -> Route:
    """The route an oversized session of ``feature`` takes: the top model, batched like the feature."""
    return OVERSIZED_BATCH_ROUTE if is_background(feature) else OVERSIZED_ROUTE


def delegate_tool(sub_agent: str) -> str:
    """The name of the tool a main agent calls to run ``sub_agent``."""
    return f"delegate_{sub_agent}"
