"""The external backend: infrastructure the suite does not start and must never stop.

GitHub Actions `services:` containers, a developer's Homebrew or system PostgreSQL, a shared
dev box: the parts are wherever `infra.<part>` says. `up` only checks and waits (real protocol
checks with a deadline; for PostgreSQL the server answering is enough, since `db.init` then
creates what init.sql creates, with the superuser credentials given: `infra.postgres.superuser`
and the root .env's POSTGRES_PASSWORD). `down` refuses, and so do `logs`: the servers are
someone else's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from lomash_tasks.errors import UserError
from lomash_tasks.stack.base import (
    ALREADY_RUNNING,
    RUNNING,
    STOPPED,
    Backend,
    PartResult,
    PartStatus,
    endpoint,
    select_parts,
)

WHOSE = (
    "the external backend (stack.backend=external) acts on servers the suite did not start "
    "(CI service containers, a system PostgreSQL)"
)


class ExternalBackend(Backend):
    name = "external"

    def up(
        self, parts: Iterable[str] | None = None, timeout: float | None = None, log: Any = None
    ) -> list[PartResult]:
        from lomash_tasks.stack import probes

        chosen = select_parts(parts)
        limit = float(timeout or self.settings.start_timeout)
        results = []
        for part in chosen:
            began = time.monotonic()
            try:
                found = probes.wait_for(self.ws, part, limit, backend=self.name)
            except UserError as exc:
                raise UserError(
                    f"{exc.text} Nothing was started: {WHOSE}; start {part} where it "
                    f"runs, or point infra.{part} at it (INVOKE_INFRA_"
                    f"{part.upper()}_HOST / _PORT)."
                ) from None
            results.append(
                PartResult(
                    part,
                    ALREADY_RUNNING,
                    found.address,
                    time.monotonic() - began,
                    self.name,
                    [found.detail],
                )
            )
            if log:
                log(f"{part}: {found.detail} at {found.address} (external)")
        return results

    def down(self, volumes: bool = False, log: Any = None) -> list[str]:
        what = "stop them or remove their data" if volumes else "stop them"
        raise UserError(
            f"stack.down refused: {WHOSE}, and it never {what.replace('stop', 'stops', 1)}"
            f". Stop them where they run (a CI job ends its service containers "
            f"itself). Nothing was stopped."
        )

    def status(self) -> list[PartStatus]:
        from lomash_tasks.stack import probes

        rows = []
        for part in select_parts(None):
            found = probes.check(self.ws, part, backend=self.name)
            rows.append(
                PartStatus(
                    part,
                    self.name,
                    endpoint(self.ws, part).address,
                    RUNNING if found.ready else STOPPED,
                    found.detail if found.ready else "",
                    detail="" if found.ready else found.detail,
                )
            )
        return rows

    def logs(self, part: str, follow: bool = False) -> Iterator[str]:
        raise UserError(
            f"No logs here: {WHOSE}. Read {part}'s log where it runs (in GitHub "
            f"Actions: the job's 'Initialize containers' step and `docker logs`)."
        )
