"""`lomash`: the suite as a program of its own, for a monorepo without a tasks.py.

    lomash --list
    lomash setup
    lomash --root ~/src/lomash-wood db.migrate --service auth

The same namespace `inv` loads from a tasks.py; the project config is the workspace's own
invoke.yaml (found by walking up to the folder holding pnpm-workspace.yaml, or at `--root`).
`--root` is the strongest way to name the workspace: it beats `workspace.root` from
invoke.yaml, INVOKE_WORKSPACE_ROOT and `-f` files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import Argument, Program

from lomash_tasks.settings import merged
from lomash_tasks.tasks import namespace


class Lomash(Program):
    # Read from the installed package's metadata only for --version: importlib.metadata and
    # the scan of site-packages it does cost a listing about 12 ms.
    @property
    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("lomash-tasks")
        except PackageNotFoundError:
            return "unknown"

    @version.setter
    def version(self, value: str) -> None:  # Program.__init__ sets it; the property answers
        pass

    def core_args(self) -> list[Argument]:
        return [
            *super().core_args(),
            Argument(
                names=("root",),
                help="The monorepo's root (default: the nearest "
                "folder up from here holding "
                "pnpm-workspace.yaml).",
            ),
        ]

    def update_config(self, merge: bool = True) -> None:
        from lomash_tasks.workspace import find_root

        root = self.args.root.value
        start = Path(root).expanduser().resolve() if root else Path.cwd()
        project = start if root else (find_root(start) or start)
        self.config.set_project_location(str(project))
        self.config.load_project(merge=False)
        super().update_config(merge=False)
        if root:
            overrides = merged(
                getattr(self.config, "_overrides", {}) or {}, {"workspace": {"root": str(start)}}
            )
            self.config.load_overrides(overrides, merge=False)
        if merge:
            self.config.merge()


program = Lomash(namespace=namespace, name="lomash", binary="lomash", binary_names=["lomash"])


def main() -> None:
    from lomash_tasks import errors

    if Path(sys.argv[0]).name == "lomash":  # (the dashboard runs its actions as a module)
        errors.set_program("lomash")
    program.run()


if __name__ == "__main__":  # `python -m lomash_tasks.tasks.program`: the dashboard's actions
    main()
