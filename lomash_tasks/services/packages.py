"""The services' package managers: the program that runs a service's scripts and installs its
Node dependencies, and those installs (setup's `deps` step).

    manager_argv(installer)        the package manager as an argv prefix, with a note: the pnpm
                                   of the version `packageManager` names (the suite's tools/
                                   pnpm when it is that version, else through corepack), npm,
                                   yarn (through corepack when `packageManager` names it)
    install_plan(ws, services)     one Install per folder: the pnpm workspace's root once for
                                   all its members, every other service in its own folder with
                                   its own manager and lockfile; or why one cannot be installed
    install(ws, plan, ...)         side by side, with progress; a failure named per service with
                                   its log's tail (an out-of-date lockfile with the command that
                                   updates it); afterwards every service checked installed;
                                   each install's last outcome kept in .lomash/deps/last.json
    missing_installs(ws, services) one line per service that is not installed: the install that
                                   gives it its dependencies, or why its last one failed

What a service is (member of the pnpm workspace or its own project, which lockfile) comes from
the monorepo's files (`ws.facts(svc).installer`, lomash_tasks.monorepo).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lomash_tasks import commands
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

TAIL = 15
INSTALL_ENV = {
    "CI": "true",  # nothing asks a question
    "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",  # corepack fetches the pinned version
    "npm_config_audit": "false",
    "npm_config_fund": "false",
    "npm_config_update_notifier": "false",
}

# What a frozen install says when the lockfile does not match package.json, and what updates it.
OUTDATED = {
    "npm": (
        re.compile(
            r"can only install packages when your package\.json and "
            r"(package-lock\.json|npm-shrinkwrap\.json)[^\n]*in sync|"
            r"Missing: .+ from lock file|Invalid: lock file's",
            re.I,
        ),
        "npm install",
    ),
    "pnpm": (
        re.compile(r"ERR_PNPM_OUTDATED_LOCKFILE|lockfile[^\n]*not up to date", re.I),
        "pnpm install --no-frozen-lockfile",
    ),
    "yarn": (
        re.compile(
            r"lockfile needs to be updated|YN0028|lockfile would have been "
            r"modified",
            re.I,
        ),
        "yarn install",
    ),
}
UNREACHABLE = re.compile(
    r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ERR_PNPM_FETCH|"
    r"ERR_SOCKET_TIMEOUT|network request to .* failed",
    re.I,
)


# -- the package manager -----------------------------------------------------------------------
def _package_version(executable: str) -> str | None:
    """The version of the npm package an executable (a node_modules/.bin link) belongs to."""
    path = Path(os.path.realpath(executable))
    for parent in path.parents:
        manifest = parent / "package.json"
        if manifest.is_file():
            try:
                return (
                    str(json.loads(manifest.read_text(encoding="utf-8")).get("version") or "")
                    or None
                )
            except (OSError, ValueError):
                return None
        if parent.name == "node_modules":
            return None
    return None


def manager_argv(installer: Any) -> tuple[list[str], str]:
    """(argv prefix, note) of the package manager that installs and runs a service."""
    manager, wanted = installer.manager, installer.version
    corepack = commands.which("corepack")
    if manager == "pnpm":
        pnpm = commands.pnpm_path()
        have = _package_version(pnpm) if pnpm else None
        if pnpm and (not wanted or have == wanted):
            return [pnpm], ""
        if wanted and corepack:
            return [corepack, f"pnpm@{wanted}"], ""
        if pnpm:
            return [pnpm], (
                f"packageManager names pnpm {wanted}, and this machine has pnpm "
                f"{have or '?'} without corepack to fetch it"
            )
        raise UserError(
            "pnpm was not found: `corepack enable` (Node's own) or `npm i -g pnpm` "
            "installs it (`make install` puts the suite's in tools/)."
        )
    if manager == "yarn":
        if wanted and corepack:
            return [corepack, f"yarn@{wanted}"], ""
        yarn = commands.which("yarn")
        if yarn:
            return [yarn], ""
        if corepack:
            return [corepack, "yarn"], ""
        raise UserError("yarn was not found: `corepack enable` (Node's own) installs it.")
    if manager == "npm":
        npm = commands.which("npm")
        if npm is None:
            raise UserError("npm was not found: install Node 20 (npm comes with it).")
        return [npm], ""
    raise UserError(f"The suite cannot drive {manager} (it knows pnpm, npm and yarn).")


def display(argv: list[str]) -> str:
    """`npm ci`, `corepack pnpm@9.1.4 install ...`: the program by its name."""
    return commands.display(argv)


# -- installs ------------------------------------------------------------------------------------
@dataclass
class Install:
    """One install: where it runs, with what, for which services (or why it cannot run)."""

    label: str  # "pnpm workspace" or the service's name
    folder: Path
    manager: str
    argv: list[str]
    services: list[str]
    lockfile: Path | None
    notes: list[str] = field(default_factory=list)
    problem: str = ""  # it cannot run: why, and what to do

    @property
    def command(self) -> str:
        return display(self.argv)


@dataclass
class InstallResult:
    install: Install
    ok: bool
    seconds: float = 0.0
    cause: str = ""  # a failure in one line
    detail: str = ""  # the failure with the log's tail
    log: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "install": self.install.label,
            "folder": str(self.install.folder),
            "command": self.install.command,
            "services": self.install.services,
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "cause": self.cause,
            "log": str(self.log) if self.log else None,
        }


def _blocking(ws: Workspace, svc: Service) -> str:
    """Why the monorepo's files keep the service from installing ('' when nothing does)."""
    facts = ws.facts(svc)
    if facts.installer.problem:
        return facts.installer.problem
    for finding in facts.findings:
        if finding.blocking and (
            finding.key in ("dependencies", "lockfiles")
            or (
                not finding.key
                and finding.file in (facts.relative, f"{facts.relative}/package.json")
            )
        ):
            return finding.line()
    return ""


