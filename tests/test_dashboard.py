"""`inv dashboard` in a real headless Chromium (Debian's `chromium`, driven by Selenium through
Debian's `chromium-driver`; nothing downloaded), over the nine services `inv setup` started
(conftest's `nine`, shared with test_services). The dashboard itself is started the way a
developer would: `inv services.up --dashboard` (the services already run: it checks them, then
serves), on a free port.

Each test leaves every service healthy for the next one (and for test_services after them).
A screenshot of the page after `inv setup` is kept in tests/artifacts/ (ignored by git).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import (
    SUITE_ROOT,
    Inv,
    assert_user_error,
    free_port,
    make_workspace,
    stack_config,
    stack_env,
)

pytestmark = pytest.mark.xdist_group("services")

ARTIFACTS = SUITE_ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SECRET = "whsec_dashboardTest0123456789abcdef"
SERVICES = [
    "api-gateway",
    "auth-service",
    "product-service",
    "order-payment-service",
    "appointment-service",
    "content-service",
    "customer-service",
    "notification-service",
    "analytics-service",
]
PARTS = ["postgres", "redis", "aws", "smtp"]
TOOLS = ["pgadmin", "redis-commander", "prometheus", "grafana", "loki"]


# -- the browser --------------------------------------------------------------------------------
def chromium_options(profile: str):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--disable-popup-blocking",
        "--window-size=1500,1200",
    ):
        options.add_argument(flag)
    return options


def start_browser(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(service=Service(DRIVER), options=chromium_options(profile))


@pytest.fixture(scope="module")
def browser():
    if not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)):
        why = (
            "Debian's chromium and chromium-driver are not installed (`apt-get install "
            "chromium chromium-driver`; .ci/run installs them)"
        )
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    profile = tempfile.mkdtemp(prefix="dashboard-chromium-")
    driver = start_browser(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def wait_until(check, timeout: float, what: str):
    """`check()`'s first truthy answer within `timeout` seconds (a deadline, not a figure)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as err:
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout}s (last seen: {last!r})")


def rows(driver) -> dict[str, dict]:
    """Each service row as the page shows it."""
    return {
        r["name"]: r
        for r in js(
            driver,
            """
        return [...document.querySelectorAll('#services tbody tr[data-state]')].map(r => ({
          name: r.dataset.service, state: r.dataset.state,
          pid: r.cells[4].textContent, restarts: r.cells[6].textContent,
          migrations: r.cells[7].textContent, redis: r.cells[8].textContent,
          env: r.cells[9].textContent}));""",
        )
    }


def parts(driver) -> dict[str, str]:
    return dict(
        js(
            driver,
            """return [...document.querySelectorAll('#parts tbody tr')]
                                .map(r => [r.dataset.part, r.dataset.state]);""",
        )
    )


def log_lines(driver, visible_only: bool = False) -> list[str]:
    return js(
        driver,
        """return [...document.querySelectorAll('#log .line')]
                          .filter(l => !arguments[0] || !l.hidden).map(l => l.textContent);""",
        visible_only,
    )


def result_of(driver, action: str, target: str, timeout: float = 180) -> dict:
    """The page's entry for the last run of an action, once it has finished."""

    def done():
        found = js(
            driver,
            """const li = document.querySelector(
            `#results li[data-action="${arguments[0]}"][data-target="${arguments[1]}"]`);
            return li && li.dataset.result ? {result: li.dataset.result, text: li.textContent}
                                           : null;""",
            action,
            target,
        )
        return found

    return wait_until(done, timeout, f"{action} {target} did not finish on the page")


def click(driver, selector: str) -> None:
    driver.find_element("css selector", selector).click()


# -- the dashboard, as `inv services.up --dashboard` serves it ------------------------------------
@dataclass
class Dash:
    url: str
    base: str
    token: str
    port: int
    proc: subprocess.Popen
    output: list[str]
    nine: object
    ws: object


