#!/usr/bin/env python3
"""1,000 recipients in one request through herald-local (release).

For each backend — embedded, then DynamoDB on moto (started here from .venv-moto) — start
herald-local, create an email notification, then time POST .../recipients with 1,000 new embed
recipients (each round new externalIds: the "created" path) and 1,000 already subscribed ones (the
"unchanged" path).

Usage: bench/recipients.py [rounds]   (bench/run builds the release binary first)
"""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
HERALD = os.path.join(TARGET, "release", "herald-local")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, token, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=payload, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, json.loads(data or b"null")


def start_herald(env):
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="herald-bench-")
    proc = subprocess.Popen([HERALD], env={**os.environ, **env, "HERALD_PORT": str(port), "RUST_LOG": "warn",
                                           "HERALD_DATA_DIR": data_dir},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = dict(proc.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(3))
    return proc, port, lines["HERALD_ORGANIZATION_ID"], lines["HERALD_ADMIN_TOKEN"]


def timed(port, path, token, body):
    start = time.perf_counter()
    status, data = request(port, "POST", path, token, body)
    elapsed = (time.perf_counter() - start) * 1000
    if status != 200:
        raise SystemExit(f"POST recipients: {status} {data}")
    return elapsed, data


def run(label, env, rounds):
    proc, port, org, token = start_herald(env)
    try:
        status, created = request(port, "POST", f"/v1/organizations/{org}/notifications", token, {"type": "email", "events": {"buildCreated": True}})
        assert status == 200, created
        path = f"/v1/deployments/{org}/notifications/{created['data']['id']}/recipients"
        fresh, repeat = [], []
        for r in range(rounds):
            body = {"recipients": [{"embedTenantName": "bench", "externalId": f"user{r}-{i}@bench.example",
                                    "userAttributes": [{"name": "region", "value": "eu"}], "groups": ["ops"]} for i in range(1000)]}
            ms, data = timed(port, path, token, body)
            assert len(data["createdRecipients"]) == 1000
            fresh.append(ms)
            ms, data = timed(port, path, token, body)
            assert len(data["unchangedRecipients"]) == 1000
            repeat.append(ms)
        for name, samples in (("1,000 new (created)", fresh), ("1,000 again (unchanged)", repeat)):
            s = sorted(samples)
            print(f"{label:10} {name:26} p50 {statistics.median(s):8.1f} ms   p90 {s[int(0.9 * (len(s) - 1))]:8.1f} ms   ({len(s)} requests)")
    finally:
        proc.terminate()
        proc.wait()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if not os.path.exists(HERALD):
        raise SystemExit(f"{HERALD} is missing: run bench/run (it builds the release binaries)")
    print("POST /v1/deployments/{org}/notifications/{id}/recipients with 1,000 embed recipients, herald-local (release)")
    run("embedded", {"HERALD_BACKEND": "embedded"}, rounds)
    moto_bin = os.path.join(ROOT, ".venv-moto", "bin", "moto_server")
    if not os.path.exists(moto_bin):
        print("moto: skipped (.venv-moto missing: scripts/test installs it)")
        return
    moto_port = free_port()
    moto = subprocess.Popen([moto_bin, "-H", "127.0.0.1", "-p", str(moto_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", moto_port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        run("moto", {"HERALD_BACKEND": "aws", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "AWS_REGION": "us-east-1",
                     "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "TABLE_NAME": "herald-bench"}, max(3, rounds // 4))
    finally:
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
