"""aws: the S3 buckets, SQS queues, Secrets Manager secrets and SES sender of the local endpoint."""

from invoke import Collection

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import AwsSettings
from lomash_tasks.tasks.base import task
from lomash_tasks.values import TIMEOUT_HELP

# Loaded on first use, so `inv --list` stays fast.
aws_ops = lazy("lomash_tasks.aws")
context = lazy("lomash_tasks.context")


def _max_receive(c):
    return context.section(c, AwsSettings).max_receive_count


def _show(c, title, outcomes):
    out = context.console(c)
    rows = [[o.kind, o.name, o.status, o.detail] for o in outcomes]
    out.table(["kind", "name", "result", "detail"], rows, title=title)


@task
def buckets(c):
    """Create the S3 buckets from config (infra.aws.buckets) in the configured region."""
    _show(c, "S3 buckets", aws_ops.ensure_buckets(context.workspace(c)))


@task
def queues(c):
    """Create the SQS queues (infra.aws.queues), each with a <name>-dlq dead-letter queue."""
    ws = context.workspace(c)
    _show(c, "SQS queues", aws_ops.ensure_queues(ws, _max_receive(c)))


@task
def secrets(c):
    """Store each service's secrets from its .env in Secrets Manager (values never printed)."""
    ws = context.workspace(c)
    _show(
        c,
        "Secrets Manager",
        aws_ops.sync_secrets(ws, context.section(c, AwsSettings).secret_prefix),
    )


@task
def ses(c):
    """Verify the SES sender identity (infra.aws.sender)."""
    _show(c, "SES", aws_ops.verify_sender(context.workspace(c)))


@task(help={"json": "Print the report as JSON."})
def bootstrap(c, json=False):
    """Create buckets, queues, secrets and the SES sender in one go (idempotent)."""
    ws = context.workspace(c)
    out = context.console(c)
    report = aws_ops.bootstrap(ws, context.section(c, AwsSettings).secret_prefix, _max_receive(c))
    out.step_summary(
        f"### aws.bootstrap: {report.state}\n\n| kind | name | result |\n|---|---|---|\n"
        + "\n".join(f"| {o.kind} | {o.name} | {o.status} |" for o in report.outcomes)
    )
    if json:
        out.json(report.as_dict())
        return
    _show(c, f"AWS endpoint {ws.registry.aws.url}", report.outcomes)
    out.ok(f"aws.bootstrap: {report.state} ({report.summary}).")


@task(
    help={
        "json": "Print JSON instead of a table.",
        "target": "A target from config `targets` (e.g. staging): its secrets, ECS cluster "
        "and task definitions instead of the local endpoint (default: local).",
    }
)
def status(c, json=False, target=None):
    """Show which configured buckets, queues, secrets and sender exist on the endpoint."""
    ws = context.workspace(c)
    out = context.console(c)
    tgt = context.target(c, target, ws)
    if tgt is not None:
        from lomash_tasks.remote import ops as remote

        found = remote.aws_status(ws, tgt)
    else:
        found = aws_ops.status(ws, context.section(c, AwsSettings).secret_prefix)
    found.render(out, json=json)
    failure = None if json else found.failure()
    if failure:
        raise UserError(failure)


@task(help={"timeout": "Seconds to wait (default: aws.wait_timeout)." + TIMEOUT_HELP})
def wait(c, timeout=None):
    """Wait until the AWS endpoint answers an S3 call."""
    result = context.wait_for_part(c, "aws", timeout, context.section(c, AwsSettings).wait_timeout)
    context.console(c).ok(
        f"AWS endpoint {result.address} is ready ({result.detail}, {result.elapsed:.2f} s)."
    )


ns = Collection("aws", buckets, queues, secrets, ses, bootstrap, status, wait)
ns.configure(AwsSettings.defaults())
