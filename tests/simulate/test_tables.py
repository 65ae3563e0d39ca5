"""The compiled lookup arrays say what the company and the catalog say."""

from __future__ import annotations

import numpy as np

from tokenomy.simulate import catalog, company, tables


def test_routes_and_cumulative_weights() -> None:
    compiled = tables.build()
    names = compiled.names
    assert names.models[compiled.route_model[compiled.oversized_route]] == catalog.TOP_MODEL
    for f, feature in enumerate(company.FEATURES):
        cdf = compiled.feature_route_cdf[f]
        real = compiled.feature_route_ids[f] >= 0
        assert cdf[real][-1] == 1.0
        assert (np.diff(cdf[real]) > 0).all()
        models = [names.models[compiled.route_model[r]] for r in compiled.feature_route_ids[f][real]]
        assert models == [r.model for r in feature.routes]
        assert names.agents[compiled.feature_agent[f]] == feature.agent


def test_model_and_provider_arrays_follow_the_catalog() -> None:
    compiled = tables.build()
    for m, spec in enumerate(catalog.MODELS):
        rule = catalog.provider_rule(spec.provider)
        assert compiled.names.model_provider[m] == spec.provider
        assert compiled.model_ctx[m] == spec.context_window
        assert bool(compiled.model_explicit_cache[m]) == rule.explicit_cache
        assert compiled.model_granularity[m] == rule.cache_granularity
        statuses = compiled.provider_error_status[compiled.model_provider[m]].tolist()
        assert statuses == [e.http_status for e in rule.errors]
