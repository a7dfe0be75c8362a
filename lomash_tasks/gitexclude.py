"""Keeping the suite's own files out of `git status` without touching the user's .gitignore.

The suite writes its state (`.lomash/`: servers' data, logs, the stack's passwords) and
backups (`.env.bak-<time>`) inside the monorepo. Where the repository's ignore rules do not
already cover them, the pattern goes into the repository's `info/exclude` (git's per-clone
ignore file, never committed), once, under a comment saying who added it.
"""

from __future__ import annotations

from pathlib import Path

STATE = ".lomash/"
BACKUPS = ".env*.bak-*"
HEADER = "# lomash-tasks: its state and backups (added by the suite)"

_done: set[tuple[str, str]] = set()  # (exclude file, pattern) seen in this process


def git_dirs(start: Path) -> tuple[Path, Path] | None:
    """(work tree top, common git dir) of the repository holding `start`, read from `.git`."""
    folder = Path(start).resolve()
    for top in (folder, *folder.parents):
        dot = top / ".git"
        if dot.is_dir():
            return top, dot
        if dot.is_file():  # a worktree or submodule: "gitdir: <path>"
            try:
                text = dot.read_text(encoding="utf-8").strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                return None
            gitdir = (top / text.split(":", 1)[1].strip()).resolve()
            common = gitdir
            try:  # a worktree's info/exclude is the main repository's
                common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
            except OSError:
                pass
            return top, common
    return None


def hide(start: Path, pattern: str, probe: str) -> bool:
    """Make git ignore `pattern` in the repository holding `start` when its own rules do not
    (`probe`: a path, relative to `start`, that the pattern covers). True when it was added."""
    from lomash_tasks import commands

    found = git_dirs(start)
    if found is None:
        return False
    top, common = found
    exclude = common / "info" / "exclude"
    key = (str(exclude), pattern)
    if key in _done:
        return False
    _done.add(key)
    try:
        current = exclude.read_text(encoding="utf-8")
    except OSError:
        current = ""
    if pattern in current.splitlines():
        return False
    git = commands.which("git")
    if git is None:
        return False
    try:
        checked = commands.run(
            [git, "-C", str(start), "check-ignore", "-q", "--no-index", "--", probe],
            timeout=10,
            check=False,
        )
    except commands.CommandError:
        return False
    if checked.code != 1:  # 0: already ignored; 128: not a repository / git error
        return False
    text = current
    if text and not text.endswith("\n"):
        text += "\n"
    if HEADER not in text:
        text += HEADER + "\n"
    text += pattern + "\n"
    try:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text(text, encoding="utf-8")
    except OSError:
        return False
    return True


def hide_state(root: Path) -> bool:
    return hide(root, STATE, STATE + "state")


def hide_backups(folder: Path) -> bool:
    return hide(folder, BACKUPS, ".env.bak-20000101-000000")