def serve(args: list[str], env: dict[str, str], timeout: float = 180):
    """Start `inv ARGS` and return (proc, url, output) once it printed the dashboard's URL."""
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    full.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=SUITE_ROOT,
        env=full,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    output: list[str] = []

    def pump():
        for line in proc.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            break
        if "?token=" in line:
            return proc, line.strip(), output
    proc.kill()
    raise AssertionError(f"inv {' '.join(args)} printed no URL:\n{''.join(output)}")


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=5)


@pytest.fixture(scope="module")
def dash(nine):
    port = free_port()
    proc, url, output = serve(
        ["services.up", "--dashboard"], {**nine.env, "INVOKE_DASHBOARD_PORT": str(port)}
    )
    _, ws = stack_config(nine.env)
    try:
        yield Dash(
            url, f"http://127.0.0.1:{port}", url.split("?token=")[1], port, proc, output, nine, ws
        )
    finally:
        assert stop(proc) == 0, "".join(output)


def raw(
    dash: Dash,
    method: str,
    path: str,
    token: str | None = "",
    body=None,
    headers: dict | None = None,
) -> tuple[int, str]:
    """One request with exactly these headers (http.client sets no Origin; Host as given)."""
    token = dash.token if token == "" else token
    if token is not None:
        path += ("&" if "?" in path else "?") + f"token={token}"
    conn = http.client.HTTPConnection("127.0.0.1", dash.port, timeout=300)
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=data, headers=hdrs)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def state_file(root: Path) -> dict:
    path = root / ".lomash" / "services" / "state.json"
    return json.loads(path.read_text()).get("services", {}) if path.exists() else {}


