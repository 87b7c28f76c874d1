#!/usr/bin/env python3
"""Cold start of Lambda binaries against a local Lambda Runtime API stand-in.

For each binary and each run: start the process with the Lambda environment, time from spawn to
its first `GET /2018-06-01/runtime/invocation/next` (init), hand it one invocation (the sample
event), wait for its response, then stop it at its second `/next` and read its peak RSS
(VmHWM from /proc, read while it waits at its second /next). DynamoDB, SQS and SSM point at a
closed loopback port, so each function runs its whole path (the first AWS call fails fast)
without a network. Runs are interleaved (one run of each binary, then the next round), so every
binary sees the same machine; the ratio is to the bare `lambda_runtime` hello-world's median.

Usage:
  bench/cold_start.py [runs]         create-notification, get-notification and the hello-world,
                                     from `cargo build --release` (bench/run builds them)
  bench/cold_start.py [runs] --all   every function of template.yaml, as scripts/build-functions
                                     x86_64 built them (target/lambda/<function>/bootstrap), and the
                                     hello-world built the same way (`cargo lambda build --release
                                     --x86-64 --example hello-lambda`)
  bench/cold_start.py [runs] --dir LABEL=DIR [--dir LABEL=DIR ...]
                                     two builds side by side (say, before and after a change): the
                                     functions of template.yaml found in each DIR (as DIR/<function>
                                     or DIR/<function>/bootstrap) and the first DIR's hello-lambda,
                                     all interleaved in one run. Build each the same way, e.g.
                                     `cargo build --profile lambda --target x86_64-unknown-linux-gnu
                                     -p functions --bin get-notification --example hello-lambda`

The CPU column is the process's user + system time (wait4) from spawn to its kill after one
invocation: on a machine as noisy as this one it moves less than wall-clock init.
"""
import http.server
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BINARIES = [
    ("create-notification", os.path.join(TARGET, "release", "create-notification"), "events/create-notification.json"),
    # A function that never reads a secret (create-notification may: the Slack client secret).
    ("get-notification", os.path.join(TARGET, "release", "get-notification"), "events/get-notification.json"),
    ("hello-lambda (bare lambda_runtime)", os.path.join(TARGET, "release", "examples", "hello-lambda"), "events/create-notification.json"),
]
HELLO = "hello-lambda (bare lambda_runtime)"


def function_names():
    """The functions template.yaml declares."""
    with open(os.path.join(ROOT, "template.yaml")) as f:
        return sorted(re.findall(r"^ *CodeUri: target/lambda/([a-z-]+)/$", f.read(), re.M))


def in_dirs(dirs):
    """The functions found in each `LABEL=DIR` of `dirs`, and the first one's hello-world."""
    found = []
    hello = None
    for spec in dirs:
        label, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"--dir {spec}: expected LABEL=DIR")
        for name in function_names() + ["hello-lambda"]:
            for candidate in (os.path.join(path, name), os.path.join(path, name, "bootstrap")):
                if os.path.isfile(candidate):
                    if name != "hello-lambda":
                        found.append((f"{label}/{name}", candidate, f"events/{name}.json"))
                    elif hello is None:
                        hello = candidate
                    break
    if hello is None:
        raise SystemExit("no hello-lambda in the first --dir that has one: see this script's usage")
    return found + [(HELLO, hello, "events/create-notification.json")]


def every_function():
    """Each function of template.yaml with its sample event, and the hello-world, as built for
    Lambda (scripts/build-functions)."""
    names = function_names()
    lambda_dir = os.path.join(TARGET, "lambda")
    found = [(n, os.path.join(lambda_dir, n, "bootstrap"), f"events/{n}.json") for n in sorted(names)]
    return found + [(HELLO, os.path.join(lambda_dir, "hello-lambda", "bootstrap"), "events/create-notification.json")]


