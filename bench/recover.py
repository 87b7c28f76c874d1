#!/usr/bin/env python3
"""Recover benchmark on herald-local (release, the durable SQLite backend), issue 13.

N failed webhook deliveries (default 100,000) are made for real: a webhook notification points at
the receiver's refusing path (examples/hello-axum, POST /refuse answers 400, which fails a
delivery at once), and wrk emits N events with one target each. Then the notification is pointed
at the counting path (POST /hook) and one `POST .../recover` puts every failed delivery back on
the queue (the request queues the first 1,000, fan-out jobs the rest); what is timed is from the
recover request to the N-th arrival. Target: within 30 s.

Baseline, in the same run: the same N deliveries sent fresh, released from `held` by resuming the
notifier (the sender's own work, without recover's reads and requeueing).

Usage: bench/recover.py   (bench/run builds the release binaries first)
  RECOVER_DELIVERIES (default 100000), RECOVER_ROUNDS (default 1)
"""
import datetime
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deliveries import HERALD, RECEIVER, Herald, cpu_seconds, free_port, get_text, wait_until  # noqa: E402


def emit(h, n):
    """wrk POSTs events (one webhook target each, 16 at a time) until n were answered 202. (wrk
    stops sending at n, but would wait out its duration: a marker file tells this script to end it
    with SIGINT, on which wrk reports.)"""
    marker = tempfile.mktemp(prefix="herald-bench-emitted-")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\n'
                     'wrk.body = \'{"type":"buildProcessed","data":{"appName":"Bench"}}\'\n'
                     f'wrk.headers["Authorization"] = "Bearer {h.token}"\n'
                     'wrk.headers["Content-Type"] = "application/json"\n'
                     'local answered = 0\n'
                     'response = function(status, headers, body)\n'
                     '  answered = answered + 1\n'
                     f'  if answered == {n} then wrk.thread:stop(); io.open("{marker}", "w"):close() end\n'
                     'end\n'
                     'done = function(summary, latency, requests)\n'
                     '  io.write(string.format("EMITTED %d %d\\n", summary.requests, summary.errors.status))\n'
                     'end\n')
    wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d600s", "-s", script.name, f"http://127.0.0.1:{h.port}{h.base}/events"],
                           stdout=subprocess.PIPE, text=True)
    assert wait_until(lambda: os.path.exists(marker) or wrk.poll() is not None, 600, every=0.1) is not None
    wrk.send_signal(signal.SIGINT)
    out = wrk.communicate(timeout=30)[0]
    os.unlink(script.name)
    if os.path.exists(marker):
        os.unlink(marker)
    emitted, errors = (int(x) for x in out.split("EMITTED")[1].split())
    assert errors == 0 and emitted >= n, out


def settled(count):
    """Waits until `count()` stops moving for a second: its value."""
    last = count()
    while True:
        time.sleep(1)
        now = count()
        if now == last:
            return now
        last = now


def webhook(h, url):
    status, body = h.api.call("POST", f"{h.base}/notifications",
                              {"type": "webhook", "events": {"buildProcessed": True}, "setup": {"webhook": {"url": url}}})
    assert status == 200, body
    return body["data"]["id"]


def recover_round(base, count, n):
    """n deliveries failed, then recovered: (seconds, herald CPU seconds, deliveries, request's answer)."""
    h = Herald()
    try:
        notification = webhook(h, base + "/refuse")
        refused0 = count("/refused")
        emit(h, n)
        assert wait_until(lambda: count("/refused") >= refused0 + n, 300) is not None, "not all refused"
        emitted = settled(lambda: count("/refused")) - refused0
        status, body = h.api.call("PATCH", f"{h.base}/notifications/{notification}",
                                  {"setup": {"webhook": {"url": base + "/hook"}}})
        assert status == 200, body
        since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).isoformat()
        hooks0 = count("/count")
        cpu0, t0 = cpu_seconds(h.proc.pid), time.perf_counter()
        status, answer = h.api.call("POST", f"{h.base}/notifications/{notification}/recover", {"since": since})
        assert status == 202, answer
        took = wait_until(lambda: count("/count") >= hooks0 + emitted, 300)
        assert took is not None, f"only {count('/count') - hooks0} of {emitted} arrived"
        took = time.perf_counter() - t0
        return took, cpu_seconds(h.proc.pid) - cpu0, emitted, answer["data"]
    finally:
        h.stop()


def held_round(base, count, n):
    """n deliveries held, then released by a resume: (seconds, herald CPU seconds, deliveries)."""
    h = Herald()
    try:
        webhook(h, base + "/hook")
        settings = "/api/v2/notifications/settings"
        status, _ = h.api.call("PUT", settings, {"notifier_paused": True})
        assert status == 200
        emit(h, n)
        assert wait_until(lambda: h.held() >= n, 300, every=1) is not None, "not all held"
        emitted = settled(h.held)
        hooks0 = count("/count")
        cpu0, t0 = cpu_seconds(h.proc.pid), time.perf_counter()
        status, _ = h.api.call("PUT", settings, {"notifier_paused": False})
        assert status == 200
        assert wait_until(lambda: count("/count") >= hooks0 + emitted, 300) is not None, "not all arrived"
        return time.perf_counter() - t0, cpu_seconds(h.proc.pid) - cpu0, emitted
    finally:
        h.stop()


def main():
    for binary in (HERALD, RECEIVER):
        assert os.path.exists(binary), f"{binary} is missing: run bench/run (it builds the release binaries)"
    n = int(os.environ.get("RECOVER_DELIVERIES", "100000"))
    rounds = int(os.environ.get("RECOVER_ROUNDS", "1"))
    port = free_port()
    receiver = subprocess.Popen([RECEIVER], env={**os.environ, "PORT": str(port)})
    wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 10)
    base = f"http://127.0.0.1:{port}"
    count = lambda path: int(get_text(port, path))
    try:
        fresh, recovered = [], []
        for _ in range(rounds):
            fresh.append(held_round(base, count, n))
            recovered.append(recover_round(base, count, n))
        for took, cpu, sent, answer in recovered:
            print(f"recover: {sent:,} failed deliveries re-sent in {took:.2f} s = {sent / took:,.0f}/s "
                  f"(target: within 30 s); the request queued {answer['queued']:,} itself (more: {answer['more']}); "
                  f"herald-local {cpu / sent * 1000:.3f} CPU-s per 1,000")
        for took, cpu, sent in fresh:
            print(f"baseline: the same number sent fresh (released from held): {sent:,} in {took:.2f} s = "
                  f"{sent / took:,.0f}/s; herald-local {cpu / sent * 1000:.3f} CPU-s per 1,000")
        r = statistics.median(s / t for t, _, s, _ in recovered)
        f = statistics.median(s / t for t, _, s in fresh)
        print(f"recover's rate is {r / f * 100:.0f} % of the fresh sender's")
    finally:
        receiver.terminate()
        receiver.wait()


if __name__ == "__main__":
    main()
