"""Stand-in for localstack/localstack (no registry is reachable here): moto's server on 4566.

Keeps the contract the workspace relies on:
  - every AWS API moto emulates (S3, SQS, SES, Secrets Manager, ...) on one port, 4566;
  - GET /_localstack/health -> {"services": {"s3": "running", ...}, "edition", "version"};
  - executable scripts in /etc/localstack/init/ready.d/ run once the endpoint answers, with
    `awslocal` (the AWS CLI pointed at this endpoint) on PATH;
  - GET /_localstack/init/ready -> {"completed": true|false, "scripts": [...]}, which the
    Compose healthcheck reads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from importlib.metadata import version
from pathlib import Path

READY_D = Path(os.environ.get("LOCALSTACK_READY_D", "/etc/localstack/init/ready.d"))
PORT = int(os.environ.get("GATEWAY_PORT", "4566"))
STATE = {"completed": False, "scripts": []}
SERVICES = [s.strip() for s in os.environ.get("SERVICES", "s3,sqs,ses,secretsmanager").split(",")
            if s.strip()]


def local_routes(app):
    def wrapped(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_localstack/"):
            if path.rstrip("/") == "/_localstack/health":
                body = {"services": {name: "running" for name in SERVICES},
                        "edition": "community", "version": f"moto {version('moto')} (stand-in)"}
            elif path.rstrip("/") in ("/_localstack/init/ready", "/_localstack/init"):
                body = {"completed": STATE["completed"], "scripts": STATE["scripts"]}
            else:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error": "not found"}']
            data = json.dumps(body).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(data)))])
            return [data]
        return app(environ, start_response)

    return wrapped


def run_ready_hooks() -> None:
    scripts = sorted(p for p in READY_D.glob("*") if p.is_file()) if READY_D.is_dir() else []
    for path in scripts:
        entry = {"stage": "READY", "name": path.name, "state": "RUNNING"}
        STATE["scripts"].append(entry)
        argv = ["bash", str(path)] if path.suffix == ".sh" else [sys.executable, str(path)]
        print(f"init: running {path}", flush=True)
        code = subprocess.call(argv)
        entry["state"] = "SUCCESSFUL" if code == 0 else "ERROR"
        print(f"init: {path.name} exited {code}", flush=True)
    STATE["completed"] = True
    print("Ready.", flush=True)


def main() -> int:
    os.environ.setdefault("MOTO_PORT", str(PORT))
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server
    from werkzeug.test import Client

    app = DomainDispatcherApplication(create_backend_app)
    Client(app).get("/", base_url=f"http://127.0.0.1:{PORT}")  # load the S3 backend now
    server = make_server("0.0.0.0", PORT, local_routes(app), threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    threading.Thread(target=run_ready_hooks, daemon=True).start()
    print(f"moto {version('moto')} on 0.0.0.0:{PORT} (stand-in for LocalStack)", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
