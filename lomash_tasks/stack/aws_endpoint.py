"""The embedded AWS endpoint: moto's server, warmed up before it listens.

    python -m lomash_tasks.stack.aws_endpoint --host 127.0.0.1 --port 4566

The same WSGI application as `moto_server -H HOST -p PORT` (S3, SQS, SES, Secrets Manager and
the rest of moto on one port), except that the S3 backend, which moto otherwise loads on the
first request (~0.2 s), is loaded before the port opens: once it accepts connections the
endpoint answers at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple
    from werkzeug.test import Client

    app = DomainDispatcherApplication(create_backend_app)
    # An unsigned GET / is S3 ListBuckets: it makes moto load the S3 backend now.
    Client(app).get("/", base_url=f"http://{args.host}:{args.port}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(args.host, args.port, app, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
