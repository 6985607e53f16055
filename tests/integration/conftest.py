"""Integration tests share the ``stack`` fixture (tests/fixtures/stack.py)."""
