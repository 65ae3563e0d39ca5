"""The wire formats the mock speaks: one adapter module per API surface, and their registry.

Each adapter reads its request body into a :class:`~tokenomy.mockllm.prompt.Prompt` and renders a
:class:`~tokenomy.mockllm.plan.Plan` as that API's JSON body or server-sent event stream.
"""
