"""Lomash Wood task suite: the Invoke entry point. It composes the namespaces, nothing else.

Python can import only one module named `tasks`, and Invoke loads this file first. The
namespace modules live in the `tasks/` folder beside it (one module per namespace, no
`__init__.py`); setting `__path__` below makes this module their package, so `tasks.db` is
`tasks/db.py` both for Invoke and for a plain `import`.
"""

import os

from invoke import Collection

from lomash_tasks import configguard

configguard.install()  # a bad INVOKE_* variable or -f file: a clear message, not a traceback
__path__ = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks")]

from tasks import aws, cache, db, debug, env, setup, stack, stripe_tasks  # noqa: E402

namespace = Collection()
for module in (env, stack, db, cache, aws, stripe_tasks, debug):
    namespace.add_collection(module.ns)
    # Every task sees every namespace's defaults (Invoke otherwise gives a task only its own
    # namespace's subtree), so setup can read db.* and debug.doctor can read stack.*.
    namespace.configure(module.ns.configuration())
namespace.add_task(setup.setup, default=False)
namespace.add_task(setup.teardown)
namespace.configure(setup.CONFIG)
