"""The AWS endpoint's resources (LocalStack or the embedded moto): buckets, queues, secrets, SES.

Every step is idempotent and returns `Outcome`s saying what it did (created / updated) or found
(exists / unchanged); `bootstrap` runs them all and returns one `AwsReport`. Every client comes
from `connections.aws_client` (the one choke point). Secret values are never printed: outcomes
carry names and key names only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from lomash_tasks import connections, masking
from lomash_tasks.console import Report
from lomash_tasks.env import files as envfiles
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.stack import ports
from lomash_tasks.workspace import Workspace

DLQ_SUFFIX = "-dlq"
MAX_RECEIVE_COUNT = 5
SECRET_PREFIX = "lomash/dev"
CHANGED = ("created", "updated")
NOT_SECRET_SUFFIXES = ("_PREFIX", "_PATH")  # e.g. SECRETS_MANAGER_PREFIX: names, not secrets


@dataclass(frozen=True)
class Outcome:
    kind: str  # bucket | queue | secret | ses
    name: str
    status: str  # created | updated | exists | unchanged | skipped
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.status in CHANGED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AwsReport:
    """What `bootstrap` did, step by step (buckets, queues, secrets, ses)."""

    steps: dict[str, list[Outcome]] = field(default_factory=dict)

    @property
    def outcomes(self) -> list[Outcome]:
        return [o for step in self.steps.values() for o in step]

    @property
    def changed(self) -> bool:
        return any(o.changed for o in self.outcomes)

    @property
    def state(self) -> str:
        """ "done" when anything was created or updated, "already done" otherwise."""
        return "done" if self.changed else "already done"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out

    @property
    def summary(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in self.counts().items()) or "nothing to do"

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "counts": self.counts(),
            "steps": {k: [o.as_dict() for o in v] for k, v in self.steps.items()},
        }


# -- errors -------------------------------------------------------------------------------------
# -- aws.status --------------------------------------------------------------------------------
@dataclass
class Present:
    """A declared bucket (or the SES sender), and whether the endpoint has it."""

    name: str
    exists: bool

    @property
    def detail(self) -> str:
        return ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def gaps(self, label: str) -> list[str]:
        """What is missing of it (`bucket lomash-dev-media`), for the gate."""
        return [] if self.exists else [f"{label} {self.name}"]


@dataclass
class QueuePresent(Present):
    """A declared queue: it, its dead-letter queue, its redrive policy's maxReceiveCount."""

    dlq: bool = False
    max_receive_count: int | None = None

    @property
    def detail(self) -> str:
        if not self.exists:
            return ""
        return (
            f"dlq {'present' if self.dlq else 'MISSING'}, maxReceiveCount {self.max_receive_count}"
        )

    def gaps(self, label: str) -> list[str]:
        if not self.exists:
            return [f"{label} {self.name}"]
        return [] if self.dlq else [f"dead-letter queue of {self.name}"]


@dataclass
class SecretPresent:
    """A service's secret; `skipped` says why there is nothing to store yet (no .env)."""

    name: str
    service: str
    exists: bool
    skipped: str | None = None

    @property
    def detail(self) -> str:
        return self.service

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.skipped is None:
            data.pop("skipped")
        return data

    def gaps(self, label: str) -> list[str]:
        return [] if self.exists or self.skipped else [f"{label} {self.name}"]


LABELS = {"buckets": "bucket", "queues": "queue", "secrets": "secret", "ses": "SES sender"}