def health(port: int) -> tuple[int | None, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, {}
    except OSError:
        return None, {}


def all_healthy(driver) -> dict[str, dict] | None:
    found = rows(driver)
    return (
        found if len(found) == 9 and all(r["state"] == "healthy" for r in found.values()) else None
    )


def open_page(driver, dash: Dash) -> None:
    driver.get(dash.url)
    wait_until(
        lambda: js(driver, "return document.getElementById('conn').dataset.state") == "live",
        30,
        "the page did not connect",
    )
    wait_until(lambda: all_healthy(driver), 60, "the page did not show nine healthy services")


# -- the page after `inv setup` -------------------------------------------------------------------
def test_the_page_shows_every_part_and_nine_healthy_services_after_setup(browser, dash):
    open_page(browser, dash)
    found = rows(browser)
    assert list(found) == SERVICES
    assert parts(browser) == {**{p: "healthy" for p in PARTS}, **{t: "Compose only" for t in TOOLS}}
    # migrations (db.status) and key counts (cache.stats) arrive from the probe
    read = wait_until(
        lambda: (
            lambda r: r if all("applied" in r[s]["migrations"] for s in SERVICES[1:]) else None
        )(rows(browser)),
        60,
        "the migrations were not shown",
    )
    for name in SERVICES[1:]:
        assert (
            "pending" not in read[name]["migrations"] and "failed" not in read[name]["migrations"]
        )
        assert " key" in read[name]["redis"]
    assert read["api-gateway"]["migrations"] == "" and read["api-gateway"]["redis"] == ""
    for name, row in read.items():  # pid and the .env check
        assert row["pid"].isdigit() and row["env"], (name, row)
    debug = js(
        browser,
        """return [...document.querySelectorAll('#services tbody tr[data-state]')]
                            .map(r => r.cells[3].textContent)""",
    )
    assert all(str(dash.nine.ports[n][1]) in d for n, d in zip(SERVICES, debug))
    # the last `inv setup`: every step, each done (or already done / skipped)
    steps = dict(
        js(
            browser,
            """return [...document.querySelectorAll('#setup tr[data-step]')]
                                 .map(r => [r.dataset.step, r.dataset.state]);""",
        )
    )
    assert list(steps) == [
        "env",
        "stack",
        "wait",
        "db.init",
        "deps",
        "db.migrate",
        "db.seed",
        "aws",
        "services",
    ]
    assert steps["services"] == "done" and "failed" not in steps.values()
    smtp_web = dash.nine.env["INVOKE_INFRA_SMTP_WEB_PORT"]
    assert (
        js(browser, "return document.getElementById('mail-link').href")
        == f"http://127.0.0.1:{smtp_web}/"
    )
    wait_until(
        lambda: js(browser, "return document.querySelectorAll('#aws li').length") > 0,
        60,
        "the AWS resources were not shown",
    )
    assert js(browser, "return document.querySelectorAll('#aws li[data-exists=no]').length") == 0
    # everything the page loaded came from the dashboard itself
    origins = js(
        browser,
        """return [location.href, ...performance.getEntriesByType('resource')
                              .map(e => e.name)].map(u => new URL(u).origin);""",
    )
    assert set(origins) == {dash.base}, origins
    ARTIFACTS.mkdir(exist_ok=True)
    height = js(browser, "return document.documentElement.scrollHeight")
    browser.set_window_size(1500, max(1200, height + 40))
    try:
        assert browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    finally:
        browser.set_window_size(1500, 1200)


def test_a_killed_service_turns_crashed_then_healthy_on_the_page_without_a_reload(browser, dash):
    open_page(browser, dash)
    js(browser, "window.notReloaded = true;")
    before = rows(browser)["product-service"]
    pgid = state_file(dash.nine.root)["product-service"]["pgid"]
    os.killpg(pgid, signal.SIGKILL)  # the watcher and the serving child
    wait_until(
        lambda: js(
            browser,
            """return document.querySelector(
        '#events li[data-name="product-service"][data-state="crashed"]')""",
        ),
        30,
        "the page did not show product-service crashed",
    )
    back = wait_until(
        lambda: (lambda r: r if r["state"] == "healthy" and r["pid"] != before["pid"] else None)(
            rows(browser)["product-service"]
        ),
        60,
        "product-service did not turn healthy again on the page",
    )
    assert int(back["restarts"]) > int(before["restarts"])
    assert js(browser, "return window.notReloaded === true")
    assert health(dash.nine.ports["product-service"][0])[0] == 200
    wait_until(
        lambda: any(
            line.startswith("product-service |") and "crashed" in line
            for line in log_lines(browser)
        ),
        30,
        "the supervisor's crash line did not reach the log view",
    )


def test_the_restart_button_restarts_the_service(browser, dash):
    open_page(browser, dash)
    port = dash.nine.ports["appointment-service"][0]
    before = health(port)[1]["pid"]
    click(browser, 'button[data-action="restart"][data-service="appointment-service"]')
    result = result_of(browser, "restart", "appointment-service")
    assert result["result"] == "ok", result["text"]
    assert "inv services.restart --service appointment-service" in result["text"]
    code, body = health(port)
    assert code == 200 and body["pid"] != before
    wait_until(lambda: all_healthy(browser), 60, "the services were not all healthy again")


def test_a_migration_added_on_disk_shows_pending_and_the_button_applies_it(browser, dash):
    from lomash_tasks import connections

    open_page(browser, dash)
    folder = dash.nine.root / "services/product-service/prisma/migrations/20991231000000_dashboard"
    folder.mkdir()
    (folder / "migration.sql").write_text(
        'CREATE TABLE "dashboard_check" ("id" INTEGER PRIMARY KEY);\n'
    )
    wait_until(
        lambda: "1 pending" in rows(browser)["product-service"]["migrations"],
        60,
        "the new migration was not shown pending",
    )
    button = 'button[data-action="migrate"][data-service="product-service"]'
    assert "primary" in browser.find_element("css selector", button).get_attribute("class")
    click(browser, button)
    result = result_of(browser, "migrate", "product-service")
    assert result["result"] == "ok", result["text"]
    wait_until(
        lambda: "pending" not in rows(browser)["product-service"]["migrations"],
        60,
        "the migration still showed pending",
    )
    svc = dash.ws.registry.service("product")
    with connections.pg_connect(dash.ws, svc) as conn:
        assert conn.execute("SELECT to_regclass('dashboard_check') IS NOT NULL").fetchone()[0]


def test_the_log_view_shows_what_the_service_just_printed_filtered_and_followed(browser, dash):
    env_file = dash.nine.root / "services/order-payment-service/.env"
    original = env_file.read_text()  # put back after: the service's launch is compared with it
    env_file.write_text(
        "\n".join(
            f"STRIPE_WEBHOOK_SECRET={SECRET}" if line.startswith("STRIPE_WEBHOOK_SECRET=") else line
            for line in original.splitlines()
        )
        + "\n"
    )
    try:
        replay_and_follow(browser, dash)
    finally:
        env_file.write_text(original)


def replay_and_follow(browser, dash: Dash) -> None:
    open_page(browser, dash)
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "fixture")).select_by_value("checkout.session.completed")
    click(browser, "#replay")
    result = result_of(browser, "replay", "checkout.session.completed")
    assert result["result"] == "ok", result["text"]
    printed = "webhook checkout.session.completed evt_1QLomashWoodCS0001"
    wait_until(
        lambda: any(
            line.startswith("order-payment-service |") and printed in line
            for line in log_lines(browser)
        ),
        30,
        "the order service's line did not reach the log view",
    )
    # filter by service, then by text
    Select(browser.find_element("id", "log-service")).select_by_value("order-payment-service")
    shown = log_lines(browser, visible_only=True)
    assert shown and all(line.startswith("order-payment-service |") for line in shown)
    browser.find_element("id", "log-text").send_keys("webhook checkout")
    shown = log_lines(browser, visible_only=True)
    assert shown and all("webhook checkout" in line for line in shown)
    # follow off: new lines wait; on again: they are shown
    click(browser, "#log-follow")
    count = len(log_lines(browser))
    click(browser, "#replay")
    result_of(browser, "replay", "checkout.session.completed")
    wait_until(
        lambda: "while paused" in browser.find_element("id", "log-paused").text,
        30,
        "the paused view did not count the new lines",
    )
    assert len(log_lines(browser)) == count
    click(browser, "#log-follow")
    assert len(log_lines(browser)) > count
    assert sum(printed in line for line in log_lines(browser, visible_only=True)) >= 2


