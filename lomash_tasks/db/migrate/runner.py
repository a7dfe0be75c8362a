"""What every migration runner shares: the per-service result, the parallel driver, the summary.

A runner is a function `(ws, service, options) -> MigrateResult`. `run_all` calls it for each
service, `jobs` at a time, in threads (the work is I/O: a database round trip, or a Node process
for the Prisma CLI), updates a live progress display, and never lets one service's failure hide
another's result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from lomash_tasks.console import FAIL, OK, SKIP, Console
from lomash_tasks.registry import Service

# Default parallelism per runner, chosen with bench/migrate_bench.py (2 CPUs, busy machine,
# fresh databases, median of 3): the Prisma runner took 38.3 s at 1 job, 28.1 s at 2, 16.4 s at 4
# and 15.0 s at 8 (each Prisma CLI is a Node process of ~190 MB and ~1-3 CPU-seconds: the CPU is
# the limit, and all eight at once used it best); the native runner 0.65 s at 1, 0.46 s at 4 and
# 0.46 s at 8 (a few round trips per service). Both default to every service at once.
DEFAULT_JOBS = {"prisma": 8, "native": 8}


class ServiceResult:
    """What a per-service db result shares (MigrateResult, SeedResult): ok, and its status
    for a summary."""

    error: str | None
    skipped: str | None

    @property
    def changed(self) -> bool:
        raise NotImplementedError

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        """'done', 'already done', 'skipped' or 'failed' (for a setup pipeline's summary)."""
        if self.error is not None:
            return "failed"
        if self.skipped is not None:
            return "skipped"
        return "done" if self.changed else "already done"


@dataclass
class MigrateResult(ServiceResult):
    """One service's outcome: what was applied now, what already was, and any error."""

    service: str
    runner: str = "-"
    applied: list[str] = field(default_factory=list)
    already: int = 0
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None  # the reason, when the service was not migrated at all
    note: str | None = None  # why this runner (`--runner auto`), for the summary

    @property
    def changed(self) -> bool:
        return bool(self.applied)

    @property
    def result_text(self) -> str:
        if self.error is not None:
            return f"{FAIL} {self.error}"
        if self.skipped is not None:
            return f"{SKIP} {self.skipped}"
        if self.applied:
            return f"{OK} applied {', '.join(self.applied)}"
        return f"{OK} up to date"


@dataclass
class MigrateReport:
    results: list[MigrateResult]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[MigrateResult]:
        return [r for r in self.results if not r.ok]

    @property
    def applied_count(self) -> int:
        return sum(len(r.applied) for r in self.results)

    @property
    def status(self) -> str:
        if not self.ok:
            return "failed"
        return "done" if self.applied_count else "already done"

    def rows(self) -> list[list[str]]:
        return [
            [
                r.service,
                r.runner,
                str(len(r.applied)),
                str(r.already),
                f"{r.seconds:.2f}s",
                r.result_text,
            ]
            for r in self.results
        ]

    COLUMNS = ("service", "runner", "applied", "already applied", "time", "result")

    def print(self, out: Console, title: str = "db.migrate") -> None:
        for r in self.results:
            for warning in r.warnings:
                out.warn(f"{r.service}: {warning}")
        out.table(list(self.COLUMNS), self.rows(), title=title)
        for note, names in self.notes().items():
            out.info(f"{', '.join(names)}: {note}")
        for r in self.failed:
            out.error(r.error or "", title=r.service)
        out.step_summary(self.markdown(title))

    def notes(self) -> dict[str, list[str]]:
        """Why each runner was chosen, with the services it applies to (one line per reason)."""
        grouped: dict[str, list[str]] = {}
        for r in self.results:
            if r.note:
                grouped.setdefault(r.note, []).append(r.service)
        return grouped

    def markdown(self, title: str) -> str:
        lines = [
            f"### {title}",
            "",
            "| " + " | ".join(self.COLUMNS) + " |",
            "|" + "---|" * len(self.COLUMNS),
        ]
        for row in self.rows():
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        return "\n".join(lines)


Runner = Callable[[Service], MigrateResult]

# Set while a run is being interrupted (Ctrl-C, SIGTERM): runners stop at once and report
# "interrupted" instead of treating what they see as an error of the migration.
STOP = threading.Event()
_cancellers: set[Callable[[], None]] = set()
_cancellers_lock = threading.Lock()


@contextmanager
def cancellable(cancel: Callable[[], None]) -> Iterator[None]:
    """While inside, an interruption calls `cancel` (e.g. a connection's cancel())."""
    with _cancellers_lock:
        _cancellers.add(cancel)
    try:
        yield
    finally:
        with _cancellers_lock:
            _cancellers.discard(cancel)


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM, with what each service got to (its report)."""

    def __init__(self, report: MigrateReport) -> None:
        super().__init__("interrupted")
        self.report = report


def _interrupt() -> None:
    from lomash_tasks import commands

    STOP.set()
    with _cancellers_lock:
        cancels = list(_cancellers)
    for cancel in cancels:
        try:
            cancel()
        except Exception:
            pass
    commands.interrupt_all()


def run_all(
    services: Sequence[Service],
    run: Runner,
    jobs: int,
    out: Console | None = None,
    title: str = "Migrating",
) -> MigrateReport:
    """Run `run(service)` for every service, `jobs` at a time, with live progress.

    Ctrl-C (or SIGTERM) stops the programs and statements in progress at once (see
    `sessions`), waits for the runners to record what they got to, and raises `Interrupted`
    carrying that report."""
    start = time.monotonic()
    names = [s.name for s in services]
    results: dict[str, MigrateResult] = {}

    def one(svc: Service, progress) -> MigrateResult:
        if progress is not None:
            progress.update(svc.name, "running")
        began = time.monotonic()
        try:
            result = run(svc)
        except Exception as exc:  # one service's surprise must not hide the others' results
            result = MigrateResult(svc.name, error=f"{type(exc).__name__}: {exc}".strip())
        if not result.seconds:
            result.seconds = time.monotonic() - began
        if progress is not None:
            progress.update(svc.name, result.result_text, final=True)
        return result

    jobs = max(1, min(int(jobs or 1), len(services) or 1))
    progress_cm = out.progress(names, title) if out is not None else None
    STOP.clear()
    with progress_cm or nullcontext() as progress:
        pool = ThreadPoolExecutor(max_workers=jobs)
        futures = {svc.name: pool.submit(one, svc, progress) for svc in services}
        try:
            for name, future in futures.items():
                results[name] = future.result()
        except KeyboardInterrupt:
            _interrupt()
            pool.shutdown(wait=True, cancel_futures=True)
            for name, future in futures.items():
                if future.cancelled():
                    results[name] = MigrateResult(name, error="interrupted before it started")
                elif name not in results:
                    results[name] = future.result()
            STOP.clear()
            raise Interrupted(
                MigrateReport([results[n] for n in names], time.monotonic() - start)
            ) from None
        finally:
            pool.shutdown(wait=False)
    return MigrateReport([results[n] for n in names], time.monotonic() - start)