@dataclass
class AwsStatus(Report):
    """`aws.status` on the local endpoint: what exists of each declared resource."""

    endpoint: str  # its URL
    buckets: list[Present] = field(default_factory=list)
    queues: list[QueuePresent] = field(default_factory=list)
    secrets: list[SecretPresent] = field(default_factory=list)
    ses: list[Present] = field(default_factory=list)

    columns = ("kind", "name", "exists", "detail")

    def kinds(self) -> dict[str, list[Any]]:
        return {
            "buckets": self.buckets,
            "queues": self.queues,
            "secrets": self.secrets,
            "ses": self.ses,
        }

    def heading(self) -> str:
        return self.endpoint

    def rows(self) -> list[list[Any]]:
        return [
            [kind, i.name, "yes" if i.exists else "no", i.detail]
            for kind, items in self.kinds().items()
            for i in items
        ]

    def data(self) -> dict[str, list[dict[str, Any]]]:
        return {kind: [i.as_dict() for i in items] for kind, items in self.kinds().items()}

    def missing(self) -> list[str]:
        """`kind name` of every declared resource not found (a queue without its DLQ counts)."""
        return [
            gap
            for kind, items in self.kinds().items()
            for i in items
            for gap in i.gaps(LABELS[kind])
        ]

    def failure(self) -> str | None:
        gone = self.missing()
        if not gone:
            return None
        return (
            f"aws.status: {len(gone)} declared resource(s) missing on "
            f"{self.endpoint}: {', '.join(gone)}. Run `inv aws.bootstrap` "
            f"(or `inv setup`) to create them."
        )


class _Calls:
    """Turns an unreachable or refusing endpoint into one UserError naming it."""

    def __init__(self, ws: Workspace, what: str) -> None:
        self.ws, self.what = ws, what

    def __enter__(self) -> _Calls:
        aws = self.ws.registry.aws
        if not ports.answers(aws.host, aws.port, timeout=1.0):
            raise UserError(
                f"Cannot reach the AWS endpoint at {aws.url} to {self.what}: nothing "
                f"listens on {aws.address}. Start the stack (`inv stack.up`) and "
                f"check it with `inv aws.wait`."
            )
        return self

    def __exit__(self, kind, exc, tb) -> Literal[False]:
        if exc is None or isinstance(exc, UserError):
            return False
        import botocore.exceptions as bce

        url = self.ws.registry.aws.url
        if isinstance(
            exc,
            (
                bce.EndpointConnectionError,
                bce.ConnectTimeoutError,
                bce.ReadTimeoutError,
                ConnectionError,
            ),
        ):
            raise UserError(
                f"Cannot reach the AWS endpoint at {url} to {self.what}: {exc}. "
                f"Start the stack (`inv stack.up`) and check it with "
                f"`inv aws.wait`."
            ) from None
        if isinstance(exc, (bce.ClientError, bce.BotoCoreError)):
            raise UserError(f"The AWS endpoint at {url} refused to {self.what}: {exc}") from None
        return False


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def secret_exists(sm: Any, name: str) -> bool:
    """Whether Secrets Manager (a boto3 client) holds a secret of that name."""
    import botocore.exceptions as bce

    try:
        sm.describe_secret(SecretId=name)
        return True
    except bce.ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        return False


# -- S3 -----------------------------------------------------------------------------------------
def ensure_buckets(ws: Workspace) -> list[Outcome]:
    """Create the configured buckets in the registry's region (path-style); existing ones stay."""
    import botocore.exceptions as bce

    aws = ws.registry.aws
    out = []
    with _Calls(ws, "create the S3 buckets"):
        s3 = connections.aws_client(ws, "s3")
        have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for name in aws.buckets:
            if name in have:
                out.append(Outcome("bucket", name, "exists"))
                continue
            kwargs: dict[str, Any] = {"Bucket": name}
            if aws.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": aws.region}
            try:
                s3.create_bucket(**kwargs)
                out.append(Outcome("bucket", name, "created", aws.region))
            except bce.ClientError as exc:
                if _code(exc) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    out.append(Outcome("bucket", name, "exists"))
                else:
                    raise
    return out


def missing_buckets(ws: Workspace, timeout: float = 10.0) -> list[str]:
    s3 = connections.aws_client(ws, "s3", timeout=timeout)
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    return [b for b in ws.registry.aws.buckets if b not in have]


# -- SQS ----------------------------------------------------------------------------------------
def _queue_url(sqs: Any, name: str) -> str | None:
    import botocore.exceptions as bce

    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except bce.ClientError as exc:
        if "NonExistentQueue" in _code(exc) or _code(exc) == "QueueDoesNotExist":
            return None
        raise


