#!/usr/bin/env python3
"""moto's server for the test suite, applying one request at a time.

Usage: moto_server.py HOST PORT  (run with .venv-moto's python; scripts/test does)

DynamoDB applies every conditional write atomically. moto's threaded server does not: two
requests can both pass `count < :limit` before either writes, and under load the store contract's
concurrency tests saw 58 SMS taken against a limit of 50. So the WSGI app runs under one lock
(connections are still served by threads, with keep-alive); moto's state changes become atomic,
as DynamoDB's are, and the tests check Herald's conditions rather than moto's races.

`GET /moto-api/data.json?services=ses,sns` answers moto's own data.json restricted to those
services (same shape). Unrestricted, data.json serializes every tracked model of every service;
after the suite has filled DynamoDB that is tens of MB and tens of seconds, all under the lock.
The delivery tests read what SES and SNS "sent" this way.
"""
import json
import sys
import threading
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if environ.get("PATH_INFO") == "/moto-api/data.json" and "services" in query:
            services = set(",".join(query["services"]).split(","))
            with lock:
                body = json.dumps(model_data(services)).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        with lock:
            # Consume the whole response inside the lock: the state change and its answer are
            # one step.
            return list(app(environ, start_response))

    run_simple(host, port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


def model_data(services):
    """moto's data.json (moto/moto_api/_internal/responses.py, model_data) for `services` only."""
    from moto.core.model_instances import model_data as tracked

    results = {}
    for service in sorted(s for s in tracked if s in services):
        results[service] = {}
        for name in sorted(tracked[service]):
            results[service][name] = []
            for instance in tracked[service][name].instances_tracked:
                fields = {}
                for attr in dir(instance):
                    if attr.startswith("_"):
                        continue
                    try:
                        value = getattr(instance, attr)
                        json.dumps(value)
                    except (TypeError, AttributeError, ValueError):
                        continue
                    fields[attr] = value
                results[service][name].append(fields)
    return results


if __name__ == "__main__":
    main()
