"""stripe: offline replays verified by stripe-python, and the CLI capture with a stand-in CLI.

Stripe's servers are unreachable from the tests, so `stripe listen` / `--print-secret` /
`trigger` run against tests/standins/stripe, a stand-in executable that prints the real CLI's
documented lines (the ready line with the secret on stderr, forwarded events on stdout) and
exits on SIGINT/SIGTERM. Replays need no CLI: a real HTTP receiver verifies each signature with
`stripe.Webhook.construct_event`.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import stripe
from conftest import SUITE_ROOT, assert_user_error, free_port

from lomash_tasks import webhooks
from lomash_tasks.errors import UserError

STANDIN = SUITE_ROOT / "tests" / "standins" / "stripe"
SECRET = "whsec_replayTestSecret0123456789abcdef"
SHIPPED = [
    "checkout.session.completed",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "invoice.paid",
]


# -- a real webhook receiver ----------------------------------------------------------------------
class Receiver:
    """An HTTP server in a thread that verifies Stripe signatures like the order service would."""

    def __init__(self, secret: str, tamper: bool = False) -> None:
        self.secret, self.tamper = secret, tamper
        self.verified: list[stripe.Event] = []
        self.rejected: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.tamper:
                    body = body.replace(b'"livemode": false', b'"livemode": true')
                try:
                    event = stripe.Webhook.construct_event(
                        body, self.headers.get("Stripe-Signature", ""), receiver.secret
                    )
                except stripe.SignatureVerificationError as err:
                    receiver.rejected.append(str(err))
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(b'{"error": "invalid signature"}')
                    return
                receiver.verified.append(event)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"received": true}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/webhooks/stripe"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def order_env(root: Path) -> Path:
    return root / "services" / "order-payment-service" / ".env"


def with_env(root: Path, secret: str | None = SECRET) -> Path:
    """The order service's .env made from its example, with a webhook secret when given."""
    path = order_env(root)
    text = path.with_name(".env.example").read_text()
    if secret is not None:
        text = text.replace("STRIPE_WEBHOOK_SECRET=\n", f"STRIPE_WEBHOOK_SECRET={secret}\n")
    path.write_text(text)
    path.chmod(0o640)
    return path


# -- fixtures and signing -------------------------------------------------------------------------
def test_shipped_fixtures_are_stripe_event_objects():
    assert sorted(webhooks.fixture_names()) == sorted(SHIPPED)
    for name in SHIPPED:
        fixture = webhooks.load_fixture(name)
        event = json.loads(fixture.body)
        assert event["object"] == "event" and event["type"] == name
        assert event["id"].startswith("evt_") and event["livemode"] is False
        assert isinstance(event["created"], int) and event["api_version"]
        assert event["data"]["object"]["object"] in (
            "checkout.session",
            "payment_intent",
            "charge",
            "invoice",
        )


def test_signature_verifies_with_stripe_python_and_a_tampered_body_fails():
    body = webhooks.load_fixture("invoice.paid").body
    header = webhooks.sign(body, SECRET)
    event = stripe.Webhook.construct_event(body, header, SECRET)
    assert event.type == "invoice.paid"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.replace(b"4900", b"1"), header, SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_someOtherSecret")


# -- replay ---------------------------------------------------------------------------------------
def test_replay_every_shipped_fixture_is_verified_by_the_receiver(workspace, inv):
    with_env(workspace)
    with Receiver(SECRET) as rx:
        result = inv("stripe.replay", ",".join(SHIPPED), "--to", rx.url, check=True)
    assert [e.type for e in rx.verified] == SHIPPED
    assert not rx.rejected
    assert result.stdout.count(": 200") == len(SHIPPED)
    assert SECRET not in result.stdout + result.stderr


def test_replay_of_a_tampered_body_is_rejected_and_exits_non_zero(workspace, inv):
    with_env(workspace)
    with Receiver(SECRET, tamper=True) as rx:
        result = inv("stripe.replay", "payment_intent.succeeded", "--to", rx.url)
    assert rx.rejected and not rx.verified
    assert_user_error(result, "400", "1 of 1 events were refused")


def test_replay_of_a_json_file_by_path(workspace, inv, tmp_path):
    with_env(workspace)
    event = json.loads(webhooks.load_fixture("charge.refunded").body)
    event["id"] = "evt_customFixture"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(event))
    with Receiver(SECRET) as rx:
        inv("stripe.replay", str(path), "--to", rx.url, check=True)
    assert [e.id for e in rx.verified] == ["evt_customFixture"]


def test_replay_without_a_secret_says_how_to_get_one(workspace, inv):
    with_env(workspace, secret=None)
    result = inv("stripe.replay", "invoice.paid", "--to", "http://127.0.0.1:9/x")
    assert_user_error(
        result,
        "STRIPE_WEBHOOK_SECRET is not set",
        "services/order-payment-service/.env",
        "inv stripe.listen",
        "inv stripe.secret",
    )


