"""The Invoke layer of the suite, shipped in the package: one thin module per namespace.

    from lomash_tasks import tasks as suite

    namespace = suite.namespace            # every namespace, with every namespace's defaults
    suite.db.migrate, suite.stack.up, ...  # the task objects, for pre=/post=/call(...)
    suite.dashboard.dashboard              # the root's tasks live in modules of their own

`namespace` is what `inv` loads from a monorepo's `tasks.py` (`from lomash_tasks.tasks import
namespace`) and what the `lomash` console script runs.
"""

import copy

from invoke import Collection
from invoke.parser import ParserContext
from invoke.util import Lexicon

from lomash_tasks import configguard, settings

configguard.install()  # a bad INVOKE_* variable or -f file: a clear message, not a traceback

from lomash_tasks.tasks import (aws, cache, dashboard, db, debug, env, services, setup, stack,
                                stripe_tasks)

stripe = stripe_tasks  # `suite.stripe`, like the namespace's name


class SuiteCollection(Collection):
    """The root collection. Looking a task up by name returns it without building its config:
    Invoke's own lookup copies and merges the root's whole configuration (every namespace's
    settings and the registry) each time, and `inv --list` looks up every task. Running a
    task still gets its config from `task_with_config`/`configuration`, as always."""

    def __getitem__(self, name=None):
        if not name:
            return super().__getitem__(name)
        name = self.transform(name)
        if "." in name:
            coll, rest = self._split_path(name)
            sub = self.collections[coll]
            # a namespace's own task, without copying that namespace's config either
            return sub.tasks[rest] if rest in sub.tasks else sub[rest]
        if name in self.collections:
            return self.collections[name][""]
        return self.tasks[name]


    def to_contexts(self, ignore_unknown_help=None):
        """Each task's parser context, its flags read from the task when first used: Invoke
        builds (and deep-copies) every task's context to parse a command line, which needs
        only the tasks it names (`inv --list` none)."""
        return [_LazyContext(primary, aliases, self[primary], ignore_unknown_help)
                for primary, aliases in self.task_names.items()]


class _LazyContext(ParserContext):
    """A ParserContext whose arguments come from its task on first access; a copy of one not
    yet used is another such context (no Argument objects to copy)."""

    _FIELDS = ("args", "positional_args", "flags", "inverse_flags")

    def __init__(self, name, aliases, task, ignore_unknown_help):
        super().__init__(name=name, aliases=aliases)
        for field in self._FIELDS:
            del self.__dict__[field]
        self._source = (task, ignore_unknown_help)

    def __getattr__(self, attr):
        source = self.__dict__.get("_source")
        if attr not in _LazyContext._FIELDS or source is None:
            raise AttributeError(attr)
        del self.__dict__["_source"]
        self.args, self.positional_args, self.flags, self.inverse_flags = \
            Lexicon(), [], Lexicon(), {}
        for arg in source[0].get_arguments(ignore_unknown_help=source[1]):
            self.add_arg(arg)
        return getattr(self, attr)

    def __deepcopy__(self, memo):
        source = self.__dict__.get("_source")
        if source is not None:
            return _LazyContext(self.name, self.aliases, *source)
        clone = object.__new__(ParserContext)  # a used one is copied as Invoke copies it
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone


namespace = SuiteCollection()
for module in (env, stack, services, db, cache, aws, stripe_tasks, debug):
    namespace.add_collection(module.ns)
namespace.add_task(setup.setup, default=False)
namespace.add_task(setup.teardown)
namespace.add_task(dashboard.dashboard)
# The root carries every namespace's settings and the packaged registry, so every task (and
# every INVOKE_* override) sees all of them; Invoke would otherwise give a task only its own
# namespace's subtree.
namespace.configure(settings.all_defaults())
