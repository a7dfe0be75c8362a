"""dashboard: the whole local stack on one live page (127.0.0.1 only; a token in its URL).

Parts and services with their state, URL, debug port, pid, uptime and restarts; each service's
migrations, Redis key count and .env check; one log stream; buttons that run the tasks
themselves (restart, migrate, Stripe replay, cache flush, db reset); the last `inv setup`.
"""

import signal

from lomash_tasks.lazy import lazy
from lomash_tasks.settings import DashboardSettings
from lomash_tasks.tasks.base import task

context = lazy("lomash_tasks.context")  # loaded on first use: `inv --list` stays fast

HELP = {
    "port": "The port on 127.0.0.1 (default: dashboard.port, 8090; 0 = any free port).",
    "open": "Open the page in the default browser.",
    "backend": "auto | embedded | compose | external: whose parts and services to show "
    "(default: service_options.backend, else stack.backend).",
}


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@task(help=HELP)
def dashboard(c, port=None, open=False, backend=None):
    """Serve the local stack on one live page until Ctrl-C (prints its URL with a token)."""
    from lomash_tasks import commands
    from lomash_tasks.dashboard.server import Dashboard
    from lomash_tasks.values import number

    ws = context.workspace(c)
    out = context.console(c)
    cfg = context.section(c, DashboardSettings)
    chosen = number(port if port is not None else cfg.port, "--port", int, 0)
    dash = Dashboard(
        ws,
        context.data(c),
        backend=backend,
        port=chosen,
        interval=cfg.interval,
        services_interval=cfg.services_interval,
        probe_interval=cfg.probe_interval,
        log_lines=cfg.log_lines,
        refresh_secrets=lambda: context.register_secrets(ws),
    )
    out.ok(f"Dashboard of {ws.root} (Ctrl-C stops it; the stack keeps running):")
    out.print_raw(f"    {dash.url}")  # printed once: the token is the page's only key
    if open and not commands.open_url(dash.url):
        out.warn("No browser could be started from here: open the URL above yourself.")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        dash.serve()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    out.ok("Dashboard stopped.")