def test_replay_without_an_env_file_says_to_run_env_copy(inv):
    result = inv("stripe.replay", "invoice.paid")
    assert_user_error(result, "env.copy", "STRIPE_WEBHOOK_SECRET")


def test_replay_to_an_endpoint_that_is_down(workspace, inv):
    with_env(workspace)
    port = free_port()
    result = inv(
        "stripe.replay", "invoice.paid", "--to", f"http://127.0.0.1:{port}/v1/webhooks/stripe"
    )
    assert_user_error(result, "did not answer", "Start the order service", "3003")


def test_replay_default_target_is_the_order_service_port(workspace, inv):
    with_env(workspace)
    from lomash_tasks.stack import ports

    if ports.answers("localhost", 3003):
        pytest.skip("something listens on port 3003 here")
    result = inv("stripe.replay", "invoice.paid")
    assert_user_error(result, "http://localhost:3003/v1/webhooks/stripe did not answer")


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{not json", "is not JSON (line 1, column 2)"),
        ('{"object": "customer", "id": "cus_1"}', "is not a Stripe event"),
        ("[1, 2]", "is not a Stripe event"),
    ],
)
def test_replay_of_a_bad_fixture_sends_nothing(workspace, inv, tmp_path, content, fragment):
    with_env(workspace)
    path = tmp_path / "bad.json"
    path.write_text(content)
    with Receiver(SECRET) as rx:
        result = inv("stripe.replay", f"invoice.paid,{path}", "--to", rx.url)
    assert_user_error(result, fragment)
    assert not rx.verified  # checked before anything is sent


def test_replay_of_an_unknown_fixture_lists_the_shipped_ones(workspace, inv):
    with_env(workspace)
    result = inv("stripe.replay", "invoice.payed", "--to", "http://127.0.0.1:9/")
    assert_user_error(
        result,
        "Unknown fixture 'invoice.payed'",
        "Did you mean 'invoice.paid'",
        "checkout.session.completed",
    )


# -- the CLI, with the stand-in --------------------------------------------------------------------
def standin_env(workspace: Path, log: Path, **extra: str) -> dict[str, str]:
    env = {
        "INVOKE_STRIPE_CLI": str(STANDIN),
        "STANDIN_STRIPE_LOG": str(log),
        "INVOKE_STRIPE_READY_TIMEOUT": "10",
    }
    env.update(extra)
    return env