def ensure_queues(ws: Workspace, max_receive_count: int = MAX_RECEIVE_COUNT) -> list[Outcome]:
    """Each configured queue with its dead-letter queue `<name>-dlq` (RedrivePolicy)."""
    out = []
    with _Calls(ws, "create the SQS queues"):
        sqs = connections.aws_client(ws, "sqs")
        for name in ws.registry.aws.queues:
            dlq_name = name + DLQ_SUFFIX
            dlq_url = _queue_url(sqs, dlq_name)
            if dlq_url is None:
                dlq_url = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
                out.append(Outcome("queue", dlq_name, "created", "dead-letter queue"))
            else:
                out.append(Outcome("queue", dlq_name, "exists", "dead-letter queue"))
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            detail = f"dead letters after {max_receive_count} receives -> {dlq_name}"
            url = _queue_url(sqs, name)
            if url is None:
                sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(policy)})
                out.append(Outcome("queue", name, "created", detail))
                continue
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
            current = _redrive(attrs.get("Attributes", {}).get("RedrivePolicy"))
            if current == policy:
                out.append(Outcome("queue", name, "exists", detail))
            else:
                sqs.set_queue_attributes(
                    QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)}
                )
                out.append(Outcome("queue", name, "updated", detail))
    return out


def _redrive(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return {
            "deadLetterTargetArn": data.get("deadLetterTargetArn"),
            "maxReceiveCount": int(data.get("maxReceiveCount")),
        }
    except (ValueError, TypeError):
        return None


# -- Secrets Manager ----------------------------------------------------------------------------
def secret_name(
    ws: Workspace, svc: Service, values: dict[str, str], prefix: str = SECRET_PREFIX
) -> str:
    """The service's secret: its own SECRETS_MANAGER_PREFIX, else `<prefix>/<alias>`."""
    return values.get("SECRETS_MANAGER_PREFIX") or f"{prefix.rstrip('/')}/{svc.alias}"


def secret_values(values: dict[str, str]) -> dict[str, str]:
    """The keys that look secret (masking rules), plus URLs that carry a password."""
    out = {}
    for key, value in values.items():
        if not value or key.endswith(NOT_SECRET_SUFFIXES):
            continue
        if masking.is_secret_key(key) or _url_has_password(value):
            out[key] = value
    return out


def _url_has_password(value: str) -> bool:
    if "://" not in value:
        return False
    try:
        return bool(urlsplit(value).password)
    except ValueError:
        return False


def _service_envs(ws: Workspace) -> Iterator[tuple[Service, dict[str, str] | None]]:
    for svc in ws.registry.services:
        pair = ws.env_pair(svc)
        yield svc, (envfiles.read_env(pair.env).as_dict() if pair.env.is_file() else None)


def sync_secrets(ws: Workspace, prefix: str = SECRET_PREFIX) -> list[Outcome]:
    """Each service's secrets (from its `.env`) as one JSON secret; changed ones updated."""
    import botocore.exceptions as bce

    out = []
    envs = list(_service_envs(ws))  # read (and parse-check) every file before any call
    with _Calls(ws, "store the services' secrets"):
        sm = connections.aws_client(ws, "secretsmanager")
        for svc, values in envs:
            if values is None:
                out.append(
                    Outcome(
                        "secret",
                        svc.name,
                        "skipped",
                        f"no {ws.relative(ws.env_pair(svc).env)}: run `inv env.copy`",
                    )
                )
                continue
            name = secret_name(ws, svc, values, prefix)
            wanted = secret_values(values)
            keys = f"{svc.name}: {len(wanted)} keys"
            try:
                current = sm.get_secret_value(SecretId=name).get("SecretString")
            except bce.ClientError as exc:
                if _code(exc) != "ResourceNotFoundException":
                    raise
                sm.create_secret(
                    Name=name,
                    SecretString=json.dumps(wanted, sort_keys=True),
                    Description=f"{svc.name} local development secrets (from its .env)",
                )
                out.append(Outcome("secret", name, "created", keys))
                continue
            if _loads(current) == wanted:
                out.append(Outcome("secret", name, "unchanged", keys))
            else:
                sm.put_secret_value(SecretId=name, SecretString=json.dumps(wanted, sort_keys=True))
                out.append(Outcome("secret", name, "updated", keys))
    return out


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return None


# -- SES ----------------------------------------------------------------------------------------
def verify_sender(ws: Workspace) -> list[Outcome]:
    sender = ws.registry.aws.sender
    if not sender:
        return [Outcome("ses", "(no sender)", "skipped", "infra.aws.sender is not set")]
    with _Calls(ws, "verify the SES sender"):
        ses = connections.aws_client(ws, "ses")
        have = ses.list_identities(IdentityType="EmailAddress").get("Identities", [])
        if sender in have:
            return [Outcome("ses", sender, "exists", "sender identity")]
        ses.verify_email_identity(EmailAddress=sender)
    return [Outcome("ses", sender, "created", "sender identity verified")]


# -- all of it ----------------------------------------------------------------------------------
def bootstrap(
    ws: Workspace, prefix: str = SECRET_PREFIX, max_receive_count: int = MAX_RECEIVE_COUNT
) -> AwsReport:
    """Buckets, queues, secrets and the SES sender: the whole AWS side, idempotent."""
    report = AwsReport()
    report.steps["buckets"] = ensure_buckets(ws)
    report.steps["queues"] = ensure_queues(ws, max_receive_count)
    report.steps["secrets"] = sync_secrets(ws, prefix)
    report.steps["ses"] = verify_sender(ws)
    _remember(ws, prefix, max_receive_count)
    return report


# The embedded endpoint keeps nothing across a restart (as LocalStack without persistence): the
# suite remembers that this workspace was bootstrapped, and `stack.up` restores the declared
# resources (not object data) when it starts the endpoint again.
DECLARED_FILE = "aws-bootstrap.json"


def _remember(ws: Workspace, prefix: str, max_receive_count: int) -> None:
    import json

    from lomash_tasks.env.files import write_atomic

    path = ws.ensure_state_dir() / DECLARED_FILE
    text = json.dumps({"prefix": prefix, "max_receive_count": max_receive_count}) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text, mode=0o600)


