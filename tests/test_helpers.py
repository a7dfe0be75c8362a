"""The shared helpers, on real files and real processes: an atomic write that is on disk when it
returns, a lock that names its holder to whoever waits, and poll_until's last value."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lomash_tasks import helpers
from lomash_tasks.errors import LockBusy, PollTimeout, UserError


# -- write_atomic ------------------------------------------------------------------------------
def test_write_atomic_replaces_the_file_with_the_mode_asked_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    target.chmod(0o644)
    helpers.write_atomic(target, "new ✓", 0o600)
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    helpers.write_atomic(target, b"\x00bytes", 0o640)
    assert target.read_bytes() == b"\x00bytes"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_write_atomic_survives_the_writer_being_killed_at_once(tmp_path):
    """The data is fsync'd before the rename and the folder after it: a writer SIGKILLed right
    after write_atomic returned left the whole new file (and a writer killed before it, the
    whole old one)."""
    target = tmp_path / "data.txt"
    target.write_text("old\n")
    script = (
        "import os, signal, sys; from lomash_tasks import helpers; "
        f"helpers.write_atomic({str(target)!r}, 'x' * 1_000_000); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert done.returncode == -9
    assert target.read_text() == "x" * 1_000_000
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_write_atomic_keeps_the_old_file_when_the_last_check_refuses(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def refuse() -> None:
        raise UserError("no")

    with pytest.raises(UserError):
        helpers.write_atomic(target, "new", before_replace=refuse)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


# -- owner_lock ---------------------------------------------------------------------------------
HOLD = """
import sys, time
from lomash_tasks import helpers
with helpers.owner_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder_process(lock: Path, seconds: float) -> subprocess.Popen:
    script = lock.parent.parent / "hold.py"
    script.write_text(HOLD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(lock), str(seconds), "--marker-arg"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_lock_is_owner_only_and_names_its_holder_to_whoever_waits(tmp_path):
    lock = tmp_path / "state" / "run.lock"
    proc = _holder_process(lock, 30)
    try:
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700
        holder = helpers.lock_holder(lock)
        assert holder is not None and holder.pid == proc.pid
        assert "hold.py" in holder.command and str(holder).startswith(f"pid {proc.pid}: ")
        waited: list[object] = []
        began = time.monotonic()
        with pytest.raises(LockBusy) as err:
            with helpers.owner_lock(lock, timeout=0.5, on_wait=waited.append):
                pytest.fail("taken while another process holds it")
        assert 0.4 < time.monotonic() - began < 5
        assert waited == [holder] and err.value.holder == holder
        assert f"pid {proc.pid}" in str(err.value)
        with pytest.raises(LockBusy) as worded:
            with helpers.owner_lock(lock, timeout=0, busy=lambda h: f"busy: {h.pid}"):
                pass
        assert str(worded.value) == f"busy: {proc.pid}"
    finally:
        proc.kill()
        proc.wait()
    assert helpers.lock_holder(lock) is None  # released with its process
    with helpers.owner_lock(lock, timeout=0) as me:
        assert me.pid == os.getpid()
        assert helpers.read_holder(lock) == me


def test_a_waiting_lock_is_taken_once_the_holder_lets_go(tmp_path):
    lock = tmp_path / "state" / "run.lock"
    proc = _holder_process(lock, 0.5)
    try:
        began = time.monotonic()
        with helpers.owner_lock(lock, timeout=20):  # no timeout reached: waits it out
            assert time.monotonic() - began < 10
        with helpers.owner_lock(lock):  # timeout None blocks until free (free now)
            pass
    finally:
        proc.kill()
        proc.wait()


# -- poll_until ---------------------------------------------------------------------------------
def test_poll_until_returns_the_first_truthy_value():
    seen = iter([0, None, "", 7, 8])
    assert helpers.poll_until(lambda: next(seen), timeout=5, interval=0.001) == 7


class Probe:
    """A falsy answer that still says something (what a readiness probe saw)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"answer {self.n}: starting"


def test_poll_until_says_what_it_last_saw_at_the_deadline():
    calls: list[Probe] = []

    def probe() -> Probe:
        calls.append(Probe(len(calls) + 1))
        return calls[-1]

    began = time.monotonic()
    last = helpers.poll_until(probe, timeout=0.2, interval=0.01)
    assert last is calls[-1] and len(calls) > 3 and 0.15 < time.monotonic() - began < 3
    calls.clear()
    with pytest.raises(PollTimeout) as err:
        helpers.poll_until(probe, timeout=0.1, interval=0.01, what="the server answering")
    assert err.value.last is calls[-1]
    assert str(err.value) == (
        f"the server answering did not happen within 0.1 s (last seen: answer {len(calls)}: "
        f"starting)."
    )


def test_poll_until_calls_once_even_past_the_deadline_and_grows_the_interval():
    sleeps: list[float] = []
    assert helpers.poll_until(lambda: "yes", deadline=time.monotonic() - 1) == "yes"
    assert not helpers.poll_until(lambda: False, deadline=time.monotonic() - 1)
    helpers.poll_until(
        lambda: len(sleeps) >= 5, interval=0.01, backoff=2, max_interval=0.05, sleep=sleeps.append
    )
    assert sleeps == [0.01, 0.02, 0.04, 0.05, 0.05]
