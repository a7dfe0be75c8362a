"""The package's shape: imports run one way down the layers, rooms form no cycle, only the
command layer runs programs, and no module shadows a library. Read from the source (every
import, also those inside functions).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conftest import SUITE_ROOT

PACKAGE = SUITE_ROOT / "lomash_tasks"

# Lowest first. A module may import from its own layer or any layer below it, never above.
LAYERS: list[tuple[str, ...]] = [
    (
        "lomash_tasks",
        "lomash_tasks.errors",
        "lomash_tasks.lazy",
        "lomash_tasks.masking",
        "lomash_tasks.helpers",
        "lomash_tasks.values",
        "lomash_tasks.console",
        "lomash_tasks.commands",
        "lomash_tasks.processes",
        "lomash_tasks.configguard",
        "lomash_tasks.settings",
        "lomash_tasks.registry",
        "lomash_tasks.monorepo",
        "lomash_tasks.gitexclude",
        "lomash_tasks.workspace",
    ),
    ("lomash_tasks.env",),
    ("lomash_tasks.connections",),
    ("lomash_tasks.stack",),
    (
        "lomash_tasks.db",
        "lomash_tasks.cache",
        "lomash_tasks.aws",
        "lomash_tasks.webhooks",
        "lomash_tasks.services",
        "lomash_tasks.remote",
    ),
    ("lomash_tasks.debug",),
    ("lomash_tasks.setup",),
    ("lomash_tasks.dashboard",),
    ("lomash_tasks.context",),
    ("lomash_tasks.tasks",),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SUITE_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every lomash_tasks module `path` imports (absolute and relative, at any depth)."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lomash_tasks")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("lomash_tasks"):
                found.add(target)
                found |= {
                    f"{target}.{a.name}"
                    for a in node.names
                    if (PACKAGE.parent / f"{target}.{a.name}".replace(".", "/")).exists()
                    or (PACKAGE.parent / (f"{target}.{a.name}".replace(".", "/") + ".py")).exists()
                }
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", "") == "lazy"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(node.args[0].value)
    return found


def layer_of(mod: str) -> int:
    best, index = -1, None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (mod == prefix or mod.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    assert index is not None, f"{mod} is in no layer: add its room to LAYERS"
    return index


def room_of(mod: str) -> str:
    parts = mod.split(".")
    return ".".join(parts[:2])


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_imports_run_down_the_layers():
    upward = []
    for path in sources():
        mod = module_name(path)
        for target in imports(path):
            if target == "lomash_tasks":
                continue
            if layer_of(target) > layer_of(mod):
                upward.append(f"{mod} -> {target}")
    assert not upward, "imports that climb the layers:\n" + "\n".join(sorted(upward))


def test_rooms_form_no_cycle():
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sources():
        mod = module_name(path)
        for target in imports(path):
            a, b = room_of(mod), room_of(target)
            if a != b and b != "lomash_tasks":
                edges[a].add(b)
    seen, stack, cycles = set(), [], []

    def visit(node: str) -> None:
        if node in stack:
            cycles.append(" -> ".join(stack[stack.index(node) :] + [node]))
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(edges[node]):
            visit(nxt)
        stack.pop()

    for node in sorted(edges):
        visit(node)
    assert not cycles, "import cycles between rooms:\n" + "\n".join(cycles)


def test_only_the_command_layer_runs_programs():
    """Every external program goes through lomash_tasks/commands.py (argument lists)."""
    offenders = []
    for path in sources():
        if path == PACKAGE / "commands.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(n.split(".")[0] in ("subprocess", "pty") for n in names):
                offenders.append(f"{path.relative_to(SUITE_ROOT)}:{node.lineno}")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and node.attr
                in ("system", "popen", "spawnv", "spawnvp", "execv", "execvp", "posix_spawn")
            ):
                offenders.append(f"{path.relative_to(SUITE_ROOT)}:{node.lineno} os.{node.attr}")
    assert not offenders, "programs run outside lomash_tasks/commands.py:\n" + "\n".join(offenders)


def test_no_module_shadows_a_library_it_could_use():
    import sys

    stdlib = set(sys.stdlib_module_names)
    libraries = {
        "invoke",
        "fabric",
        "dotenv",
        "docker",
        "boto3",
        "botocore",
        "sh",
        "yaml",
        "psycopg",
        "redis",
        "rich",
        "stripe",
        "moto",
        "aiosmtpd",
        "paramiko",
    }
    clashes = [
        str(p.relative_to(SUITE_ROOT))
        for p in sources()
        if p.stem in libraries or (p.stem in stdlib and p.stem not in ("__init__",))
    ]
    assert not clashes, f"module names that shadow libraries: {clashes}"


# Each small thing is done in one module (rule 7). A call listed here outside its home is an
# exception kept on purpose; its reason says why it is not the helper's job.
ONE_HOME = {
    "fcntl": ("helpers.py", {}),  # owner_lock / lock_holder
    "os.killpg": (
        "commands.py",  # end_groups: the one way a process group is signalled and ended
        {"processes.py": "group_exists: signal 0 asks whether a group exists and sends nothing"},
    ),
    "rename": (
        "helpers.py",  # write_atomic: temporary file, fsync, os.replace, folder fsync
        {
            "services/logfile.py": "rotate: moves old logs aside (name.log -> name.log.1); "
            "no content is written",
            "stack/embedded/pgtemplate.py": "save: puts a copied data folder in place; a "
            "folder, which write_atomic does not write",
        },
    ),
    "deadline loop": ("helpers.py", {}),  # poll_until (the supervisor's loop waits in select)
}


def _one_home_uses(tree: ast.AST) -> list[tuple[str, int]]:
    """(what, line) for each use of a thing ONE_HOME gives one module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [("fcntl", node.lineno) for a in node.names if a.name == "fcntl"]
        elif isinstance(node, ast.ImportFrom) and node.module == "fcntl":
            found.append(("fcntl", node.lineno))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func, owner = node.func, getattr(node.func.value, "id", "")
            if owner == "os" and func.attr == "killpg":
                found.append(("os.killpg", node.lineno))
            elif owner == "os" and func.attr in ("replace", "rename", "renames"):
                found.append(("rename", node.lineno))
            # Path.replace(target) / Path.rename(target): one argument (str.replace takes two)
            elif func.attr in ("replace", "rename") and len(node.args) == 1 and not node.keywords:
                found.append(("rename", node.lineno))
        elif isinstance(node, ast.While):
            # a hand-written "poll until a deadline": the clock and a sleep in one loop
            calls = [n.func for n in ast.walk(node) if isinstance(n, ast.Call)]
            names = {getattr(f, "attr", getattr(f, "id", "")) for f in calls}
            if "monotonic" in names and "sleep" in names:
                found.append(("deadline loop", node.lineno))
    return found


