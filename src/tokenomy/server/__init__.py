"""The collector: OTLP/HTTP and native events in, durable in the store, a read-only REST API out."""
