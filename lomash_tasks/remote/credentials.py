"""A target's database credentials: one Secrets Manager secret per service, `<prefix>/<alias>`,
holding its DATABASE_URL (a JSON object with that key, or the URL itself).

Values are kept in memory only: never written to disk, never printed. Each one is registered
with the console's masking the moment it is read, so no later line can show it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from lomash_tasks import connections, console, masking
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.remote.awscalls import calls, code_of
from lomash_tasks.remote.targets import Target

KEY = "DATABASE_URL"


def _protect(url: str, document: dict | None) -> None:
    values = [url]
    try:
        values.append(urlsplit(url).password or "")
    except ValueError:
        pass
    for key, value in (document or {}).items():
        if isinstance(value, str) and masking.is_secret_key(str(key)):
            values.append(value)
    console.get().add_mask(*values)


def database_url(target: Target, svc: Service, client=None) -> str:
    """The service's DATABASE_URL from the target's secret (masked from now on)."""
    import botocore.exceptions as bx

    name = target.secret_name(svc)
    sm = client or connections.target_client(target.aws, "secretsmanager")
    try:
        with calls(target, f"read secret {name}"):
            answer = sm.get_secret_value(SecretId=name)
    except bx.ClientError as exc:
        if code_of(exc) in (
            "ResourceNotFoundException",
            "DecryptionFailure",
            "InvalidRequestException",
        ):
            raise UserError(
                f"Target '{target.name}': the secret {name} ({target.aws.region}) does not exist "
                f"or cannot be read ({code_of(exc)}). Create it with the service's "
                f"{KEY} (`aws secretsmanager create-secret --name {name} --secret-string "
                f'\'{{"{KEY}": "postgresql://..."}}\'`), or fix targets.{target.name}.'
                f"secrets.prefix."
            ) from None
        raise
    text = answer.get("SecretString") or ""
    document = None
    url = ""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except ValueError:
            document = None
        if isinstance(document, dict):
            url = str(document.get(KEY) or "")
    elif "://" in stripped:
        url = stripped
    if url:
        _protect(url, document)
    else:
        keys = ", ".join(sorted(document)) if isinstance(document, dict) and document else "none"
        raise UserError(
            f"Target '{target.name}': the secret {name} holds no {KEY} (its keys: "
            f"{keys}). Store the service's connection URL under {KEY}."
        )
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("postgres", "postgresql") and parts.hostname
    except ValueError:
        ok = False
    if not ok:
        raise UserError(
            f"Target '{target.name}': the {KEY} in secret {name} is not a "
            f"postgresql:// URL with a host. Fix the secret's value."
        )
    return url


def database_urls(target: Target, services: Iterable[Service]) -> dict[str, str]:
    sm = connections.target_client(target.aws, "secretsmanager")
    return {svc.name: database_url(target, svc, sm) for svc in services if svc.has_database}