class Runtime(http.server.BaseHTTPRequestHandler):
    """The Runtime API: the first /next gets the event, the second one ends the run."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        state = self.server.state
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        state["nexts"] += 1
        if state["nexts"] == 1:
            state["first_next"] = time.perf_counter()
            body = state["event"]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            # The process is idle and waiting: read its peak RSS now. (wait4's ru_maxrss would
            # also count the forked Python interpreter before exec.)
            try:
                with open(f"/proc/{state['pid']}/status") as f:
                    state["hwm_kb"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
            except (OSError, StopIteration, KeyError):
                pass
            state["done"].set()
            # Hold the connection: the process is killed now.
            time.sleep(5)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        payload = self.rfile.read(length)
        state = self.server.state
        if "/response" in self.path or "/error" in self.path:
            state["responded"] = time.perf_counter()
            state["response"] = payload
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(binary, event):
    server = Server(("127.0.0.1", 0), Runtime)
    server.state = {"nexts": 0, "event": event, "done": threading.Event()}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_MAX_ATTEMPTS": "1",
        "TABLE_NAME": "herald",
        # What the workers and create-organization need configured (unreachable, as DynamoDB is).
        "HERALD_DELIVERY_QUEUE_URL": f"http://127.0.0.1:{free_port()}/000000000000/deliveries",
        "HERALD_FANOUT_QUEUE_URL": f"http://127.0.0.1:{free_port()}/000000000000/fanout",
        "HERALD_OPERATOR_TOKEN_PARAMETER": "/herald/operator-token",
        "RUST_LOG": "warn",
    }
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server.state["pid"] = proc.pid
    finished = server.state["done"].wait(timeout=30)
    proc.kill()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = -9
    server.shutdown()
    if not finished or "first_next" not in server.state or "hwm_kb" not in server.state:
        raise SystemExit(f"{binary}: no invocation completed")
    init_ms = (server.state["first_next"] - start) * 1000
    invoke_ms = (server.state["responded"] - server.state["first_next"]) * 1000
    cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000
    return init_ms, invoke_ms, server.state["hwm_kb"] / 1024, server.state.get("response", b""), cpu_ms


def main():
    argv = sys.argv[1:]
    dirs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--dir"]
    args = [a for i, a in enumerate(argv) if a not in ("--all", "--dir") and (i == 0 or argv[i - 1] != "--dir")]
    runs = int(args[0]) if args else 20
    binaries = in_dirs(dirs) if dirs else every_function() if "--all" in argv else BINARIES
    events = {}
    for name, binary, event_file in binaries:
        if not os.path.exists(binary):
            raise SystemExit(f"{binary} is missing: see this script's usage")
        with open(os.path.join(ROOT, event_file), "rb") as f:
            events[name] = f.read()
    # Interleaved, run by run, so all binaries see the same machine conditions (a block of runs
    # of one, then of the other, moved the ratio by +-10 %).
    samples = {name: [] for name, _, _ in binaries}
    for _ in range(runs):
        for name, binary, _ in binaries:
            samples[name].append(run_once(binary, events[name]))
    results = {}
    for name, binary, _ in binaries:
        inits = sorted(s[0] for s in samples[name])
        results[name] = {
            "init_median_ms": statistics.median(inits),
            "init_p90_ms": inits[int(0.9 * (len(inits) - 1))],
            "first_invoke_median_ms": statistics.median(s[1] for s in samples[name]),
            "cpu_median_ms": statistics.median(s[4] for s in samples[name]),
            "peak_rss_mb": max(s[2] for s in samples[name]),
            "size_mb": os.path.getsize(binary) / 1e6,
            "sample_response": json.loads(samples[name][-1][3] or b"null"),
        }
    base = results[HELLO]["init_median_ms"]
    print(f"cold start, {runs} interleaved runs each (median / p90 init = spawn to first /next; peak RSS over init + one invocation)")
    print(f"{'binary':40} {'init med':>9} {'init p90':>9} {'invoke':>8} {'CPU med':>8} {'peak RSS':>9} {'size':>8} {'x hello':>8}")
    worst = 0.0
    for name, r in results.items():
        ratio = r["init_median_ms"] / base
        if name != HELLO:
            worst = max(worst, ratio)
        print(
            f"{name:40} {r['init_median_ms']:8.2f}ms {r['init_p90_ms']:8.2f}ms {r['first_invoke_median_ms']:7.2f}ms "
            f"{r['cpu_median_ms']:6.2f}ms "
            f"{r['peak_rss_mb']:7.1f}MB {r['size_mb']:6.1f}MB {ratio:7.2f}x"
        )
    print(f"highest ratio to the hello-world: {worst:.2f}x (budget 1.5x)")
    status = results.get("create-notification", {}).get("sample_response")
    print(f"create-notification's answer to the sample event (DynamoDB unreachable on purpose): statusCode {status and status.get('statusCode')}")


if __name__ == "__main__":
    main()
