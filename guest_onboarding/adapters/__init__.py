"""Adapters: the only modules that import vendor SDKs (Graph, Storage queues and tables)."""