def test_secrets_in_a_log_line_are_masked_as_in_the_terminal(browser, dash):
    """A service printing its Redis URL and signing secret (the stand-in services never do, so
    the line is appended to its log file, where its output goes)."""
    from lomash_tasks.env.files import read_env

    password = read_env(dash.nine.root / ".env").get("REDIS_PASSWORD")
    assert password and len(password) >= 6
    open_page(browser, dash)
    log = dash.nine.root / ".lomash/services/customer-service.log"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000")
    with open(log, "a") as handle:
        handle.write(
            f"{stamp} config: REDIS_URL=redis://:{password}@127.0.0.1:6379/5 "
            f"signing with {SECRET}\n"
        )
    line = wait_until(
        lambda: next((s for s in log_lines(browser) if "config: REDIS_URL" in s), None),
        30,
        "the line did not reach the log view",
    )
    assert password not in line and SECRET not in line and "****" in line
    status, body = raw(dash, "GET", "/api/logs")
    assert status == 200 and "config: REDIS_URL" in body
    assert password not in body and SECRET not in body


# -- actions that destroy data ask in the page ----------------------------------------------------
def test_flush_asks_for_the_service_name_in_the_page_then_empties_its_index(browser, dash):
    from lomash_tasks import connections

    client = connections.redis_client(dash.ws, 0)
    client.set("session:dashboard-check", "1")
    open_page(browser, dash)
    click(browser, 'button[data-action="flush"][data-service="auth-service"]')
    assert js(browser, "return document.getElementById('confirm').open")
    ok = browser.find_element("id", "confirm-ok")
    assert not ok.is_enabled()
    browser.find_element("id", "confirm-input").send_keys("product")  # another service's name
    assert not ok.is_enabled()
    browser.find_element("id", "confirm-input").clear()
    browser.find_element("id", "confirm-input").send_keys("auth")
    assert ok.is_enabled()
    ok.click()
    result = result_of(browser, "flush", "auth-service")
    assert result["result"] == "ok", result["text"]
    assert client.exists("session:dashboard-check") == 0
    client.connection_pool.disconnect()


