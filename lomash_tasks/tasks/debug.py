"""debug: the port map, VS Code attach configurations, and a doctor for the local setup."""

from invoke import Collection

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import DebugSettings
from lomash_tasks.tasks.base import task
from lomash_tasks.values import TIMEOUT_HELP, timeout_flag

# Loaded on first use, so `inv --list` stays fast.
context = lazy("lomash_tasks.context")
debugging = lazy("lomash_tasks.debug.launch")
_doctor = lazy("lomash_tasks.debug.doctor")


@task(help={"json": "Print JSON instead of a table."})
def ports(c, json=False):
    """Show every port of the map (services, inspectors, infra, tools) and who holds it."""
    ws = context.workspace(c)
    out = context.console(c)
    entries = debugging.port_map(ws.registry)
    if json:
        out.json([e.as_dict() for e in entries])
        return
    out.table(
        ["group", "name", "port", "listening", "held by"],
        [[e.group, e.name, e.port, "yes" if e.listening else "no", e.holder] for e in entries],
    )
    up = sum(e.listening for e in entries)
    out.ok(f"{up} of {len(entries)} ports have a listener.")


@task
def vscode(c):
    """Write or merge .vscode/launch.json with an attach configuration per service."""
    ws = context.workspace(c)
    out = context.console(c)
    result = debugging.write_launch(ws)
    rel = ws.relative(result.path)
    if result.status == "unchanged":
        out.ok(
            f"{rel}: all {2 * len(ws.registry.services)} attach configurations already there "
            f"({result.kept} of your own kept)."
        )
        return
    parts = []
    if result.added:
        parts.append(f"{len(result.added)} added")
    if result.changed:
        parts.append(f"{len(result.changed)} updated ({', '.join(result.changed)})")
    if result.kept:
        parts.append(f"{result.kept} of your own kept")
    out.ok(f"{rel} {result.status}: {', '.join(parts)}.")
    if result.backup:
        out.info(
            f"The file had comments, which a rewrite cannot keep: the original is saved "
            f"as {ws.relative(result.backup)}."
        )


@task(
    help={
        "json": "Print JSON instead of lines.",
        "timeout": "Seconds each check may take (default: debug.check_timeout)." + TIMEOUT_HELP,
        "backend": "auto | embedded | compose: which stack to check (default: config "
        "stack.backend).",
    }
)
def doctor(c, json=False, timeout=None, backend=None):
    """Check tools, env files, ports, Postgres roles, buckets and SMTP; print each fix."""
    ws = context.workspace(c)
    out = context.console(c)
    backend = context.stack_backend(c, backend)
    from lomash_tasks.settings import DbSettings

    limit = timeout_flag(timeout, context.section(c, DebugSettings).check_timeout)
    checks = _doctor.run_checks(
        ws, backend=backend, timeout=limit, runner=context.section(c, DbSettings).runner
    )
    failed = [ch for ch in checks if ch.ok is False]
    out.step_summary(
        "### debug.doctor\n\n| | check | detail | fix |\n|---|---|---|---|\n"
        + "\n".join(
            f"| {ch.mark} | {ch.name} | {ch.detail} | {ch.fix if ch.ok is False else ''} |"
            for ch in checks
        )
    )
    if json:
        out.json({"ok": not failed, "checks": [ch.as_dict() for ch in checks]})
    else:
        for ch in checks:
            out.print(ch.line())
    if failed:
        raise UserError(
            f"doctor: {len(failed)} of {len(checks)} checks failed "
            f"({', '.join(ch.name for ch in failed)})."
        )
    if not json:
        out.ok(f"doctor: all {sum(ch.ok is True for ch in checks)} checks passed.")


@task(
    help={
        "json": "Print JSON (every fact, with paths) instead of a table.",
        "service": "Only these services (alias or full name; repeatable).",
    },
    iterable=["service"],
)
def monorepo(c, json=False, service=None):
    """Show what each service's own files say: installer, Prisma, seed, disagreements."""
    ws = context.workspace(c)
    out = context.console(c)
    chosen = ws.registry.select(service)
    facts = [ws.facts(s) for s in chosen]
    if json:
        out.json([f.as_dict() for f in facts])
        return
    rows = []
    for f in facts:
        inst = f.installer
        how = f"{inst.manager}" + (
            " (workspace member)"
            if inst.member
            else f" ({inst.lockfile.name})"
            if inst.lockfile
            else " (no lockfile)"
        )
        if f.service.has_database:
            ok, why = f.prisma.runnable()
            prisma = f"{f.prisma.cli_version or 'not installed'}" + (
                "" if ok or f.prisma.cli_version is None else " (cannot run here)"
            )
            migrations = ws.relative(f.prisma.migrations)
            seed = f.seed.source.replace(f.relative + "/", "") if f.seed else "none"
        else:
            prisma = migrations = seed = "-"
        rows.append(
            [f.service.name, how, "yes" if f.installed() else "no", prisma, migrations, seed]
        )
    out.table(
        ["service", "installs with", "installed", "prisma", "migrations", "seed"],
        rows,
        title="What the monorepo's files say",
    )
    for f in facts:
        for finding in f.findings:
            (out.warn if finding.blocking else out.info)(finding.line())


ns = Collection("debug", ports, vscode, doctor, monorepo)
ns.configure(DebugSettings.defaults())
