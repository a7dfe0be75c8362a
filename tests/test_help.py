"""Every task shows a one-line help in `inv --list`, and every flag has help text."""

import inspect

from conftest import SUITE_ROOT, Inv


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


# -- the root's parser contexts (what `lomash` parses with) ---------------------------------
ARGVS = [
    ["db.url", "-s", "auth"],
    ["db.url", "-s", "auth", "db.url", "--service", "product", "--reveal"],
    ["db.migrate", "--service", "auth", "--service", "product", "--runner", "native"],
    ["db.migrate", "-s", "auth", "db.migrate", "-s", "order"],  # one task twice: no sharing
    ["services.logs", "--follow", "--tail", "5", "setup", "--skip", "services", "--skip", "aws"],
    ["env.show", "auth", "--json", "stack.up", "--timeout", "30"],
    ["teardown", "--volumes", "--yes"],
]


def parse(contexts, argv):
    from invoke.parser import Parser, ParserContext

    result = Parser(contexts=contexts, initial=ParserContext()).parse_argv(argv)
    return [(ctx.name, ctx.as_kwargs) for ctx in result[1:]]


def test_lazy_parser_contexts_parse_exactly_as_invokes_own():
    """The root reads a task's flags only when a command line names it; what it parses, the
    help it shows and the errors it gives are Invoke's own, for every task."""
    import invoke
    from invoke.exceptions import ParseError

    from lomash_tasks.tasks import namespace

    def reference():
        return invoke.Collection.to_contexts(namespace)

    for argv in ARGVS:
        assert parse(namespace.to_contexts(), argv) == parse(reference(), argv), argv
    lazy = {c.name: c for c in namespace.to_contexts()}
    for ctx in reference():
        assert lazy[ctx.name].help_tuples() == ctx.help_tuples(), ctx.name
        assert lazy[ctx.name].aliases == ctx.aliases
    for bad in (["db.migrate", "--bogus"], ["db.migrate", "--runner"], ["nosuch"]):
        errors = []
        for contexts in (namespace.to_contexts(), reference()):
            try:
                parse(contexts, bad)
            except ParseError as err:
                errors.append(str(err))
        assert len(errors) == 2 and errors[0] == errors[1], (bad, errors)


def test_a_lazy_context_whose_flags_fail_to_build_says_so_on_every_read():
    """A task whose help names no flag of it: Invoke's own `to_contexts` raises its
    ValueError; the lazy context raises that same error at each read of its flags, not an
    AttributeError after the first."""
    import invoke
    import pytest

    from lomash_tasks.tasks.base import SuiteCollection

    @invoke.task(help={"nosuch": "A flag the task does not have."})
    def broken(c, real=None):
        """Do nothing."""

    root = SuiteCollection(broken)
    with pytest.raises(ValueError) as own:
        invoke.Collection.to_contexts(root)
    (ctx,) = root.to_contexts()
    for _ in range(2):
        with pytest.raises(ValueError) as lazy:
            ctx.flags  # noqa: B018 - the read is the point
        assert str(lazy.value) == str(own.value)


def test_lomash_lists_without_reading_any_tasks_flags(capsys):
    from lomash_tasks.tasks import namespace
    from lomash_tasks.tasks.program import Lomash

    program = Lomash(namespace=namespace, name="lomash", binary="lomash")
    program.run(["lomash", "--list"], exit=False)
    assert "db.migrate" in capsys.readouterr().out
    contexts = list(program.parser.contexts.values())
    assert len(contexts) == len(namespace.task_names)
    assert all("_build" in vars(ctx) for ctx in contexts)  # no flags read to list

    program.run(["lomash", "--version"], exit=False)
    from importlib.metadata import version

    assert capsys.readouterr().out.strip() == f"lomash {version('lomash-tasks')}"


def test_a_listing_whose_reader_left_ends_quietly():
    """`inv --list | head`, `lomash --list | head`: once the pipe's reader has gone, no
    traceback, and the status a shell gives a program ended by SIGPIPE (141)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    lomash = Path(sys.executable).with_name("lomash")
    for argv in ([sys.executable, "-m", "invoke", "--list"], [str(lomash), "--list"]):
        read, write = os.pipe()
        os.close(read)
        try:
            done = subprocess.run(
                argv,
                cwd=SUITE_ROOT,
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
            )
        finally:
            os.close(write)
        assert done.returncode == 141, (argv, done.stderr)
        assert done.stderr == "", argv