def install_plan(ws: Workspace, services: Iterable[Service]) -> list[Install]:
    """The installs that give `services` their Node dependencies (see the module's docstring)."""
    plan: dict[Path, Install] = {}
    for svc in services:
        facts = ws.facts(svc)
        inst = facts.installer
        why = _blocking(ws, svc)
        if why:  # its own failure, never hidden in (or blamed on) the workspace's install
            plan[facts.folder.resolve()] = Install(
                svc.name, facts.folder, inst.manager, [], [svc.name], inst.lockfile, problem=why
            )
            continue
        key = inst.folder.resolve() if inst.member else facts.folder.resolve()
        if key in plan:
            plan[key].services.append(svc.name)
            continue
        label = "pnpm workspace" if inst.member else svc.name
        try:
            prefix, note = manager_argv(inst)
        except UserError as err:
            plan[key] = Install(
                label, inst.folder, inst.manager, [], [svc.name], inst.lockfile, problem=err.text
            )
            continue
        argv = [*prefix, *inst.frozen_command]
        if inst.manager == "pnpm":
            # a node_modules made by another store is replaced, not skipped without a word
            argv += ["--reporter=append-only", "--config.confirmModulesPurge=false"]
        notes = [note] if note else []
        if inst.conflicts and not inst.member:
            notes.append(
                f"{', '.join(p.name for p in inst.conflicts)} ignored: "
                f"{inst.declared_by} says {inst.manager}"
            )
        plan[key] = Install(
            label, inst.folder, inst.manager, argv, [svc.name], inst.lockfile, notes
        )
    return list(plan.values())


def _classify(inst: Install, output: str, ws: Workspace) -> str:
    """One line: why the install failed, and what to do."""
    where = ws.relative(inst.folder) or "."
    lock = inst.lockfile.name if inst.lockfile else "the lockfile"
    pattern, fix = OUTDATED.get(inst.manager, (None, ""))
    if pattern is not None and pattern.search(output):
        return (
            f"{where}/{lock} is out of date with its package.json (`{inst.command}` "
            f"installs exactly what the lockfile says and refuses to change it): run "
            f"`{fix}` in {where} to update it, commit it, then run this again"
        )
    if inst.manager == "npm" and "ERESOLVE" in output:
        wants = re.search(r"Could not resolve dependency:\s*\n(?:npm (?:error|ERR!) )?(.+)", output)
        what = wants.group(1).strip() if wants else ""
        return (
            f"npm cannot resolve the dependencies {where}/package.json asks for (a peer "
            f"dependency conflict{': ' + what if what else ''}): fix the versions in "
            f"{where}/package.json, or accept npm's looser resolution with "
            f"`legacy-peer-deps=true` in {where}/.npmrc (the team's call), then run this "
            f"again"
        )
    if "workspace:" in output and (
        "EUNSUPPORTEDPROTOCOL" in output or "Unsupported URL Type" in output
    ):
        return (
            f"a dependency of {where}/package.json uses the workspace: protocol, which "
            f"only a pnpm or yarn workspace resolves, and {where} is not a member of one"
        )
    if UNREACHABLE.search(output):
        return (
            f"the package registry could not be reached (`{inst.command}` in {where}): "
            f"check the network or the registry in .npmrc, then run this again"
        )
    return f"`{inst.command}` failed in {where}"


def _run_one(ws: Workspace, inst: Install, log: Path, timeout: float) -> InstallResult:
    from lomash_tasks.stack.embedded.process import tail

    began = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(log, "w", encoding="utf-8") as handle:
        handle.write(f"$ {inst.command}   (in {inst.folder})\n")
        handle.flush()
        lines: list[str] = []

        def keep(line: str) -> None:
            lines.append(line)
            handle.write(line + "\n")
            handle.flush()

        try:
            done = commands.run(
                inst.argv,
                cwd=inst.folder,
                env=INSTALL_ENV,
                timeout=timeout,
                check=False,
                effect=True,
                on_line=keep,
            )
            code = done.code
        except commands.CommandTimeout:
            code = None
        except commands.CommandError as err:  # could not start (not found)
            keep(str(err))
            code = -1
    seconds = time.monotonic() - began
    if code == 0:
        return InstallResult(inst, True, seconds, log=log)
    output = "\n".join(lines)
    cause = (
        f"`{inst.command}` did not finish within {timeout:g}s in {ws.relative(inst.folder) or '.'}"
        if code is None
        else f"{_classify(inst, output, ws)} (exit {code})"
    )
    detail = (
        f"{', '.join(inst.services)}: {cause}.\nLast lines of {ws.relative(log)}:\n"
        f"{tail(log, TAIL)}"
    )
    return InstallResult(inst, False, seconds, cause, detail, log)


