#!/usr/bin/env python3
"""Delivery engine benchmarks on herald-local (release, the durable SQLite backend): issues 6,
11 and 27. Each herald-local runs on a new temporary data directory.

1. Fan-out: one event to 10,000 email recipients, from POST /events to the 10,000th email in the
   local outbox (GET /_local/outbox/count). Target: within 2 s.
2. POST /events latency, p50 and p99, with 1 target vs 10,000 (interleaved, each on an idle
   server). Target: flat.
3. Sender vs the bare loopback POST loop: N deliveries to the same loopback receiver
   (examples/hello-axum, POST /hook counts). herald-local: the notifier is paused while N events
   with one webhook target each are emitted (their deliveries are held), then resumed, and what is
   timed is the sender (with the resume job that queues the held deliveries), durable claim and
   settlement included. Baseline: examples/post-loop, the same HTTP client, the same signed POST,
   the same concurrency, no store. Interleaved rounds; target: herald >= 50 % of the baseline, and
   <= 0.1 herald-local CPU-seconds per 1,000 deliveries.
5. Pacing (issue 15): the sender of item 3 with no `rateLimit` set, with pacing on (the default)
   and off (`HERALD_RATE_LIMITS=false`: the code path skipped), interleaved in one run; target:
   within 10 %. A third series sets `rateLimit: 10000` (the most) on the target, to show what the
   slot reservation (one SQLite write per delivery) costs when the limit does not bind.
6. Sealing (issue 26): the sender of item 3 with its target's signing secret sealed (the
   default: opened for every delivery) and stored in plain text (`HERALD_SEAL_SECRETS=false`, the
   baseline), interleaved in one run; target: within 5 %.
4. Emit-to-arrival: events with one webhook target each POSTed with 16 connections, by wrk for
   a few seconds and by `ab -k` (20,000 events); events/s from the first POST to the last arrival
   at the receiver, and herald-local's CPU per 1,000 events. Baseline, interleaved round by
   round: `ab -k -c16` POSTing the same bodies straight to the receiver (the bare keep-alive POST
   loop). Targets: >= 15,000 events/s with each tool, and >= 40 % of the baseline.

Usage: bench/deliveries.py   (bench/run builds the release binaries first)
"""
import http.client
import json
import os
import re
import shutil
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
POST_LOOP = os.path.join(TARGET, "release", "examples", "post-loop")
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.token = token

    def call(self, method, path, body=None):
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        self.conn.request(method, path, body=payload, headers=headers)
        res = self.conn.getresponse()
        data = res.read()
        return res.status, json.loads(data or b"null")


def get_text(port, path, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    data = conn.getresponse().read()
    conn.close()
    return data.decode()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def wait_until(predicate, limit, every=0.01):
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if predicate():
            return time.perf_counter() - start
        time.sleep(every)
    return None


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * q))]


