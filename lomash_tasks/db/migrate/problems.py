"""Turning a database or Prisma CLI error into one clear line that says what to do."""

from __future__ import annotations

import re

from lomash_tasks.registry import Service

INIT_HINT = (
    "run `inv db.init` (it creates what init.sql creates and is missing, and syncs role "
    "passwords from the .env files)"
)


def classify(text: str, svc: Service, address: str) -> str | None:
    """A one-line explanation for a connection-level failure, or None when it is not one."""
    low = text.lower()
    if (
        "can't reach database server" in low
        or "connection refused" in low
        or "could not connect" in low
        or "timeout expired" in low
        or "no route to host" in low
        or "name or service not known" in low
        or "could not translate host name" in low
        or "econnrefused" in low
    ):
        return (
            f"Can't reach the database server at {address}: is the stack up? "
            f"(`inv stack.up`, then `inv db.wait`)"
        )
    if "authentication failed" in low or "password authentication failed" in low:
        return (
            f"Authentication failed for role {svc.role} at {address}: the password in "
            f"{svc.path}/.env (DATABASE_URL) does not match the server's; {INIT_HINT}"
        )
    if re.search(r"permission denied for database", low) or "not permitted to log in" in low:
        return (
            f"Role {svc.role} may not connect to database {svc.database} "
            f"(permission denied); {INIT_HINT}"
        )
    if (
        re.search(r'database "[^"]+" does not exist', low)
        or "does not exist on the database server" in low
    ):
        return f"Database {svc.database} does not exist on {address}; {INIT_HINT}"
    if re.search(r'role "[^"]+" does not exist', low):
        return f"Role {svc.role} does not exist on {address}; {INIT_HINT}"
    return None


def first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return str(text).strip()