# -- security -----------------------------------------------------------------------------------
def test_requests_without_the_token_get_403_and_change_nothing(browser, dash):
    from lomash_tasks import connections

    browser.get(dash.base + "/")
    assert "403 Forbidden" in browser.find_element("tag name", "body").text
    browser.get(dash.base + "/?token=" + "x" * len(dash.token))
    assert "403 Forbidden" in browser.find_element("tag name", "body").text
    client = connections.redis_client(dash.ws, 1)
    client.set("product:dashboard-check", "1")
    flush = {"service": "product", "confirm": "product"}
    refused = [
        raw(dash, "GET", "/api/state", token=None),
        raw(dash, "GET", "/static/app.js", token=None),
        raw(dash, "POST", "/api/actions/flush", token=None, body=flush),
        raw(dash, "POST", "/api/actions/flush", token="wrong", body=flush),
        # the right token, but the request came through another host name (DNS rebinding)
        raw(
            dash,
            "POST",
            "/api/actions/flush",
            body=flush,
            headers={"Host": f"evil.example:{dash.port}"},
        ),
        # the right token, posted from another site's page
        raw(
            dash,
            "POST",
            "/api/actions/flush",
            body=flush,
            headers={"Origin": "http://evil.example"},
        ),
        raw(
            dash, "POST", "/api/actions/flush", body=flush, headers={"Sec-Fetch-Site": "cross-site"}
        ),
    ]
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    refused += [  # the live stream: another site's page may not open it (nor one without token)
        raw(dash, "GET", "/ws", headers={**upgrade, "Origin": "http://evil.example"}),
        raw(dash, "GET", "/ws", token=None, headers={**upgrade, "Origin": dash.base}),
    ]
    for status, body in refused:
        assert status == 403 and "Forbidden" in body and dash.token not in body, (status, body)
    assert client.exists("product:dashboard-check") == 1  # nothing was done
    # a form post (no JSON) is refused before anything runs
    assert (
        raw(
            dash,
            "POST",
            "/api/actions/flush",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "0"},
        )[0]
        == 415
    )
    status, body = raw(
        dash, "POST", "/api/actions/flush", body=flush, headers={"Origin": dash.base}
    )
    assert status == 200 and json.loads(body)["ok"], body
    assert client.exists("product:dashboard-check") == 0  # the same request, allowed, works
    client.connection_pool.disconnect()


def test_an_action_on_an_unknown_service_or_unconfirmed_runs_nothing(dash):
    status, body = raw(dash, "POST", "/api/actions/restart", body={"service": "nope"})
    assert status == 400
    assert "Unknown service 'nope'" in json.loads(body)["error"]
    assert "Valid services" in json.loads(body)["error"]
    status, body = raw(dash, "POST", "/api/actions/explode", body={"service": "auth"})
    assert status == 404 and "Unknown action" in json.loads(body)["error"]
    status, body = raw(dash, "POST", "/api/actions/migrate", body={"service": "gateway"})
    assert status == 400 and "has no database" in json.loads(body)["error"]
    status, body = raw(dash, "POST", "/api/actions/reset", body={"service": "auth"})
    assert status == 400 and "type the service's name" in json.loads(body)["error"]
    status, body = raw(dash, "POST", "/api/actions/replay", body={"fixture": "/etc/passwd"})
    assert status == 400 and "Unknown fixture" in json.loads(body)["error"]
    assert all_rows_up(dash)


