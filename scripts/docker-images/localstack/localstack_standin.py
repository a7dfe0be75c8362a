"""Stand-in for localstack/localstack (no registry is reachable here): moto's server on 4566.

Keeps the contract the workspace relies on:
  - every AWS API moto emulates (S3, SQS, SES, Secrets Manager, ...) on one port, 4566;
  - GET /_localstack/health -> {"services": {"s3": "running", ...}, "edition", "version"};
  - executable scripts in /etc/localstack/init/ready.d/ run once the endpoint answers, with
    `awslocal` (the AWS CLI pointed at this endpoint) on PATH;
    each `awslocal` call is the real AWS CLI (awscli's own driver), run in a process forked
    from one that imported it already (`--cli-server` below): ~0.2 s a call instead of ~1.5 s
    of Python start-up, which would make the workspace's hook of two dozen calls take ~40 s;
  - GET /_localstack/init/ready -> {"completed": true|false, "scripts": [...]}, which the
    Compose healthcheck reads.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

READY_D = Path(os.environ.get("LOCALSTACK_READY_D", "/etc/localstack/init/ready.d"))
PORT = int(os.environ.get("GATEWAY_PORT", "4566"))
STATE = {"completed": False, "scripts": []}
CLI_SOCKET = os.environ.get("AWSLOCAL_SOCKET", "/tmp/awslocal.sock")
SERVICES = [
    s.strip()
    for s in os.environ.get("SERVICES", "s3,sqs,ses,secretsmanager").split(",")
    if s.strip()
]


def local_routes(app):
    def wrapped(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_localstack/"):
            if path.rstrip("/") == "/_localstack/health":
                body = {
                    "services": {name: "running" for name in SERVICES},
                    "edition": "community",
                    "version": f"moto {version('moto')} (stand-in)",
                }
            elif path.rstrip("/") in ("/_localstack/init/ready", "/_localstack/init"):
                body = {"completed": STATE["completed"], "scripts": STATE["scripts"]}
            else:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error": "not found"}']
            data = json.dumps(body).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
            )
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


def cli_server() -> int:
    """Forks one process per `awslocal` call from a process that imported awscli already.

    Single-threaded (fork-safe): a request (JSON argv/env/cwd + the caller's stdin, stdout and
    stderr as passed file descriptors) is handled by a forked child, which forks the CLI run
    with those descriptors as 0/1/2, waits for it and sends its exit code back.
    """
    import awscli.clidriver  # the slow part, once

    driver = awscli.clidriver.create_clidriver()  # botocore's session, command table, models
    commands = driver._get_command_table()
    for service in ("s3api", "s3", "sqs", "ses", "secretsmanager", "sts"):
        try:  # each service's operations and their arguments, built once
            table = commands[service]._get_command_table()
            for operation in table.values():
                getattr(operation, "arg_table", None)
        except Exception:
            pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handler children are reaped by the kernel
    try:
        os.unlink(CLI_SOCKET)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(CLI_SOCKET + ".new")
    server.listen(16)
    os.rename(CLI_SOCKET + ".new", CLI_SOCKET)
    while True:
        conn, _ = server.accept()
        if os.fork() == 0:
            server.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os._exit(_handle(conn, driver))
        conn.close()


def _handle(conn: socket.socket, driver) -> int:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            break
        data += more
    request = json.loads(data)
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            os.chdir(request["cwd"])
            data_path = os.environ.get("AWS_DATA_PATH", "")  # set by importing awscli
            os.environ.clear()
            os.environ.update(request["env"])
            os.environ["AWS_DATA_PATH"] = os.pathsep.join(
                p for p in (request["env"].get("AWS_DATA_PATH", ""), data_path) if p
            )
            code = driver.main(request["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code or 0)
    for fd in fds:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    conn.sendall(str(os.waitstatus_to_exitcode(status)).encode())
    conn.close()
    return 0


def main() -> int:
    if sys.argv[1:] == ["--cli-server"]:
        return cli_server()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    cli = subprocess.Popen([sys.executable, __file__, "--cli-server"])
    os.environ.setdefault("MOTO_PORT", str(PORT))
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server
    from werkzeug.test import Client

    app = DomainDispatcherApplication(create_backend_app)
    Client(app).get("/", base_url=f"http://127.0.0.1:{PORT}")  # load the S3 backend now
    server = make_server("0.0.0.0", PORT, local_routes(app), threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    deadline = time.monotonic() + 60  # the hooks call awslocal: its server first
    while not os.path.exists(CLI_SOCKET) and cli.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    threading.Thread(target=run_ready_hooks, daemon=True).start()
    print(f"moto {version('moto')} on 0.0.0.0:{PORT} (stand-in for LocalStack)", flush=True)
    server.serve_forever()
    cli.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