class Herald:
    """herald-local on a new data directory; its API as the ready-made organization's admin."""

    def __init__(self, env=None):
        self.dir = tempfile.mkdtemp(prefix="herald-bench-")
        self.port = free_port()
        self.proc = subprocess.Popen([HERALD], env={**os.environ, "HERALD_PORT": str(self.port), "RUST_LOG": "error",
                                                    "HERALD_DATA_DIR": self.dir, **(env or {})},
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = dict(self.proc.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(3))
        self.org, self.token = lines["HERALD_ORGANIZATION_ID"], lines["HERALD_ADMIN_TOKEN"]
        self.operator = lines["HERALD_OPERATOR_TOKEN"]  # the local outbox is the operator's
        self.api = Client(self.port, self.token)
        self.base = f"/v1/organizations/{self.org}"
        # What is measured is the engine, not the organization's limits: raised to the most.
        most = 1_000_000_000
        status, body = Client(self.port, self.operator).call(
            "PATCH", self.base, {"limits": {"eventsPerSecond": most, "emailsPerDay": most, "smsPerDay": most}})
        assert status == 200, body

    def emit(self, kind):
        start = time.perf_counter()
        status, body = self.api.call("POST", f"{self.base}/events", {"type": kind, "data": {"appName": "Bench", "version": "1.0"}})
        assert status == 202, body
        return (time.perf_counter() - start) * 1000

    def webhook(self, url, kind="buildProcessed", rate_limit=None):
        body = {"type": "webhook", "events": {kind: True}, "setup": {"webhook": {"url": url}}}
        if rate_limit is not None:
            body["rateLimit"] = rate_limit
        status, body = self.api.call("POST", f"{self.base}/notifications", body)
        assert status == 200, body

    def held(self):
        """How many deliveries are held (paging through them)."""
        count, cursor = 0, None
        while True:
            path = f"{self.base}/deliveries?status=held&limit=100" + (f"&cursor={cursor}" if cursor else "")
            status, body = self.api.call("GET", path)
            assert status == 200, body
            count += len(body["data"]["items"])
            cursor = body["data"].get("nextCursor")
            if not cursor:
                return count

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def fan_out_and_latency(hook, hooks):
    h = Herald()
    try:
        status, created = h.api.call("POST", f"{h.base}/notifications", {"type": "email", "events": {"buildCreated": True}})
        assert status == 200, created
        email = created["data"]["id"]
        for chunk in range(10):
            recipients = [{"embedTenantName": "bench", "externalId": f"user-{chunk}-{i}",
                           "email": f"user-{chunk}-{i}@example.com"} for i in range(1000)]
            status, body = h.api.call("POST", f"/v1/deployments/{h.org}/notifications/{email}/recipients", {"recipients": recipients})
            assert status == 200, body
        h.webhook(hook)
        outbox = lambda: json.loads(get_text(h.port, "/_local/outbox/count", h.operator))["count"]
        times = []
        for n in range(1, 4):
            h.emit("buildCreated")
            times.append(wait_until(lambda: outbox() >= 10_000 * n, 60))
        print(f"fan-out: the 10,000th email in the outbox {', '.join(f'{t:.2f}' for t in times)} s after the 202 "
              f"(3 events; target: within 2 s)")
        rounds = int(os.environ.get("LATENCY_SAMPLES", "50"))
        small, big = [], []
        start_hooks, start_outbox = hooks(), outbox()
        for n in range(1, rounds + 1):
            small.append(h.emit("buildProcessed"))
            wait_until(lambda: hooks() >= start_hooks + n, 30)
            big.append(h.emit("buildCreated"))
            wait_until(lambda: outbox() >= start_outbox + 10_000 * n, 60)
        print(f"POST /events latency, {rounds} each, interleaved on an idle server: 1 target p50 "
              f"{statistics.median(small):.2f} ms p99 {percentile(small, 0.99):.2f} ms; 10,000 targets p50 "
              f"{statistics.median(big):.2f} ms p99 {percentile(big, 0.99):.2f} ms (target: flat)")
    finally:
        h.stop()


def sender_round(hook, hooks, n, env=None, rate_limit=None):
    """herald-local's sender: n held deliveries released; (seconds, herald CPU seconds)."""
    h = Herald(env)
    try:
        h.webhook(hook, rate_limit=rate_limit)
        settings = "/api/v2/notifications/settings"
        status, _ = h.api.call("PUT", settings, {"notifier_paused": True})
        assert status == 200
        before = hooks()
        for _ in range(n):
            h.emit("buildProcessed")
        # Let the fan-out and the sender finish holding them (nothing arrives while paused).
        held = wait_until(lambda: h.held() >= n, 120, every=0.5)
        assert held is not None, f"only {h.held()} of {n} held"
        assert hooks() == before, "sent while paused"
        cpu0, t0 = cpu_seconds(h.proc.pid), time.perf_counter()
        status, _ = h.api.call("PUT", settings, {"notifier_paused": False})
        assert status == 200
        took = wait_until(lambda: hooks() >= before + n, 300)
        cpu = cpu_seconds(h.proc.pid) - cpu0
        assert took is not None, f"only {hooks() - before} of {n} arrived"
        return took, cpu
    finally:
        h.stop()


def post_loop_round(hook, n):
    out = subprocess.run([POST_LOOP, hook, str(n)], capture_output=True, text=True, check=True).stdout.split()
    return float(out[1]), float(out[2])


def sender_vs_baseline(hook, hooks):
    n = int(os.environ.get("SENDER_DELIVERIES", "20000"))
    rounds = int(os.environ.get("SENDER_ROUNDS", "3"))
    herald, base = [], []
    for _ in range(rounds):
        herald.append(sender_round(hook, hooks, n))
        base.append(post_loop_round(hook, n))
    h_rate = statistics.median(n / s for s, _ in herald)
    b_rate = statistics.median(n / s for s, _ in base)
    h_cpu = statistics.median(c / n * 1000 for _, c in herald)
    b_cpu = statistics.median(c / n * 1000 for _, c in base)
    print(f"sender: {n} webhook deliveries, {rounds} interleaved rounds: herald-local {h_rate:,.0f}/s "
          f"(rounds {', '.join(f'{n / s:,.0f}' for s, _ in herald)}), bare POST loop {b_rate:,.0f}/s "
          f"(rounds {', '.join(f'{n / s:,.0f}' for s, _ in base)}): {h_rate / b_rate * 100:.0f} % of the baseline "
          f"(target 50 %); herald-local {h_cpu:.3f} CPU-s per 1,000 (target 0.1; the loop itself {b_cpu:.3f})")


def pacing_toggle(hook, hooks):
    n = int(os.environ.get("PACING_DELIVERIES", "10000"))
    rounds = int(os.environ.get("PACING_ROUNDS", "3"))
    series = {"on": [], "off": [], "limit": []}
    for _ in range(rounds):
        series["on"].append(sender_round(hook, hooks, n))
        series["off"].append(sender_round(hook, hooks, n, env={"HERALD_RATE_LIMITS": "false"}))
        series["limit"].append(sender_round(hook, hooks, n, rate_limit=10000))
    rate = {k: statistics.median(n / s for s, _ in v) for k, v in series.items()}
    rounds_of = lambda k: ", ".join(f"{n / s:,.0f}" for s, _ in series[k])
    print(f"pacing: {n} webhook deliveries, {rounds} interleaved rounds: no rateLimit, pacing on "
          f"{rate['on']:,.0f}/s ({rounds_of('on')}); pacing off {rate['off']:,.0f}/s ({rounds_of('off')}): "
          f"{rate['on'] / rate['off'] * 100:.0f} % of off (target >= 90 %); rateLimit 10000 set "
          f"{rate['limit']:,.0f}/s ({rounds_of('limit')}): {rate['limit'] / rate['off'] * 100:.0f} % of off")


def sealing_toggle(hook, hooks):
    n = int(os.environ.get("SEALING_DELIVERIES", "10000"))
    rounds = int(os.environ.get("SEALING_ROUNDS", "5"))
    series = {"sealed": [], "plain": []}
    for _ in range(rounds):
        series["sealed"].append(sender_round(hook, hooks, n))
        series["plain"].append(sender_round(hook, hooks, n, env={"HERALD_SEAL_SECRETS": "false"}))
    rate = {k: statistics.median(n / s for s, _ in v) for k, v in series.items()}
    cpu = {k: statistics.median(c / n * 1000 for _, c in v) for k, v in series.items()}
    rounds_of = lambda k: ", ".join(f"{n / s:,.0f}" for s, _ in series[k])
    print(f"sealing: {n} webhook deliveries, {rounds} interleaved rounds: secret sealed (default) "
          f"{rate['sealed']:,.0f}/s ({rounds_of('sealed')}), {cpu['sealed']:.3f} CPU-s per 1,000; plain "
          f"{rate['plain']:,.0f}/s ({rounds_of('plain')}), {cpu['plain']:.3f} CPU-s per 1,000: "
          f"{rate['sealed'] / rate['plain'] * 100:.0f} % of plain (target >= 95 %)")


def limits_toggle(hook, hooks):
    """POST /events latency with the eventsPerSecond check (the default; the limit raised out of
    reach) and without it (HERALD_ORGANIZATION_LIMITS=false), interleaved, each on a new server."""
    n = int(os.environ.get("LIMITS_SAMPLES", "1000"))
    rounds = int(os.environ.get("LIMITS_ROUNDS", "3"))
    series = {"on": [], "off": []}
    for _ in range(rounds):
        for name, env in (("on", None), ("off", {"HERALD_ORGANIZATION_LIMITS": "false"})):
            h = Herald(env)
            try:
                h.webhook(hook)
                before = hooks()
                for _ in range(n):
                    series[name].append(h.emit("buildProcessed"))
                wait_until(lambda: hooks() >= before + n, 60)
            finally:
                h.stop()
    p = lambda k, q: percentile(series[k], q)
    print(f"limits: POST /events latency, {n} x {rounds} interleaved rounds: eventsPerSecond checked "
          f"p50 {statistics.median(series['on']):.3f} ms p99 {p('on', 0.99):.3f} ms; not checked "
          f"p50 {statistics.median(series['off']):.3f} ms p99 {p('off', 0.99):.3f} ms")


EVENT_BODY = '{"type":"buildProcessed","data":{"appName":"Bench"}}'


def emit_round(hook, hooks, tool):
    """herald-local on a new directory, one webhook target; `tool` POSTs events with 16
    connections: wrk for EMIT_SECONDS, or `ab -k` EMIT_EVENTS of them. Returns (events, seconds from
    the first POST to the last arrival, herald CPU seconds)."""
    h = Herald()
    try:
        h.webhook(hook)
        url = f"http://127.0.0.1:{h.port}{h.base}/events"
        start_hooks = hooks()
        if tool == "wrk":
            secs = int(os.environ.get("EMIT_SECONDS", "5"))
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
                script.write('wrk.method = "POST"\n'
                             f"wrk.body = '{EVENT_BODY}'\n"
                             f'wrk.headers["Authorization"] = "Bearer {h.token}"\n'
                             'wrk.headers["Content-Type"] = "application/json"\n'
                             'done = function(summary, latency, requests)\n'
                             '  io.write(string.format("EMITTED %d %d\\n", summary.requests, summary.errors.status))\n'
                             'end\n')
            cpu0, t0 = cpu_seconds(h.proc.pid), time.perf_counter()
            out = subprocess.run(["wrk", "-t1", "-c16", f"-d{secs}s", "-s", script.name, url],
                                 capture_output=True, text=True, check=True).stdout
            os.unlink(script.name)
            emitted, errors = (int(x) for x in out.split("EMITTED")[1].split())
            assert errors == 0, out
        else:
            emitted = int(os.environ.get("EMIT_EVENTS", "20000"))
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as body:
                body.write(EVENT_BODY)
            cpu0, t0 = cpu_seconds(h.proc.pid), time.perf_counter()
            out = subprocess.run(["ab", "-q", "-k", "-c16", f"-n{emitted}", "-p", body.name, "-T", "application/json",
                                  "-H", f"Authorization: Bearer {h.token}", url],
                                 capture_output=True, text=True, check=True).stdout
            os.unlink(body.name)
            assert "Non-2xx responses" not in out and re.search(r"Failed requests:\s+0\b", out), out
        arrived = wait_until(lambda: hooks() >= start_hooks + emitted, 300)
        total = time.perf_counter() - t0
        cpu = cpu_seconds(h.proc.pid) - cpu0
        assert arrived is not None, f"{tool}: only {hooks() - start_hooks} of {emitted} arrived"
        return emitted, total, cpu
    finally:
        h.stop()


def bare_post_round(receiver_port):
    """The baseline: `ab -k -c16` POSTing EMIT_EVENTS event-sized bodies straight to the receiver
    (keep-alive, no Herald): POSTs per second."""
    n = int(os.environ.get("EMIT_EVENTS", "20000"))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as body:
        body.write(EVENT_BODY)
    t0 = time.perf_counter()
    out = subprocess.run(["ab", "-q", "-k", "-c16", f"-n{n}", "-p", body.name, "-T", "application/json",
                          f"http://127.0.0.1:{receiver_port}/hook"], capture_output=True, text=True, check=True).stdout
    took = time.perf_counter() - t0
    os.unlink(body.name)
    assert re.search(r"Failed requests:\s+0\b", out), out
    return n / took


def emit_to_arrival(hook, hooks, receiver_port):
    rounds = int(os.environ.get("EMIT_ROUNDS", "3"))
    series = {"wrk": [], "ab": [], "bare": []}
    for _ in range(rounds):
        series["wrk"].append(emit_round(hook, hooks, "wrk"))
        series["ab"].append(emit_round(hook, hooks, "ab"))
        series["bare"].append(bare_post_round(receiver_port))
    bare = statistics.median(series["bare"])
    print(f"bare keep-alive POST loop (ab -k -c16 straight to the receiver): {bare:,.0f}/s "
          f"(rounds {', '.join(f'{r:,.0f}' for r in series['bare'])})")
    for tool in ("wrk", "ab"):
        runs = series[tool]
        rate = statistics.median(n / s for n, s, _ in runs)
        cpu = statistics.median(c / n * 1000 for n, _, c in runs)
        print(f"emit-to-arrival with {tool} -c16 ({runs[0][0]:,} events{' in ' + os.environ.get('EMIT_SECONDS', '5') + ' s' if tool == 'wrk' else ''}): "
              f"{rate:,.0f} events/s from the first POST to the last arrival (rounds "
              f"{', '.join(f'{n / s:,.0f}' for n, s, _ in runs)}; target 15,000), {rate / bare * 100:.0f} % of the bare "
              f"loop (target 40 %); herald-local {cpu:.3f} CPU-s per 1,000 events")


def main():
    for binary in (HERALD, RECEIVER, POST_LOOP):
        assert os.path.exists(binary), f"{binary} is missing: run bench/run (it builds the release binaries)"
    assert shutil.which("wrk"), "wrk is missing: bench/run installs it (apt-get install wrk)"
    assert shutil.which("ab"), "ab is missing: bench/run installs it (apt-get install apache2-utils)"
    receiver_port = free_port()
    receiver = subprocess.Popen([RECEIVER], env={**os.environ, "PORT": str(receiver_port)})
    hook = f"http://127.0.0.1:{receiver_port}/hook"
    hooks = lambda: int(get_text(receiver_port, "/count"))
    wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", receiver_port)) == 0, 10)
    try:
        only = os.environ.get("ONLY", "fanout,sender,emit,pacing,sealing,limits").split(",")
        if "fanout" in only:
            fan_out_and_latency(hook, hooks)
        if "sender" in only:
            sender_vs_baseline(hook, hooks)
        if "emit" in only:
            emit_to_arrival(hook, hooks, receiver_port)
        if "pacing" in only:
            pacing_toggle(hook, hooks)
        if "sealing" in only:
            sealing_toggle(hook, hooks)
        if "limits" in only:
            limits_toggle(hook, hooks)
    finally:
        receiver.terminate()


if __name__ == "__main__":
    sys.exit(main())
