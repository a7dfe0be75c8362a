"""`auto` follows a running stack: the embedded servers of a workspace win over a Docker engine.

No Docker engine runs here: the engine's answer is a stand-in (monkeypatched ping), as the
test names say; the embedded stack is real (the session `stack` fixture).
"""

from lomash_tasks import stack as backends
from lomash_tasks.stack import Settings
from lomash_tasks.workspace import Workspace


def test_auto_with_a_standin_engine_picks_the_running_embedded_stack(stack, monkeypatch):
    monkeypatch.setattr(backends, "docker_engine", lambda timeout=1.0: (True, "25.0.0"))
    assert backends.resolve(None, Settings(), stack.ws) == "embedded"
    assert backends.get(stack.ws, Settings()).name == "embedded"
    assert backends.resolve("compose", Settings(), stack.ws) == "compose"  # a flag still wins


def test_auto_with_a_standin_engine_and_nothing_running_picks_compose(
    workspace, stack, monkeypatch
):
    monkeypatch.setattr(backends, "docker_engine", lambda timeout=1.0: (True, "25.0.0"))
    idle = Workspace.locate(workspace, stack.ws.registry)
    assert backends.resolve(None, Settings(), idle) == "compose"
    monkeypatch.setattr(backends, "docker_engine", lambda timeout=1.0: (False, "no engine"))
    assert backends.resolve(None, Settings(), idle) == "embedded"