def restore(ws: Workspace) -> AwsReport | None:
    """Bootstrap again as last time (after the endpoint restarted); None if it never was."""
    import json

    path = ws.state_dir / DECLARED_FILE
    try:
        remembered = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return bootstrap(
        ws,
        str(remembered.get("prefix") or SECRET_PREFIX),
        int(remembered.get("max_receive_count") or MAX_RECEIVE_COUNT),
    )


def status(ws: Workspace, prefix: str = SECRET_PREFIX) -> AwsStatus:
    """What exists on the endpoint for each configured bucket, queue, secret and the sender."""
    aws = ws.registry.aws
    with _Calls(ws, "read the AWS resources"):
        s3 = connections.aws_client(ws, "s3")
        have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        buckets = [Present(b, b in have) for b in aws.buckets]
        sqs = connections.aws_client(ws, "sqs")
        queues = []
        for name in aws.queues:
            url = _queue_url(sqs, name)
            dlq = _queue_url(sqs, name + DLQ_SUFFIX)
            policy = None
            if url:
                attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
                policy = _redrive(attrs.get("Attributes", {}).get("RedrivePolicy"))
            queues.append(
                QueuePresent(
                    name,
                    url is not None,
                    dlq is not None,
                    policy["maxReceiveCount"] if policy else None,
                )
            )
        sm = connections.aws_client(ws, "secretsmanager")
        secrets = []
        for svc, values in _service_envs(ws):
            name = secret_name(ws, svc, values or {}, prefix)
            secrets.append(
                SecretPresent(
                    name,
                    svc.name,
                    secret_exists(sm, name),
                    # nothing to store until the service has its .env
                    None if values is not None else f"no {ws.relative(ws.env_pair(svc).env)}",
                )
            )
        ses = connections.aws_client(ws, "ses")
        identities = ses.list_identities(IdentityType="EmailAddress").get("Identities", [])
        senders = [Present(aws.sender, aws.sender in identities)] if aws.sender else []
    return AwsStatus(aws.url, buckets, queues, secrets, senders)