def all_rows_up(dash: Dash) -> bool:
    status, body = raw(dash, "GET", "/api/state")
    data = json.loads(body)
    return status == 200 and all(s["state"] == "healthy" for s in data["services"])


# -- faults ---------------------------------------------------------------------------------------
def test_a_crash_looping_service_is_shown_with_its_log_tail(browser, dash):
    source = dash.nine.root / "services/notification-service/src/index.js"
    original = source.read_text()
    open_page(browser, dash)
    try:
        source.write_text("throw new Error('dashboard crash-loop check');\n" + original)

        def looping():
            row = js(
                browser,
                """const r = document.querySelector(
                '#services tr[data-state][data-service="notification-service"]');
                const d = document.querySelector('#services tr.detail[data-service="notification-service"]');
                return {state: r.dataset.state, restarts: Number(r.cells[6].textContent),
                        tail: d ? d.textContent : ''};""",
            )
            return (
                row
                if row["restarts"] >= 2
                and row["state"] != "healthy"
                and "dashboard crash-loop check" in row["tail"]
                else None
            )

        seen = wait_until(looping, 90, "the crash loop was not shown with its log tail")
        assert seen["state"] in ("crashed", "restarting", "starting")
    finally:
        source.write_text(original)
    click(browser, 'button[data-action="restart"][data-service="notification-service"]')
    result = result_of(browser, "restart", "notification-service")
    assert result["result"] == "ok", result["text"]
    wait_until(lambda: all_healthy(browser), 60, "notification-service did not recover")


def test_ten_pages_at_once_all_stay_live(browser, dash):
    """Ten more pages of one browser (one profile: its six-connections-per-host limit of
    HTTP/1.1 is why the page streams over a WebSocket), opened from the first one."""
    open_page(browser, dash)
    js(
        browser,
        "window.pages = []; for (let i = 0; i < 10; i++) "
        "window.pages.push(window.open(arguments[0], '_blank'));",
        dash.url,
    )
    try:

        def every(script: str):
            return js(
                browser,
                "return window.pages.map(w => { try { "
                + script
                + " } catch (e) { return null; } });",
            )

        wait_until(
            lambda: all(
                s == "live"
                for s in every("return w.document.getElementById('conn').dataset.state;")
            ),
            60,
            "the ten pages did not all connect",
        )
        wait_until(
            lambda: all(
                n == 9
                for n in every(
                    "return w.document.querySelectorAll('#services tr[data-state=\"healthy\"]').length;"
                )
            ),
            60,
            "the ten pages did not all show nine healthy services",
        )
        log = dash.nine.root / ".lomash/services/auth-service.log"
        with open(log, "a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S.000')} ten pages check\n")
        wait_until(
            lambda: all(
                every(
                    "return [...w.document.querySelectorAll('#log .line')]"
                    ".some(l => l.textContent.includes('ten pages check'));"
                )
            ),
            30,
            "the new log line did not reach every page",
        )
        assert js(browser, "return document.getElementById('conn').dataset.state") == "live"
    finally:
        js(browser, "for (const w of window.pages || []) w.close();")


