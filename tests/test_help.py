"""Every task shows a one-line help in `inv --list`, and every flag has help text."""

import inspect

from conftest import Inv


def all_tasks():
    from lomash_tasks.tasks import namespace

    for name in namespace.task_names:
        yield name, namespace[name]


def test_every_task_has_a_one_line_imperative_help_and_every_flag_help():
    missing = []
    for name, task in all_tasks():
        doc = inspect.getdoc(task.body) or ""
        first = doc.splitlines()[0] if doc else ""
        if not first or len(first) > 100 or not first.endswith("."):
            missing.append(f"{name}: first docstring line {first!r}")
        params = [p for p in inspect.signature(task.body).parameters if p != "c"]
        for param in params:
            if not (task.help or {}).get(param.replace("_", "-")) and not (task.help or {}).get(
                param
            ):
                missing.append(f"{name}: --{param} has no help")
    assert not missing, "\n".join(missing)


def test_inv_list_shows_every_namespace():
    out = Inv()("--list", check=True).stdout
    for ns in ("env.", "stack.", "db.", "cache.", "aws.", "stripe.", "debug."):
        assert ns in out
    assert "setup" in out and "teardown" in out
