#!/usr/bin/env python3
"""moto's server for the test suite, applying one request at a time.

Usage: moto_server.py HOST PORT  (run with .venv-moto's python; scripts/test does)

DynamoDB applies every conditional write atomically. moto's threaded server does not: two
requests can both pass `count < :limit` before either writes, and under load the store contract's
concurrency tests saw 58 SMS taken against a limit of 50. So the WSGI app runs under one lock
(connections are still served by threads, with keep-alive); moto's state changes become atomic,
as DynamoDB's are, and the tests check Herald's conditions rather than moto's races.
"""
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # Consume the whole response inside the lock: the state change and its answer are
            # one step.
            return list(app(environ, start_response))

    run_simple(host, port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
