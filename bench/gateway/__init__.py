"""Helpers of ``python -m bench gateway``: the bare ASGI app and the load generator."""
