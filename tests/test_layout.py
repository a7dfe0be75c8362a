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