def install(
    ws: Workspace, plan: list[Install], jobs: int = 4, timeout: float = 900.0, out: Any = None
) -> list[InstallResult]:
    """Run the plan's installs side by side (`jobs` at a time, live progress on `out`); then
    check that every service each one promised is installed where Node will look."""
    from concurrent.futures import ThreadPoolExecutor

    logs = ws.state_dir / "deps"
    results: dict[str, InstallResult] = {}
    runnable = [i for i in plan if not i.problem]
    for inst in plan:
        if inst.problem:
            results[inst.label] = InstallResult(
                inst, False, 0.0, inst.problem, f"{', '.join(inst.services)}: {inst.problem}."
            )
    if out is not None:
        for inst in runnable:
            for note in inst.notes:
                out.info(f"{inst.label}: {note}")

    def one(inst: Install, progress: Any) -> InstallResult:
        if progress is not None:
            progress.update(inst.label, "running")
        name = re.sub(r"[^\w.-]+", "-", inst.label)
        result = _run_one(ws, inst, logs / f"{name}.log", timeout)
        if result.ok:
            result = _verify(ws, result)
        if progress is not None:
            progress.update(
                inst.label,
                (f"done in {result.seconds:.1f}s" if result.ok else f"failed: {result.cause}"),
                final=True,
            )
        return result

    if runnable:
        progress_cm = out.progress([i.label for i in runnable], "Installing") if out else None
        with progress_cm if progress_cm is not None else _nothing() as progress:
            with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(runnable)))) as pool:
                futures = {i.label: pool.submit(one, i, progress) for i in runnable}
                for label, future in futures.items():
                    results[label] = future.result()
        _record(ws, [results[i.label] for i in runnable])
    return [results[i.label] for i in plan]


LAST = "last.json"  # in .lomash/deps/: each install's last outcome, for later messages


def _record(ws: Workspace, results: list[InstallResult]) -> None:
    """Keep each install's last outcome (a failure's cause), so that a later `services.up`
    names why a service is still not installed instead of the install that failed."""
    from lomash_tasks.services.shared import read_json, write_json

    path = ws.state_dir / "deps" / LAST
    data = read_json(path)
    for r in results:
        data[r.install.label] = {
            "ok": r.ok,
            "cause": r.cause,
            "command": r.install.command,
            "log": ws.relative(r.log) if r.log else None,
            "at": time.time(),
        }
    try:
        write_json(path, data)
    except OSError:
        pass  # a record for later messages: never a reason to fail the install


def last_failure(ws: Workspace, svc: Service) -> str:
    """Why the last install of the service failed (its cause and log), '' when it did not or
    none ran."""
    from lomash_tasks.services.shared import read_json

    plan = install_plan(ws, [svc])
    if not plan:
        return ""
    rec = read_json(ws.state_dir / "deps" / LAST).get(plan[0].label)
    if not isinstance(rec, dict) or rec.get("ok") or not rec.get("cause"):
        return ""
    log = f" (see {rec['log']})" if rec.get("log") else ""
    return f"its last install failed: {rec['cause']}{log}"


def _verify(ws: Workspace, result: InstallResult) -> InstallResult:
    """What the install promised: each of its services has its dependencies where Node looks."""
    missing = [
        name
        for name in result.install.services
        if not ws.facts(ws.registry.service(name)).installed()
    ]
    if not missing:
        return result
    result.ok = False
    where = ws.relative(result.install.folder) or "."
    result.cause = (
        f"`{result.install.command}` exited 0 in {where}, but "
        f"{', '.join(missing)} still lack their node_modules (or npm's record of "
        f"a finished install)"
    )
    result.detail = f"{', '.join(missing)}: {result.cause}."
    return result


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def missing_installs(ws: Workspace, services: Iterable[Service]) -> list[str]:
    """One line per service that cannot start for want of its installed dependencies: what is
    missing and the command that installs it (or why nothing can)."""
    lines = []
    for svc in services:
        facts = ws.facts(svc)
        why = _blocking(ws, svc)
        if why:
            lines.append(f"{svc.name}: {why}")
        elif not facts.installed():
            failed = last_failure(ws, svc)
            if failed:  # running that install again would only fail again
                lines.append(f"{svc.name}: its node_modules is missing or incomplete; {failed}")
                continue
            inst = facts.installer
            try:
                prefix, _ = manager_argv(inst)
                command = display([*prefix, *inst.frozen_command])
            except UserError:
                command = " ".join([inst.manager, *inst.frozen_command])
            lines.append(
                f"{svc.name}: its node_modules is missing or incomplete (`{command}` in "
                f"{ws.relative(inst.folder) or '.'})"
            )
    return lines
