"""{{app}}: a small JSON HTTP API on Python's standard library (http.server), with /healthz for probes.

Run it with `PORT=8080 python3 src/app.py`; HOST defaults to 127.0.0.1 (set HOST to listen elsewhere, e.g. in a
container)."""
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from store import ItemStore, ValidationError

APP_NAME = "{{app}}"
MAX_BODY = 64 * 1024
DEFAULT_PORT = 8080


def read_port(env):
    """The TCP port from env["PORT"] (default 8080); 0 asks the kernel for a free one."""
    raw = env.get("PORT", str(DEFAULT_PORT))
    if not raw.isdigit() or int(raw) > 65535:
        raise ValueError(f"PORT must be a number from 0 to 65535, not {raw!r}")
    return int(raw)


class ApiHandler(BaseHTTPRequestHandler):
    """Routes: GET / (what the API offers), GET /healthz, GET/POST /api/items, GET/DELETE /api/items/<id>.
    The store is the server's."""

    def version_string(self):
        return APP_NAME  # the Server header names no Python version

    def _send_json(self, status, body):
        data = json.dumps(body).encode("utf-8") if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status, message):
        self._send_json(status, {"error": message})

    def _item_id(self):
        """The id in /api/items/<id>, None for /api/items, -1 for any other path."""
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/api/items":
            return None
        prefix = "/api/items/"
        if path.startswith(prefix) and path[len(prefix):].isdigit():
            return int(path[len(prefix):])
        return -1

    def _read_json(self):
        if self.headers.get_content_type() != "application/json":
            self._error(415, "send the item as application/json")
            return None
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._error(411, "a Content-Length is required")
            return None
        if int(length) > MAX_BODY:
            self._error(413, f"the body is larger than {MAX_BODY} bytes")
            return None
        try:
            return json.loads(self.rfile.read(int(length)))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            self._error(400, f"malformed JSON: {e}")
            return None

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send_json(200, {"status": "ok", "app": APP_NAME})
            return
        if path == "/":
            self._send_json(200, {"app": APP_NAME, "endpoints": ["GET /healthz", "GET /api/items", "POST /api/items",
                                                                 "GET /api/items/<id>", "DELETE /api/items/<id>"]})
            return
        item_id = self._item_id()
        if item_id is None:
            self._send_json(200, {"items": self.server.store.list()})
        elif item_id < 0:
            self._error(404, "no such route")
        else:
            item = self.server.store.get(item_id)
            if item:
                self._send_json(200, item)
            else:
                self._error(404, f"no item {item_id}")

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        item_id = self._item_id()
        if item_id is not None:
            self._error(404 if item_id < 0 else 405, "POST goes to /api/items")
            return
        data = self._read_json()
        if data is None:
            return
        try:
            self._send_json(201, self.server.store.add(data))
        except ValidationError as e:
            self._error(400, str(e))

    def do_DELETE(self):
        item_id = self._item_id()
        if item_id is None or item_id < 0:
            self._error(405 if item_id is None else 404, "DELETE goes to /api/items/<id>")
        elif self.server.store.remove(item_id):
            self._send_json(204, None)
        else:
            self._error(404, f"no item {item_id}")

    def log_message(self, format, *args):
        if self.server.access_log:
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


def create_server(host, port, store=None, access_log=True):
    """A threading HTTP server on host:port serving ApiHandler over store (a new ItemStore by default)."""
    server = ThreadingHTTPServer((host, port), ApiHandler)
    server.daemon_threads = True
    server.store = store if store is not None else ItemStore()
    server.access_log = access_log
    return server


def main(env=None):
    """Serves until SIGTERM or Ctrl-C; prints the address it listens on first."""
    env = os.environ if env is None else env
    server = create_server(env.get("HOST", "127.0.0.1"), read_port(env))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host, port = server.server_address[:2]
    print(f"{APP_NAME} listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
