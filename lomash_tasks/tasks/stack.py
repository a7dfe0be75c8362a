"""stack: bring the local infrastructure up and down (PostgreSQL, Redis, AWS endpoint, SMTP trap).

Backends (`--backend` or config `stack.backend`): `auto` (the embedded stack when its servers
already run in this workspace, else Compose when a Docker engine answers, otherwise embedded),
`embedded` (real servers the suite starts itself, state under <workspace>/.lomash/), `compose`
(the workspace's docker-compose files), `external` (servers someone else runs: checked, never
started or stopped).
"""

from invoke import Collection

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import STACK_PARTS as PARTS
from lomash_tasks.settings import StackSettings as Settings
from lomash_tasks.tasks.base import task
from lomash_tasks.values import TIMEOUT_HELP, timeout_flag

# Loaded on first use, so `inv --list` stays fast.
backends = lazy("lomash_tasks.stack")
context = lazy("lomash_tasks.context")

BACKEND_HELP = "auto | embedded | compose | external (default: config stack.backend, i.e. auto)."
PART_HELP = f"A part of the stack: {', '.join(PARTS)} (repeatable); all when omitted."


def _setup(c, backend=None):
    ws = context.workspace(c)
    settings = context.section(c, Settings)
    return ws, settings, backends.get(ws, settings, backend)


@task(
    iterable=["part"],
    help={
        "backend": BACKEND_HELP,
        "part": PART_HELP,
        "timeout": "Seconds to wait for each part to be ready (default: stack.start_timeout; "
        "compose: stack.compose_start_timeout)." + TIMEOUT_HELP,
    },
)
def up(c, backend=None, part=None, timeout=None):
    """Start the stack (or some parts) and return once every part is ready."""
    ws, settings, chosen = _setup(c, backend)
    out = context.console(c)
    parts = backends.select_parts(part)
    results = chosen.up(parts, timeout=timeout_flag(timeout, None), log=out.info)
    out.table(
        ["part", "state", "address", "time"],
        [[r.part, r.state, r.address, f"{r.elapsed:.2f}s"] for r in results],
        title=f"stack ({chosen.name})",
    )
    started = sum(r.state == backends.STARTED for r in results)
    out.ok(
        f"{len(results)} part{'s' if len(results) != 1 else ''} ready "
        f"({started} started, {len(results) - started} already running)."
    )
    if any(r.part == "aws" and r.state == backends.STARTED for r in results):
        from lomash_tasks import aws as aws_ops

        report = aws_ops.restore(ws)  # a restarted endpoint has none of its resources
        if report is not None:
            out.ok(
                f"AWS resources restored on the restarted endpoint ({report.summary}); "
                f"object data is not kept across restarts."
            )


@task(
    help={
        "backend": BACKEND_HELP,
        "volumes": "Also remove the parts' data (databases, buckets, mail); asks first.",
        "yes": "Do not ask before removing data.",
        "allow_remote": "With --volumes: allow it while infra.* points at a non-local host.",
    }
)
def down(c, backend=None, volumes=False, yes=False, allow_remote=False):
    """Stop what the suite started; with --volumes also remove its data."""
    from lomash_tasks.connections import refuse_remote

    ws, settings, chosen = _setup(c, backend)
    out = context.console(c)
    if volumes:  # the config names the servers whose data goes: never a remote one unasked
        for endpoint in ws.registry.infra:
            refuse_remote(
                endpoint.host, f"remove the stack's data (infra.{endpoint.name}.host)", allow_remote
            )
    if volumes and not out.confirm(
        f"Remove the stack's data ({chosen.name} backend: databases, buckets, mail)?", yes
    ):
        raise UserError(
            "Not removing the stack's data without confirmation: pass --yes to "
            "`inv stack.down --volumes` (nothing was stopped or deleted)."
        )
    done = chosen.down(volumes=volumes, log=out.info)
    if done:
        out.ok(f"stopped/removed: {', '.join(done)}.")
    else:
        out.ok("nothing was running.")


@task(help={"backend": BACKEND_HELP, "json": "Print JSON instead of a table."})
def status(c, backend=None, json=False):
    """Show each part: backend, address, state, version."""
    ws, settings, chosen = _setup(c, backend)
    out = context.console(c)
    rows = chosen.status()
    if json:
        out.json([r.as_dict() for r in rows])
        return
    detail = any(r.detail for r in rows)  # e.g. a server found without its pid file
    out.table(
        ["part", "backend", "address", "state", "version", "pid"] + ["detail"] * detail,
        [
            [r.part, r.backend, r.address, r.state, r.version, r.pid or ""] + [r.detail] * detail
            for r in rows
        ],
    )


@task(
    help={
        "backend": BACKEND_HELP,
        "part": f"Whose log: {', '.join(PARTS)} (every part's when omitted).",
        "follow": "Keep printing new lines (Ctrl-C to stop); needs --part.",
    }
)
def logs(c, part=None, follow=False, backend=None):
    """Print a part's server log (or every part's)."""
    ws, settings, chosen = _setup(c, backend)
    out = context.console(c)
    if follow and not part:
        raise UserError(f"--follow needs one part: add --part ({', '.join(PARTS)}).")
    names = backends.select_parts([part] if part else None)
    try:
        for name in names:
            with out.group(f"{name} ({chosen.name})"):
                for line in chosen.logs(name, follow=follow):
                    out.print(line)
    except KeyboardInterrupt:
        pass


@task(
    iterable=["part"],
    help={
        "backend": BACKEND_HELP + " Decides how the AWS endpoint is probed.",
        "part": PART_HELP,
        "timeout": "Seconds to wait in all (default: stack.wait_timeout)." + TIMEOUT_HELP,
    },
)
def wait(c, part=None, timeout=None, backend=None):
    """Wait until the parts answer real protocol checks (deadline: --timeout)."""
    from lomash_tasks.stack import probes

    ws = context.workspace(c)
    settings = context.section(c, Settings)
    out = context.console(c)
    parts = backends.select_parts(part)
    which = backends.resolve(backend, settings, ws)
    seconds = timeout_flag(timeout, settings.wait_timeout)
    results = probes.wait_all(ws, parts, seconds, backend=which)
    for r in results:
        out.ok(f"{r.part} at {r.address}: ready in {r.elapsed:.2f}s ({r.detail})")


ns = Collection("stack", up, down, status, logs, wait)
ns.configure(Settings.defaults())
