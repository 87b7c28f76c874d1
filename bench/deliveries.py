#!/usr/bin/env python3
"""Delivery engine benchmarks on herald-local (release, embedded backends), SPEC §7 / issue 6.

1. Fan-out: one event to 10,000 email recipients, from POST /events to the 10,000th email in the
   local outbox (GET /_local/outbox/count).
2. POST /events latency with 1 target vs 10,000 (medians; the fan-out runs after the 202).
3. Sender: deliveries/s to a loopback webhook receiver (examples/hello-axum, POST /hook), and
   herald-local's CPU-seconds per 1,000 deliveries. The notifier is paused while N events with
   one webhook target each are emitted (their deliveries are held), then resumed: what is timed
   is the sender alone (plus the resume job that queues the held deliveries).
4. Emit-to-arrival: wrk POSTs events with one webhook target each for a few seconds; events/s
   from the first POST to the last arrival at the receiver.

Usage: bench/deliveries.py   (bench/run builds the release binaries first)
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
RECEIVER = os.path.join(TARGET, "release", "examples", "hello-axum")
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.token = token

    def call(self, method, path, body=None, token=None):
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {token or self.token}", "Content-Type": "application/json"}
        self.conn.request(method, path, body=payload, headers=headers)
        res = self.conn.getresponse()
        data = res.read()
        return res.status, json.loads(data or b"null")


def get_text(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    data = conn.getresponse().read()
    conn.close()
    return data.decode()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def wait_until(predicate, limit):
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if predicate():
            return time.perf_counter() - start
        time.sleep(0.02)
    return None


def main():
    receiver_port = free_port()
    receiver = subprocess.Popen([RECEIVER], env={**os.environ, "PORT": str(receiver_port)})
    port = free_port()
    herald = subprocess.Popen([HERALD], env={**os.environ, "HERALD_PORT": str(port), "RUST_LOG": "error"},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = dict(herald.stdout.readline().strip().split("=", 1) for _ in range(3))
        org, token = lines["HERALD_ORGANIZATION_ID"], lines["HERALD_ADMIN_TOKEN"]
        api = Client(port, token)
        base = f"/v1/organizations/{org}"
        hook = f"http://127.0.0.1:{receiver_port}/hook"

        # --- 1 and 2: fan-out to 10,000 email recipients; POST latency 1 vs 10,000 targets
        status, created = api.call("POST", f"{base}/notifications", {"type": "email", "events": {"buildCreated": True}})
        assert status == 200, created
        email = created["data"]["id"]
        for chunk in range(10):
            recipients = [{"embedTenantName": "bench", "externalId": f"user-{chunk}-{i}",
                           "email": f"user-{chunk}-{i}@example.com"} for i in range(1000)]
            status, body = api.call("POST", f"/v1/deployments/{org}/notifications/{email}/recipients", {"recipients": recipients})
            assert status == 200, body
        status, body = api.call("POST", f"{base}/notifications",
                                {"type": "webhook", "events": {"buildProcessed": True}, "setup": {"webhook": {"url": hook}}})
        assert status == 200, body

        def emit(kind):
            start = time.perf_counter()
            status, body = api.call("POST", f"{base}/events", {"type": kind, "data": {"appName": "Bench", "version": "1.0"}})
            assert status == 202, body
            return (time.perf_counter() - start) * 1000

        outbox = lambda: json.loads(get_text(port, "/_local/outbox/count"))["count"]
        emit("buildCreated")
        fanout_seconds = wait_until(lambda: outbox() >= 10_000, 60)
        print(f"fan-out: 10,000 emails in the outbox {fanout_seconds:.2f} s after the 202 (target: within 10 s)"
              if fanout_seconds else "fan-out: 10,000 emails NOT in the outbox within 60 s")
        hooks = lambda: int(get_text(receiver_port, "/count"))
        # Interleaved, each on an idle server (the previous fan-out finished).
        small_latency, big_latency = [], []
        for n in range(2, 12):
            small_latency.append(emit("buildProcessed"))
            wait_until(lambda: hooks() >= n - 1, 30)
            big_latency.append(emit("buildCreated"))
            wait_until(lambda: outbox() >= 10_000 * n, 60)
        print(f"POST /events latency, median of {len(small_latency)} interleaved: 1 target "
              f"{statistics.median(small_latency):.2f} ms; 10,000 targets {statistics.median(big_latency):.2f} ms")

        # --- 3: sender alone: hold N deliveries while paused, then resume
        n = int(os.environ.get("SENDER_DELIVERIES", "20000"))
        settings = "/api/v2/notifications/settings"
        status, _ = api.call("PUT", settings, {"notifier_paused": True})
        assert status == 200
        before_hooks = hooks()
        for _ in range(n):
            emit("buildProcessed")
        # Let the fan-out finish holding them (nothing arrives while paused).
        time.sleep(2)
        assert hooks() == before_hooks, "sent while paused"
        cpu0, t0 = cpu_seconds(herald.pid), time.perf_counter()
        status, _ = api.call("PUT", settings, {"notifier_paused": False})
        assert status == 200
        took = wait_until(lambda: hooks() >= before_hooks + n, 120)
        cpu = cpu_seconds(herald.pid) - cpu0
        if took is None:
            print(f"sender: NOT all {n} deliveries arrived within 120 s ({hooks() - before_hooks})")
        else:
            print(f"sender: {n} webhook deliveries in {took:.2f} s = {n / took:,.0f} deliveries/s "
                  f"(target 5,000); herald-local CPU {cpu:.2f} s = {cpu / n * 1000:.3f} CPU-s per 1,000 (target 0.25)")

        # --- 4: emit-to-arrival with wrk
        secs = int(os.environ.get("EMIT_SECONDS", "5"))
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write('wrk.method = "POST"\n'
                         'wrk.body = \'{"type":"buildProcessed","data":{"appName":"Bench"}}\'\n'
                         f'wrk.headers["Authorization"] = "Bearer {token}"\n'
                         'wrk.headers["Content-Type"] = "application/json"\n'
                         'done = function(summary, latency, requests)\n'
                         '  io.write(string.format("EMITTED %d %d\\n", summary.requests, summary.errors.status))\n'
                         'end\n')
        start_hooks = hooks()
        cpu0, t0 = cpu_seconds(herald.pid), time.perf_counter()
        out = subprocess.run(["wrk", "-t1", "-c16", f"-d{secs}s", "-s", script.name, f"http://127.0.0.1:{port}{base}/events"],
                             capture_output=True, text=True, check=True).stdout
        os.unlink(script.name)
        emitted, errors = (int(x) for x in out.split("EMITTED")[1].split())
        assert errors == 0, out
        arrived = wait_until(lambda: hooks() >= start_hooks + emitted, 120)
        total = time.perf_counter() - t0
        cpu = cpu_seconds(herald.pid) - cpu0
        print(f"emit-to-arrival: {emitted} events POSTed by wrk in {secs} s, all arrived {total:.2f} s after the first POST "
              f"= {emitted / total:,.0f} events/s (target 2,000); herald-local CPU {cpu / emitted * 1000:.3f} CPU-s per 1,000"
              if arrived is not None else f"emit-to-arrival: only {hooks() - start_hooks} of {emitted} arrived")
    finally:
        herald.terminate()
        receiver.terminate()


if __name__ == "__main__":
    sys.exit(main())
