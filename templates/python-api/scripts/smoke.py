"""Smoke test of a built artifact: starts it with PORT=0, reads the address it prints, expects 200 from /healthz.

Usage: python3 scripts/smoke.py dist/APP.pyz"""
import http.client
import json
import os
import subprocess
import sys


def _check(artifact):
    env = dict(os.environ, PORT="0", HOST="127.0.0.1")
    proc = subprocess.Popen([sys.executable, artifact], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if "listening on http://" not in line:
            raise SystemExit(f"smoke: {artifact} did not start: {line!r}")
        host, port = line.rsplit("//", 1)[1].strip().rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        body = json.loads(resp.read())
        if resp.status != 200 or body.get("status") != "ok":
            raise SystemExit(f"smoke: /healthz answered {resp.status} {body}")
        print(f"smoke: {artifact}: /healthz ok")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    _check(sys.argv[1])