def test_each_small_thing_has_one_home():
    """fcntl locks only in helpers.py, process groups signalled only in commands.py, files
    replaced only by helpers.write_atomic, deadline loops only in helpers.poll_until (each
    exception listed in ONE_HOME with its reason)."""
    offenders, used = [], set()
    for path in sources():
        rel = str(path.relative_to(PACKAGE))
        for what, line in _one_home_uses(ast.parse(path.read_text())):
            home, allowed = ONE_HOME[what]
            if rel == home:
                continue
            if rel in allowed:
                used.add((what, rel))
                continue
            offenders.append(f"lomash_tasks/{rel}:{line}: {what} (its one home: {home})")
    assert not offenders, "done outside its helper:\n" + "\n".join(offenders)
    stale = [
        f"{what} in {rel}"
        for what, (_, allowed) in ONE_HOME.items()
        for rel in allowed
        if (what, rel) not in used
    ]
    assert not stale, f"exceptions listed that the code no longer needs: {stale}"


def test_the_one_home_check_finds_each_kind():
    """The check above can fail: each kind of use is found in a sample."""
    sample = """
import fcntl
from fcntl import flock
import os, time
os.killpg(1, 15)
os.replace("a", "b")
path.replace(other)
text.replace("a", "b")
while time.monotonic() < end:
    time.sleep(0.1)
"""
    found = [what for what, _ in _one_home_uses(ast.parse(sample))]
    assert sorted(found) == sorted(
        ["fcntl", "fcntl", "os.killpg", "rename", "rename", "deadline loop"]
    )
