"""clean: what the suite and the services leave in the workspace that can be made again."""

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.tasks.base import task

context = lazy("lomash_tasks.context")  # loaded on first use: `inv --list` stays fast


@task(
    help={
        "dry": "List what would be removed (and what is kept), remove nothing.",
        "all": "Also each package's node_modules and the .env backups the suite made (asks first).",
        "yes": "With --all: do not ask.",
        "json": "Print what is (or would be) removed as JSON.",
    }
)
def clean(c, dry=False, all=False, yes=False, json=False):
    """Remove build output, caches and the suite's logs (never the stack's data).

    Build output and caches are what the monorepo declares: turbo.json outputs, tsconfig.json
    outDir/tsBuildInfoFile, a package's `clean` script, node_modules/.cache. The stack's data
    stays (`inv teardown --volumes` removes it); nothing is removed while the stack runs.
    """
    from lomash_tasks.setup import clean as cleaning

    ws = context.workspace(c)
    out = context.console(c)
    found = cleaning.plan(ws, everything=all)
    if json:
        out.json(
            {
                "dry": dry,
                "running": found.running,
                "remove": [
                    {"path": ws.relative(i.path), "bytes": i.bytes, "why": i.why}
                    for i in found.remove
                ],
                "keep": [{"path": ws.relative(i.path), "why": i.why} for i in found.keep],
            }
        )
    else:
        title = "clean --dry: would remove" if dry else "clean: removes"
        out.table(["path", "size", "why"], cleaning.rows(found), title=title)
        if found.keep:
            out.table(["kept", "why"], cleaning.kept_rows(found), title="clean keeps")
    if dry:
        if not json:
            out.ok(
                f"{len(found.remove)} path(s), {cleaning.human(found.bytes)} would be removed "
                f"(dry run: nothing was removed)."
            )
        return
    if not found.remove and not found.running:  # while it runs, refused either way (below)
        if not json:
            out.ok("Nothing to clean.")
        return
    if (
        all
        and not found.running
        and not out.confirm(
            f"Remove {len(found.remove)} path(s) ({cleaning.human(found.bytes)}), node_modules "
            f"included?",
            yes,
        )
    ):
        raise UserError("Not confirmed: nothing was removed (pass --yes to `inv clean --all`).")
    done = cleaning.remove(found)
    failed = [r for r in done if r.error]
    for r in failed:
        out.error(f"{ws.relative(r.item.path)}: {r.error}", title="clean")
    if failed:
        raise UserError(
            f"clean: {len(failed)} of {len(done)} path(s) could not be removed (see above)."
        )
    if not json:
        out.ok(f"{len(done)} path(s) removed ({cleaning.human(found.bytes)}).")
