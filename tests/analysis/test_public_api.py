from __future__ import annotations

from tokenomy import analysis
from tokenomy.analysis import metrics


def test_the_public_api_is_curated() -> None:
    assert sorted(analysis.__all__) == sorted(
        [
            "METRICS", "UNATTRIBUTED", "AttributionTable", "CostDrivers", "DriverRow", "Grouping",
            "IntentBaseline", "Kpi", "MetricResult", "MetricRow", "Overview", "Period", "Report", "ReportRow",
            "Scope", "Selection", "SessionList", "SessionRow", "SessionTree", "SpendRow", "Step", "Summary",
            "attribute",
            "baseline_period", "cost_drivers", "current_period", "daily_totals", "intent_baselines",
            "latency_cost_parity", "overview", "session_tree", "summary", "token_utilization", "top_rows",
            "top_sessions",
        ]
    )  # fmt: skip
    for name in analysis.__all__:
        assert getattr(analysis, name) is not None


def test_every_metric_of_design_section_6_has_a_function_with_its_formula() -> None:
    names = {
        "token_efficiency", "output_to_input_ratio", "input_token_density", "prompt_bloat",
        "completion_efficiency", "context_window_utilization", "cache_hit_ratio", "tcpr", "cost_per_session",
        "cost_per_action", "cost_per_successful_inference", "cost_to_utility_by_intent",
    }  # fmt: skip
    assert set(metrics.METRICS) == names
    for function in (*metrics.METRICS.values(), metrics.token_utilization, metrics.latency_cost_parity):
        assert function.__doc__
        assert "``" in function.__doc__, f"{function.__name__} should state its formula"
