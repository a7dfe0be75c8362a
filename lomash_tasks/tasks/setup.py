"""setup / teardown: the root pipeline, from a fresh clone to a working stack and back."""

import contextlib
import sys

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import SetupSettings
from lomash_tasks.tasks.base import task

# Loaded on first use, so `inv --list` stays fast.
context = lazy("lomash_tasks.context")
pipeline = lazy("lomash_tasks.setup.pipeline")

STEPS_HELP = "env, stack, wait, db.init, deps, db.migrate, db.seed, aws, services"


@task(
    iterable=["skip", "only"],
    help={
        "backend": "auto | embedded | compose | external (default: config stack.backend: auto).",
        "runner": "Migration runner: auto | prisma | native (default: config db.runner).",
        "skip": f"Leave out a step (repeatable). Steps: {STEPS_HELP}.",
        "only": "Run only this step (repeatable); the others are reported as skipped.",
        "dry": "Print the plan and what each step would do now; change nothing.",
        "json": "Print the summary as JSON on stdout (progress goes to stderr).",
    },
)
def setup(c, backend=None, runner=None, skip=None, only=None, dry=False, json=False):
    """Take a fresh clone to a working local stack (idempotent: run it again any time)."""
    from lomash_tasks.console import Console
    from lomash_tasks.setup import steps as setup_steps

    config = context.data(c)  # read once: the workspace, the steps' settings
    ws = context.workspace(c, config=config)
    out = Console(out=sys.stderr) if json else context.console(c)
    steps, skipped = pipeline.choose(setup_steps.STEPS, only, skip)
    state = setup_steps.SetupState(ws, config, out, backend, runner)
    state.skipped = set(skipped)
    state.only = set(only or [])
    timeout = SetupSettings.load(config).lock_timeout
    lock = (
        contextlib.nullcontext()
        if dry
        # a dry run writes nothing, not even a lock
        else pipeline.exclusive(ws.ensure_state_dir() / "setup.lock", out, timeout, "inv setup")
    )
    with lock:
        try:
            results = pipeline.run(steps, skipped, state, out, dry=dry)
        except pipeline.Interrupted as stop:
            _report(c, ws, stop.results, json, dry, state)
            raise UserError(
                "inv setup was interrupted (Ctrl-C). The servers it started keep "
                "running; run `inv setup` again to resume.",
                code=130,
            ) from None
    _report(c, ws, results, json, dry, state)
    failed = [r for r in results if r.status == pipeline.FAILED]
    if failed:
        raise UserError(
            f"inv setup stopped at step '{failed[0].step}': {failed[0].detail}\n"
            f"Fix: {failed[0].fix}."
        )


def _report(c, ws, results, json, dry, state):
    from lomash_tasks.setup import steps as setup_steps

    if not dry:  # the dashboard shows the last run's summary
        pipeline.record(
            ws.state_dir / pipeline.SUMMARY_FILE,
            results,
            backend=state.backend,
            runner=state.runner,
            skipped=sorted(state.skipped),
        )
    setup_steps.summary(state, results, dry).render(context.console(c), json=json)


@task(
    help={
        "backend": "auto | embedded | compose | external (default: config stack.backend).",
        "volumes": "Also remove the stack's data (databases, buckets, mail); asks first.",
        "yes": "Do not ask before removing data.",
        "allow_remote": "With --volumes: allow it while infra.* points at a non-local host.",
    }
)
def teardown(c, backend=None, volumes=False, yes=False, allow_remote=False):
    """Stop the services, then the stack (the way back from setup); --volumes deletes data."""
    from lomash_tasks.connections import refuse_remote
    from lomash_tasks.tasks import services, stack

    if volumes:  # refuse or ask before anything stops, as stack.down does
        ws = context.workspace(c)
        for endpoint in ws.registry.infra:
            refuse_remote(
                endpoint.host, f"remove the stack's data (infra.{endpoint.name}.host)", allow_remote
            )
        if not context.console(c).confirm(
            "Remove the stack's data (databases, buckets, mail)?", yes
        ):
            raise UserError(
                "Not removing the stack's data without confirmation: pass --yes to "
                "`inv teardown --volumes` (nothing was stopped or deleted)."
            )
        yes = True  # asked once
    ws = context.workspace(c)
    timeout = context.section(c, SetupSettings).lock_timeout
    # never in the middle of an `inv setup` (it would fail on a vanished server): wait for it
    with pipeline.exclusive(
        ws.ensure_state_dir() / "setup.lock", context.console(c), timeout, "inv setup"
    ):
        services.down(c, backend=backend)
        stack.down(c, backend=backend, volumes=volumes, yes=yes, allow_remote=allow_remote)
