"""A stand-in for Application Insights' ingestion endpoint on 127.0.0.1, in its own process (so
its CPU is not counted as the app's): accepts every track request, keeps counts, nothing else.

``python -m bench.ingestion_sink PORT_FILE``: binds a free port and writes it to PORT_FILE.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        answer = json.dumps({"itemsReceived": 0, "itemsAccepted": 0, "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        return None


def main(port_file: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
