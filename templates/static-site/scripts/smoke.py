"""Smoke test of the built site: serves dist/ with scripts/serve.sh on a free loopback port (PORT=0), then expects
200 and "ok" from /healthz and 200 with a <title> from /.

Usage: python3 scripts/smoke.py"""
import http.client
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _check():
    env = dict(os.environ, PORT="0", HOST="127.0.0.1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(["sh", os.path.join(ROOT, "scripts", "serve.sh")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r" port ([0-9]+)", line)
        if not m:
            raise SystemExit(f"smoke: the server did not start: {line!r}")
        port = int(m.group(1))
        status, body = _get(port, "/healthz")
        if status != 200 or body.strip() != "ok":
            raise SystemExit(f"smoke: /healthz answered {status} {body[:80]!r}")
        status, body = _get(port, "/")
        if status != 200 or not re.search(r"<title>[^<]+</title>", body):
            raise SystemExit(f"smoke: / answered {status} without a title")
        print(f"smoke: dist/ served on port {port}: /healthz ok, / ok")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


if __name__ == "__main__":
    _check()
