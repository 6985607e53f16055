"""Cold start (issue 8): what the host pays to index the app, in a fresh interpreter each time.

Measured: ``import function_app`` plus the first ``app.get_functions()``, against a bare
``import azure.functions``; wall time (median of ``repeats``) and modules loaded. Also checks
that indexing the app leaves ``msgraph`` (and the other heavy SDKs) unimported.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

from bench.common import REPO_ROOT

#: Issue 8: indexing the app may take at most this many times a bare ``import azure.functions``.
TARGET_RATIO = 1.5

_PROBE = """
import json, sys, time
before = set(sys.modules)
start = time.perf_counter()
{body}
seconds = time.perf_counter() - start
loaded = set(sys.modules) - before
heavy = sorted({{m.split(".")[0] for m in loaded
                if m.split(".")[0] in ("msgraph", "kiota_abstractions", "kiota_http", "pydantic",
                                        "azure.storage", "azure.data", "azure.identity", "httpx")
                or m.startswith(("azure.storage", "azure.data", "azure.identity",
                                 "azure.monitor", "opentelemetry"))}})
print(json.dumps({{"seconds": seconds, "modules": len(loaded), "heavy": heavy,
                  "msgraph_loaded": any(m == "msgraph" or m.startswith("msgraph.") for m in loaded),
                  "functions": {functions}}}))
"""

_APP = _PROBE.format(
    body="import function_app\nfunctions = function_app.app.get_functions()",
    functions="[f.get_function_name() for f in functions]",
)
_BARE = _PROBE.format(body="import azure.functions", functions="[]")


def _probe(code: str) -> dict[str, Any]:
    process = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    return result


def measure(repeats: int = 7) -> dict[str, Any]:
    """Alternate bare and app probes (so drift hits both alike); medians and the ratio."""
    bare: list[dict[str, Any]] = []
    app: list[dict[str, Any]] = []
    _probe(_BARE)  # one unmeasured run of each warms the OS page cache
    _probe(_APP)
    for _ in range(repeats):
        bare.append(_probe(_BARE))
        app.append(_probe(_APP))
    bare_s = statistics.median(r["seconds"] for r in bare)
    app_s = statistics.median(r["seconds"] for r in app)
    ratio = app_s / bare_s
    return {
        "repeats": repeats,
        "bare_import_azure_functions": {
            "median_seconds": bare_s,
            "modules": statistics.median(r["modules"] for r in bare),
        },
        "import_function_app_and_get_functions": {
            "median_seconds": app_s,
            "modules": statistics.median(r["modules"] for r in app),
            "functions": app[-1]["functions"],
            "heavy_packages_loaded": sorted({h for r in app for h in r["heavy"]}),
        },
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "ratio_ok": ratio <= TARGET_RATIO,
        "msgraph_loaded": any(r["msgraph_loaded"] for r in app),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
