"""services: run the gateway and the eight services (hot reload, inspectors), watch, log them.

Backends (`--backend`, config `service_options.backend`, else `stack.backend`): `embedded`
(each service's own `dev` script under the suite's small supervisor, state and logs under
<workspace>/.lomash/services/), `compose` (the workspace's Compose files), `auto`.
"""

from invoke import Collection

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import ServicesSettings, StackSettings
from lomash_tasks.tasks.base import task
from lomash_tasks.values import TIMEOUT_HELP, timeout_flag

context = lazy("lomash_tasks.context")
model = lazy("lomash_tasks.services.model")

BACKEND_HELP = "auto | embedded | compose (default: service_options.backend, else stack.backend)."
SERVICE_HELP = "A service, by alias or full name (repeatable); all nine when omitted."


def _backend(c, backend=None):
    from lomash_tasks import services

    ws = context.workspace(c)
    settings = context.section(c, ServicesSettings)
    return ws, settings, services.get(ws, settings, context.section(c, StackSettings), backend)


def _report(out, results, title):
    out.table(
        ["service", "state", "url", "debug", "time"],
        [[r.service, r.state, r.url, r.debug_port or "", f"{r.seconds:.2f}s"] for r in results],
        title=title,
    )
    failed = [r for r in results if r.state == model.FAILED]
    if failed:
        raise UserError(
            model.failures_text(results) + f" Fix the above, then `inv "
            f"services.restart --service {failed[0].service}`; `inv services.logs "
            f"--service {failed[0].service}` shows its whole log."
        )
    started = sum(r.state == model.STARTED for r in results)
    out.ok(
        f"{len(results)} service{'s' if len(results) != 1 else ''} healthy "
        f"({started} started, {len(results) - started} already running)."
    )


@task(
    iterable=["service"],
    help={
        "service": SERVICE_HELP,
        "backend": BACKEND_HELP,
        "timeout": "Seconds for every service to answer GET /health 200 once started "
        "(on compose, from when its container starts; default: "
        "service_options.start_timeout)." + TIMEOUT_HELP,
        "dashboard": "Then serve the dashboard (`inv dashboard`) until Ctrl-C.",
    },
)
def up(c, service=None, backend=None, timeout=None, dashboard=False):
    """Start the services (the gateway last) and return once each answers GET /health."""
    ws, settings, chosen = _backend(c, backend)
    out = context.console(c)
    results = chosen.up(
        model.service_names(service), timeout=timeout_flag(timeout, None), log=out.info
    )
    _report(out, results, f"services ({chosen.name})")
    if dashboard:
        from lomash_tasks.tasks.dashboard import dashboard as serve

        serve(c, backend=backend)


@task(iterable=["service"], help={"service": SERVICE_HELP, "backend": BACKEND_HELP})
def down(c, service=None, backend=None):
    """Stop the services (each one's whole process tree, or its container)."""
    ws, settings, chosen = _backend(c, backend)
    out = context.console(c)
    stopped = chosen.down(model.service_names(service), log=out.info)
    out.ok(f"stopped: {', '.join(stopped)}." if stopped else "no service was running.")


@task(
    iterable=["service"],
    help={
        "service": SERVICE_HELP,
        "backend": BACKEND_HELP,
        "timeout": "Seconds for each to answer GET /health 200 again (default: "
        "service_options.start_timeout)." + TIMEOUT_HELP,
    },
)
def restart(c, service=None, backend=None, timeout=None):
    """Restart the services (or start them) and wait until each answers GET /health."""
    ws, settings, chosen = _backend(c, backend)
    out = context.console(c)
    results = chosen.restart(
        model.service_names(service), timeout=timeout_flag(timeout, None), log=out.info
    )
    _report(out, results, f"services ({chosen.name})")


def _uptime(seconds):
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@task(help={"backend": BACKEND_HELP, "json": "Print JSON instead of a table."})
def status(c, backend=None, json=False):
    """Show each service: state, URL, debug port, debugger, pid, uptime, restarts, command, log."""
    ws, settings, chosen = _backend(c, backend)
    out = context.console(c)
    rows = chosen.status()
    if json:
        out.json([r.as_dict() for r in rows])
        return
    out.table(
        [
            "service",
            "state",
            "url",
            "debug",
            "debugger",
            "pid",
            "uptime",
            "restarts",
            "command",
            "log",
            "detail",
        ],
        [
            [
                r.service,
                r.state,
                r.url,
                r.debug_port or "",
                r.debugger,
                r.container or r.pid or "",
                _uptime(r.uptime),
                r.restarts,
                r.command,
                r.log,
                "; ".join(
                    filter(
                        None,
                        [
                            r.detail,
                            f"inspector: {r.inspector}" if r.debugger == "no inspector" else "",
                        ],
                    )
                ),
            ]
            for r in rows
        ],
        title=f"services ({chosen.name})",
    )


@task(
    iterable=["service"],
    help={
        "service": SERVICE_HELP,
        "backend": BACKEND_HELP,
        "follow": "Keep printing new lines (Ctrl-C stops following; the services keep running).",
        "since": "Only lines from then on: 30s, 10m, 2h, 1d or a date/time (2026-12-01T15:00).",
        "tail": "The last N lines of each service, read from the end (default: "
        "service_options.logs_tail, 100; 0 or 'all' = the whole log). --follow starts there.",
    },
)
def logs(c, service=None, follow=False, since=None, backend=None, tail=None):
    """Print the services' logs as one stream, one prefix per service."""
    from lomash_tasks.services import logs as service_logs

    ws, settings, chosen = _backend(c, backend)
    out = context.console(c)
    names = [s.name for s in ws.registry.select(model.service_names(service))]
    prefix = service_logs.prefixer(names + ["compose"], out.color)
    cutoff = model.since_cutoff(since)
    lines = model.tail_count(tail, settings.logs_tail)
    try:
        for name, line in chosen.logs(names, follow=follow, since=cutoff, tail=lines):
            out.print(prefix(name, line))
    except KeyboardInterrupt:
        pass


ns = Collection("services", up, down, restart, status, logs)
ns.configure(ServicesSettings.defaults())
