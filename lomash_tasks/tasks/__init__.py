"""The Invoke layer of the suite, shipped in the package: one thin module per namespace.

    from lomash_tasks import tasks as suite

    namespace = suite.namespace            # every namespace, with every namespace's defaults
    suite.db.migrate, suite.stack.up, ...  # the task objects, for pre=/post=/call(...)
    suite.dashboard.dashboard              # the root's tasks live in modules of their own
    suite.clean.clean, suite.testing.test

`namespace` is what `inv` loads from a monorepo's `tasks.py` (`from lomash_tasks.tasks import
namespace`) and what the `lomash` console script runs.
"""

from lomash_tasks import configguard, settings

configguard.install()  # a bad INVOKE_* variable or -f file: a clear message, not a traceback

from lomash_tasks.tasks import (  # noqa: E402 (after the guard is installed)
    aws,
    cache,
    clean,
    dashboard,
    db,
    debug,
    env,
    services,
    setup,
    stack,
    stripe_tasks,
    testing,
)
from lomash_tasks.tasks.base import SuiteCollection  # noqa: E402

stripe = stripe_tasks  # `suite.stripe`, like the namespace's name

namespace = SuiteCollection()
for module in (env, stack, services, db, cache, aws, stripe_tasks, debug):
    namespace.add_collection(module.ns)
namespace.add_task(setup.setup, default=False)
namespace.add_task(setup.teardown)
namespace.add_task(dashboard.dashboard)
namespace.add_task(clean.clean)
namespace.add_task(testing.test)
# The root carries every namespace's settings and the packaged registry, so every task (and
# every INVOKE_* override) sees all of them; Invoke would otherwise give a task only its own
# namespace's subtree.
namespace.configure(settings.all_defaults())
