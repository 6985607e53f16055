"""``python -m bench`` (``make bench``): the benchmark suite."""

from __future__ import annotations

from bench.suite import main

raise SystemExit(main())