@pytest.mark.xdist_group("dashboard-stack")  # a stack of its own: it may run beside the others
def test_the_stack_stopped_while_the_page_is_open_turns_stopped_and_the_page_keeps_working(
    browser, tmp_root
):
    parent = Path(tempfile.mkdtemp(prefix="dash-stop-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    env = stack_env(root)
    inv = Inv(env)
    inv("env.copy", check=True)
    inv("stack.up", "--backend", "embedded", check=True, timeout=300)
    proc = None
    try:
        port = free_port()
        proc, url, output = serve(["dashboard", "--port", str(port), "--backend", "embedded"], env)
        browser.get(url)
        wait_until(
            lambda: all(parts(browser).get(p) == "healthy" for p in PARTS),
            60,
            "the parts were not shown healthy",
        )
        assert {r["state"] for r in rows(browser).values()} == {"stopped"}
        inv("stack.down", check=True, timeout=120)
        wait_until(
            lambda: all(parts(browser).get(p) == "stopped" for p in PARTS),
            60,
            "the parts did not turn stopped",
        )
        wait_until(
            lambda: "unknown" in rows(browser)["auth-service"]["migrations"],
            60,
            "the migrations did not say they cannot be read",
        )
        assert js(browser, "return document.getElementById('conn').dataset.state") == "live"
        click(browser, 'button[data-action="migrate"][data-service="auth-service"]')
        result = result_of(browser, "migrate", "auth-service")
        assert result["result"] == "failed"
        assert "Can't reach the database server" in result["text"]
        assert "Traceback" not in result["text"]
    finally:
        if proc is not None:
            assert stop(proc) == 0
        inv("stack.down", timeout=120)


COMPOSED = '''
from invoke import call, task

from lomash_tasks import tasks as suite


@task(pre=[call(suite.setup.setup, only=["env"])])
def watch(c, port=0):
    """Write the .env files, then serve the dashboard."""
    suite.dashboard.dashboard(c, port=int(port))


namespace = suite.namespace
namespace.add_task(watch)
'''


def test_composed_after_setup_a_taken_port_names_the_program_holding_it(inv, workspace, tmp_path):
    """A monorepo's own task: `pre=[call(setup)]`, then the dashboard, on a port taken."""
    (tmp_path / "tasks.py").write_text(COMPOSED)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = inv("--search-root", str(tmp_path), "watch", "--port", str(port), timeout=120)
    assert_user_error(
        result, f"Port {port} on 127.0.0.1 is already in use by pid {os.getpid()}", "--port"
    )
    assert (workspace / "services/auth-service/.env").is_file()  # the pre-task ran first


def test_the_websocket_handshake_and_frames_follow_rfc_6455():
    from lomash_tasks.dashboard import websocket

    assert websocket.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert websocket.frame(b"Hello") == b"\x81\x05Hello"  # RFC 6455 5.7, unmasked
    import io

    masked = io.BytesIO(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")  # 5.7, masked
    assert websocket.read_frame(masked) == (websocket.TEXT, b"Hello")
    with pytest.raises(ConnectionError):
        websocket.read_frame(io.BytesIO(b"\x81\x05Hello"))  # a page must mask
    big = websocket.frame(b"x" * 70000)
    assert big[:2] == b"\x81\x7f" and len(big) == 70000 + 10


def test_every_string_of_the_snapshot_is_masked_as_the_terminal_masks_it():
    from lomash_tasks import masking
    from lomash_tasks.dashboard.snapshot import Event, Part, ServiceRow, Snapshot

    masking.register(["s3cr3t-registered-value"])
    leaky = (
        "DATABASE_URL=postgresql://lomash_auth:hunter22@127.0.0.1:5432/lomash_auth "
        f"STRIPE_WEBHOOK_SECRET={SECRET} s3cr3t-registered-value"
    )
    snap = Snapshot(
        "/ws",
        "embedded",
        "embedded",
        time.time(),
        parts=[Part("postgres", "infra", "healthy", "127.0.0.1:5432", detail=leaky)],
        services=[
            ServiceRow(
                "auth-service",
                "auth",
                "crashed",
                "http://localhost:3001",
                9230,
                detail=leaky,
                log_tail=[leaky],
            )
        ],
        events=[Event(time.time(), "auth-service", "crashed", leaky)],
        problems=[leaky],
    )
    text = snap.to_json()
    for secret in ("hunter22", SECRET, "s3cr3t-registered-value"):
        assert secret not in text
    data = snap.as_dict()
    assert data["services"][0]["detail"] == masking.mask(leaky)  # exactly the terminal's mask
    assert data["services"][0]["log_tail"] == [masking.mask(leaky)]
