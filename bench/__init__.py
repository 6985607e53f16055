"""Benchmarks (``make bench`` = ``python -m bench``) and the chaos run (``make chaos``).

Not part of ``make test``: speed is measured here, never asserted in tests. Reports go to the
git-ignored ``bench-results/`` folder as JSON and Markdown.
"""
