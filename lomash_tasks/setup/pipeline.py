"""An ordered, idempotent pipeline of named steps with a summary at the end.

Each step reports what it did: "done" (it changed something), "already done" (nothing to do),
or "skipped". The first failing step stops the run; later steps are shown as "not run". A lock
file in the workspace's state folder keeps two runs on one workspace from interleaving.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lomash_tasks.console import FAIL, OK, SKIP, Console
from lomash_tasks.errors import UserError, suggest

DONE, ALREADY, SKIPPED, FAILED, NOT_RUN, PLANNED = (
    "done",
    "already done",
    "skipped",
    "failed",
    "not run",
    "planned",
)


@dataclass
class Outcome:
    status: str  # DONE | ALREADY | SKIPPED
    detail: str = ""


@dataclass
class StepResult:
    step: str
    status: str
    seconds: float = 0.0
    detail: str = ""
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Step:
    name: str
    title: str  # what it does, one line (shown by --dry and in help)
    run: Callable[[Any], Outcome]
    plan: Callable[[Any], str] | None = None  # what it would do now, for --dry
    # May start in the background as soon as this earlier step has succeeded (it needs nothing
    # the steps in between do); its result is taken, and its output shown, at its own turn.
    early: str | None = None


def choose(
    steps: Sequence[Step], only: Sequence[str] | None, skip: Sequence[str] | None
) -> tuple[list[Step], set[str]]:
    """The steps to run, and the names skipped on request; unknown names list the steps."""
    names = [s.name for s in steps]
    for flag, given in (("--only", only), ("--skip", skip)):
        for name in given or []:
            if name not in names:
                raise UserError(
                    f"Unknown step '{name}' for {flag}.{suggest(name, names)} "
                    f"The steps, in order: {', '.join(names)}."
                )
    if only:
        skipped = {n for n in names if n not in only}
    else:
        skipped = set(skip or [])
    return [s for s in steps if s.name not in skipped], skipped


def run(
    steps: Sequence[Step],
    skipped: set[str],
    state: Any,
    console: Console,
    dry: bool = False,
) -> list[StepResult]:
    """Run the steps in order; stop at the first failure. Ctrl-C marks the step interrupted."""
    results: list[StepResult] = []
    order = [s.name for s in steps]
    by_name = {s.name: s for s in steps}
    all_names = list(dict.fromkeys(order + sorted(skipped)))
    failed = False
    early = _Early(steps, skipped, state, dry)
    for name in all_names:
        if name in skipped:
            results.append(StepResult(name, SKIPPED, detail="skipped on request"))
            continue
        step = by_name[name]
        if failed and name not in early.started:
            results.append(StepResult(name, NOT_RUN))
            continue
        if dry:
            detail = step.plan(state) if step.plan else step.title
            results.append(StepResult(name, PLANNED, detail=detail))
            continue
        started = time.monotonic()
        with console.group(f"{name}: {step.title}"):
            try:
                if name in early.started:  # begun beside the steps before it: its own time
                    outcome, took = early.join(name, console)
                else:
                    outcome = step.run(state)
                    took = time.monotonic() - started
                result = StepResult(name, outcome.status, took, outcome.detail)
            except KeyboardInterrupt:
                result = StepResult(
                    name,
                    FAILED,
                    time.monotonic() - started,
                    "interrupted (Ctrl-C)",
                    "run the same command again: every step resumes where it stopped",
                )
                results.append(result)
                for rest in all_names[all_names.index(name) + 1 :]:
                    results.append(StepResult(rest, SKIPPED if rest in skipped else NOT_RUN))
                raise Interrupted(results) from None
            except UserError as err:
                result = StepResult(
                    name,
                    FAILED,
                    time.monotonic() - started,
                    err.text,
                    f"fix the above, then run again (steps before it are kept); "
                    f"`inv setup --only {name}` retries just this step",
                )
                failed = True
            except Exception as err:
                result = StepResult(
                    name,
                    FAILED,
                    time.monotonic() - started,
                    f"unexpected error: {type(err).__name__}: {err}",
                    "this is a bug in the task suite: please report it with the output above",
                )
                failed = True
            if result.status == FAILED:
                console.error(result.detail, title=f"setup: {name}")
        results.append(result)
        if not failed and result.status != FAILED:
            early.after(name)
    return results


def _timed(run: Callable[[Any], Outcome], state: Any) -> tuple[Outcome, float]:
    began = time.monotonic()
    return run(state), time.monotonic() - began


class _Early:
    """Steps started in the background after the step they wait for (Step.early), each with
    a copy of the run's state whose console keeps its output until the step's turn."""

    def __init__(self, steps: Sequence[Step], skipped: set[str], state: Any, dry: bool) -> None:
        self.steps, self.skipped, self.state = steps, skipped, state
        self.enabled = not dry and hasattr(state, "fork")
        self.started: dict[str, Any] = {}
        self.pool: Any = None

    def after(self, done: str) -> None:
        if not self.enabled:
            return
        for step in self.steps:
            if (
                step.early == done
                and step.name not in self.skipped
                and step.name not in self.started
            ):
                from concurrent.futures import ThreadPoolExecutor

                self.pool = self.pool or ThreadPoolExecutor(
                    max_workers=len(self.steps), thread_name_prefix="setup-early"
                )
                twin, kept = self.state.fork()
                self.started[step.name] = (self.pool.submit(_timed, step.run, twin), kept)

    def join(self, name: str, console: Console) -> tuple[Outcome, float]:
        """The step's outcome and its own seconds (or its exception), after its kept output
        is shown."""
        future, kept = self.started[name]
        try:
            return future.result()
        finally:
            out, err = kept
            if out.getvalue():
                console.out.write(out.getvalue())
                console.out.flush()
            if err.getvalue():
                console.err.write(err.getvalue())
                console.err.flush()


class Interrupted(Exception):
    def __init__(self, results: list[StepResult]) -> None:
        super().__init__("interrupted")
        self.results = results


ICONS = {DONE: OK, ALREADY: OK, SKIPPED: SKIP, FAILED: FAIL, NOT_RUN: " ", PLANNED: "·"}


def summary_rows(results: Sequence[StepResult]) -> list[list[str]]:
    return [
        [
            f"{ICONS.get(r.status, ' ')} {r.step}",
            r.status,
            f"{r.seconds:.2f}s" if r.seconds else "",
            _first_line(r.detail),
        ]
        for r in results
    ]


def markdown(results: Sequence[StepResult], title: str, extra: str = "") -> str:
    lines = [f"### {title}", "", "| step | result | time | detail |", "|---|---|---|---|"]
    for r in results:
        detail = _first_line(r.detail).replace("|", "\\|")
        lines.append(
            f"| {r.step} | {ICONS.get(r.status, '')} {r.status} | {r.seconds:.2f}s | {detail} |"
        )
    return "\n".join(lines) + ("\n\n" + extra if extra else "")


def as_json(results: Sequence[StepResult], **extra: Any) -> str:
    return json.dumps({"steps": [r.as_dict() for r in results], **extra}, indent=2)


# -- the last run's summary, kept for the dashboard ------------------------------------------------
SUMMARY_FILE = "setup-summary.json"  # under the workspace's state folder


def record(path: Path, results: Sequence[StepResult], **extra: Any) -> None:
    """Keep this run's summary (steps, times, what failed and its fix; secrets masked as on
    the terminal), replacing the last one."""
    from lomash_tasks import masking
    from lomash_tasks.env.files import write_atomic

    failed = next((r for r in results if r.status == FAILED), None)
    kept = [
        StepResult(r.step, r.status, r.seconds, masking.mask(r.detail), masking.mask(r.fix))
        for r in results
    ]
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(
            path,
            as_json(
                kept,
                finished_at=time.time(),
                ok=failed is None,
                failed=failed.step if failed else None,
                **extra,
            ),
        )
    except (OSError, UserError):
        pass  # a summary that cannot be kept must not hide the run's own result


def last_record(path: Path) -> dict[str, Any] | None:
    """The summary `record` kept, or None when no `inv setup` has finished here yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("steps"), list) else None


def _first_line(text: str) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= 110 else line[:109] + "…"


# -- one run per workspace --------------------------------------------------------------------
@contextmanager
def exclusive(lock_path: Path, console: Console, timeout: float, what: str) -> Iterator[None]:
    """Hold an exclusive lock; wait up to `timeout` seconds for another holder, then refuse."""
    from lomash_tasks.helpers import Holder, owner_lock

    def named(holder: Holder | None) -> str:
        return f" ({holder})" if holder is not None else ""

    def waiting(holder: Holder | None) -> None:
        console.print(
            f"Another {what} is running on this workspace{named(holder)}: waiting up to "
            f"{timeout:.0f}s for it to finish..."
        )

    def busy(holder: Holder | None) -> str:
        return (
            f"Another {what} is still running on this workspace{named(holder)} after "
            f"{timeout:.0f}s. Wait for it to finish (or stop it), then run again. "
            f"Lock file: {lock_path}."
        )

    with owner_lock(lock_path, timeout=timeout, on_wait=waiting, busy=busy):
        yield