def start_listen(workspace: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    full.update(env, INVOKE_WORKSPACE_ROOT=str(workspace))
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "stripe.listen", *args],
        cwd=SUITE_ROOT,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def wait_for_log(log: Path, event: str, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists():
            entries = [json.loads(line) for line in log.read_text().splitlines()]
            if any(e["event"] == event for e in entries):
                return entries
        time.sleep(0.05)
    raise AssertionError(f"the stand-in never logged {event!r}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_listen_with_standin_cli_captures_secret_streams_events_and_stops_on_sigint(
    workspace, tmp_path
):
    env_path = with_env(workspace, secret=None)
    before = env_path.read_bytes()
    log = tmp_path / "cli.log"
    secret = "whsec_standinCapture0123456789"
    proc = start_listen(
        workspace,
        standin_env(workspace, log, STANDIN_STRIPE_SECRET=secret),
        "--events",
        "charge.succeeded",
        "--events",
        "invoice.paid",
    )
    try:
        wait_for_log(log, "listening")
        deadline = time.monotonic() + 10
        while secret.encode() not in env_path.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let the forwarded-event lines through
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in out + err
    # the .env: only the secret's line changed, byte for byte; the mode kept
    after = env_path.read_bytes()
    old_lines, new_lines = before.split(b"\n"), after.split(b"\n")
    assert len(old_lines) == len(new_lines)
    changed = [(a, b) for a, b in zip(old_lines, new_lines) if a != b]
    assert changed == [(b"STRIPE_WEBHOOK_SECRET=", f"STRIPE_WEBHOOK_SECRET={secret}".encode())]
    assert env_path.stat().st_mode & 0o777 == 0o640
    # output: masked secret, forwarded events in order, the clean stop
    assert secret not in out + err
    assert "STRIPE_WEBHOOK_SECRET=**** written to services/order-payment-service/.env" in out
    assert out.index("Forwarding Stripe events") < out.index("--> charge.succeeded")
    assert "--> invoice.paid" in out and "<--  [200] POST" in out
    assert "Stripe CLI stopped" in out
    # the CLI: forwarded to the order service, the API key in its environment, not its argv
    entries = wait_for_log(log, "stopped")
    started = next(e for e in entries if e["event"] == "listening")
    assert started["argv"] == [
        "listen",
        "--forward-to",
        "localhost:3003/v1/webhooks/stripe",
        "--events",
        "charge.succeeded,invoice.paid",
    ]
    assert started["api_key"] == "sk_test_placeholder"
    assert not any("sk_test" in a for a in started["argv"])
    assert not alive(started["pid"])


def test_listen_with_standin_cli_stops_it_on_sigterm_too(workspace, tmp_path):
    with_env(workspace, secret=None)
    log = tmp_path / "cli.log"
    proc = start_listen(workspace, standin_env(workspace, log))
    try:
        wait_for_log(log, "listening")
        time.sleep(0.3)
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    started = next(e for e in wait_for_log(log, "stopped") if e["event"] == "listening")
    assert not alive(started["pid"])


def test_listen_with_standin_cli_that_never_gets_ready_hits_the_deadline(workspace, inv, tmp_path):
    path = with_env(workspace, secret=None)
    before = path.read_bytes()
    log = tmp_path / "cli.log"
    env = standin_env(
        workspace, log, STANDIN_STRIPE_MODE="never-ready", INVOKE_STRIPE_READY_TIMEOUT="1.5"
    )
    result = inv("stripe.listen", env=env, timeout=30)
    assert_user_error(result, "no signing secret within 1.5 s", "> Getting ready...")
    assert path.read_bytes() == before
    started = next(e for e in wait_for_log(log, "stopped") if e["event"] == "listening")
    assert not alive(started["pid"])


def test_listen_with_standin_cli_that_fails_reports_its_last_lines(workspace, inv, tmp_path):
    with_env(workspace, secret=None)
    env = standin_env(workspace, tmp_path / "cli.log", STANDIN_STRIPE_MODE="fail")
    result = inv("stripe.listen", env=env, timeout=30)
    assert_user_error(result, "exited 1 before it was ready", "Authorization failed")


def test_listen_without_an_env_file_says_to_run_env_copy(inv, tmp_path):
    result = inv("stripe.listen", env=standin_env(Path("."), tmp_path / "cli.log"))
    assert_user_error(result, "does not exist yet", "inv env.copy")
    assert not (tmp_path / "cli.log").exists()  # the CLI was never started


def test_missing_cli_says_how_to_install_it(workspace, inv):
    with_env(workspace)
    result = inv("stripe.listen", env={"INVOKE_STRIPE_CLI": "stripe-cli-that-is-not-here"})
    assert_user_error(result, "was not found", "npm install -g @stripe/cli", "brew", "scoop")


def test_secret_with_standin_cli_print_secret(workspace, inv, tmp_path):
    path = with_env(workspace, secret="whsec_old000")
    secret = "whsec_printedSecret42424242"
    result = inv(
        "stripe.secret",
        env=standin_env(workspace, tmp_path / "cli.log", STANDIN_STRIPE_SECRET=secret),
        check=True,
    )
    assert f"STRIPE_WEBHOOK_SECRET={secret}\n" in path.read_text()
    assert secret not in result.stdout + result.stderr
    again = inv(
        "stripe.secret",
        env=standin_env(workspace, tmp_path / "cli.log", STANDIN_STRIPE_SECRET=secret),
        check=True,
    )
    assert "already in" in again.stdout


def test_trigger_with_standin_cli(workspace, inv, tmp_path):
    with_env(workspace)
    log = tmp_path / "cli.log"
    result = inv(
        "stripe.trigger", "payment_intent.succeeded", env=standin_env(workspace, log), check=True
    )
    assert "Trigger succeeded" in result.stdout
    entry = json.loads(log.read_text().splitlines()[0])
    assert entry["argv"] == ["trigger", "payment_intent.succeeded"]
    assert entry["api_key"] == "sk_test_placeholder"


def test_secret_key_never_reaches_argv_when_unset(workspace, tmp_path):
    """Without STRIPE_SECRET_KEY the CLI gets no STRIPE_API_KEY from the suite."""
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.registry import Registry
    from lomash_tasks.workspace import Workspace

    ws = Workspace.locate(workspace, Registry.from_mapping(plain(load_config(env=False))))
    path = with_env(workspace)
    path.write_text(path.read_text().replace("STRIPE_SECRET_KEY=sk_test_placeholder\n", ""))
    env = webhooks.cli_env(webhooks.target(ws))
    assert env.get("STRIPE_API_KEY") == os.environ.get("STRIPE_API_KEY")


def test_unknown_fixture_is_a_user_error():
    with pytest.raises(UserError, match="Shipped fixtures"):
        webhooks.load_fixture("nope")


def test_listen_with_standin_cli_forwards_where_told(workspace, tmp_path):
    with_env(workspace, secret=None)
    log = tmp_path / "cli.log"
    proc = start_listen(
        workspace, standin_env(workspace, log), "--forward-to", "localhost:9999/hooks/stripe"
    )
    try:
        wait_for_log(log, "listening")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    started = next(e for e in wait_for_log(log, "stopped") if e["event"] == "listening")
    assert started["argv"] == ["listen", "--forward-to", "localhost:9999/hooks/stripe"]
    assert "Forwarding Stripe events to http://localhost:9999/hooks/stripe" in out
