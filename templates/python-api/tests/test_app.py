import http.client
import json
import os
import subprocess
import sys
import threading
import unittest

from app import APP_NAME, MAX_BODY, ApiHandler, create_server, main, read_port
from store import ItemStore

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


class ReadPortTest(unittest.TestCase):
    def test_default_and_explicit(self):
        self.assertEqual(read_port({}), 8080)
        self.assertEqual(read_port({"PORT": "9000"}), 9000)
        self.assertEqual(read_port({"PORT": "0"}), 0)

    def test_refuses_garbage(self):
        for bad in ("", "http", "-1", "65536", "80 "):
            with self.assertRaises(ValueError):
                read_port({"PORT": bad})


class ApiTest(unittest.TestCase):
    """ApiHandler through a real server on a free loopback port."""

    def setUp(self):
        self.store = ItemStore(max_items=3)
        self.server = create_server("127.0.0.1", 0, self.store, access_log=False)
        self.assertIs(self.server.RequestHandlerClass, ApiHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(*self.server.server_address[:2], timeout=5)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            if data and resp.getheader("Content-Type") == "application/json":
                return resp.status, json.loads(data), resp
            return resp.status, data or None, resp
        finally:
            conn.close()

    def test_index_lists_the_endpoints(self):
        status, body, _ = self.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertEqual(body["app"], APP_NAME)
        self.assertIn("GET /api/items", body["endpoints"])

    def test_healthz(self):
        status, body, resp = self.request("GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(body, {"status": "ok", "app": APP_NAME})
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        self.assertEqual(resp.getheader("X-Content-Type-Options"), "nosniff")

    def test_head_healthz_has_no_body(self):
        status, body, _ = self.request("HEAD", "/healthz")
        self.assertEqual((status, body), (200, None))

    def test_create_get_list_delete(self):
        status, item, _ = self.request("POST", "/api/items", {"name": "bolts", "quantity": 4})
        self.assertEqual(status, 201)
        self.assertEqual(item, {"id": 1, "name": "bolts", "quantity": 4})
        self.assertEqual(self.request("GET", "/api/items/1")[:2], (200, item))
        self.assertEqual(self.request("GET", "/api/items")[:2], (200, {"items": [item]}))
        self.assertEqual(self.request("DELETE", "/api/items/1")[:2], (204, None))
        self.assertEqual(self.request("GET", "/api/items/1")[0], 404)
        self.assertEqual(self.request("DELETE", "/api/items/1")[0], 404)

    def test_validation_errors_are_400(self):
        status, body, _ = self.request("POST", "/api/items", {"name": ""})
        self.assertEqual(status, 400)
        self.assertIn("name", body["error"])
        status, body, _ = self.request("POST", "/api/items", body="{not json",
                                       headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertIn("malformed JSON", body["error"])

    def test_full_store_is_400(self):
        for i in range(3):
            self.assertEqual(self.request("POST", "/api/items", {"name": f"n{i}"})[0], 201)
        status, body, _ = self.request("POST", "/api/items", {"name": "one too many"})
        self.assertEqual(status, 400)
        self.assertIn("full", body["error"])

    def test_missing_length_is_411(self):
        conn = http.client.HTTPConnection(*self.server.server_address[:2], timeout=5)
        conn.putrequest("POST", "/api/items")
        conn.putheader("Content-Type", "application/json")
        conn.endheaders()
        self.assertEqual(conn.getresponse().status, 411)
        conn.close()

    def test_wrong_content_type_is_415(self):
        status, _, _ = self.request("POST", "/api/items", body="name=a",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 415)

    def test_oversized_body_is_413(self):
        status, _, _ = self.request("POST", "/api/items", body="x",
                                    headers={"Content-Type": "application/json",
                                             "Content-Length": str(MAX_BODY + 1)})
        self.assertEqual(status, 413)

    def test_unknown_routes_and_methods(self):
        self.assertEqual(self.request("GET", "/nope")[0], 404)
        self.assertEqual(self.request("GET", "/api/items/abc")[0], 404)
        self.assertEqual(self.request("POST", "/api/items/1", {"name": "a"})[0], 405)
        self.assertEqual(self.request("POST", "/elsewhere", {"name": "a"})[0], 404)
        self.assertEqual(self.request("DELETE", "/api/items")[0], 405)
        self.assertEqual(self.request("PUT", "/api/items")[0], 501)

    def test_server_header_hides_versions(self):
        _, _, resp = self.request("GET", "/healthz")
        self.assertEqual(resp.getheader("Server"), APP_NAME)


class MainTest(unittest.TestCase):
    def test_refuses_bad_port(self):
        with self.assertRaises(ValueError):
            main({"PORT": "http"})

    def test_serves_until_terminated(self):
        env = dict(os.environ, PORT="0", HOST="127.0.0.1")
        proc = subprocess.Popen([sys.executable, os.path.join(SRC, "app.py")], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            line = proc.stdout.readline()
            self.assertIn("listening on http://127.0.0.1:", line)
            port = int(line.rsplit(":", 1)[1])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=10), 0)
            proc.stdout.close()


if __name__ == "__main__":
    unittest.main()
