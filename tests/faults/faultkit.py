"""Helpers of the fault tests: the command line in a subprocess (as a user runs it), the
processes it leaves, small specs, and read-only or full storage.

Read-only and full storage are real where this process may mount file systems (a
read-only bind mount, a small tmpfs); elsewhere those tests are skipped, and the same
faults are also simulated by raising the operating system's error (``EROFS``,
``ENOSPC``) in tests that always run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import noisewalk

SRC = str(Path(noisewalk.__file__).resolve().parents[1])
LAUNCH = "from noisewalk.cli import app; app()"

SPEC = """
name = "{name}"
repetitions = {repetitions}
[sigma]
kind = "explicit"
values = {values}
[training]
noise = "{noise}"
epochs = {epochs}
lr = 3e-3
last_epochs = 1
"""


def write_spec(path: Path, *, name="faults", repetitions=2, values=(0.3, 1.0), noise="matched", epochs=2) -> Path:
    path.write_text(SPEC.format(name=name, repetitions=repetitions, values=list(values), noise=noise, epochs=epochs))
    return path


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: this source tree first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([SRC, *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def launch(*args: str, cwd: Path | None = None, **env: str) -> subprocess.Popen:
    """``noisewalk ARGS`` in its own session (its process group is the session's)."""
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        cwd=cwd,
        env=cli_env(**env),
    )


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(**env),
        timeout=timeout,
        start_new_session=True,
    )


def session_processes(sid: int) -> list[str]:
    """Live processes (not zombies) of the session ``sid``: ``"pid command"`` each."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            found.append(f"{entry.name} {cmdline.strip()}")
    return found


def left_behind(sid: int, wait: float = 20.0) -> list[str]:
    """The processes of session ``sid`` still alive once they had ``wait`` seconds to end."""
    deadline = time.monotonic() + wait
    while True:
        alive = session_processes(sid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def kill_session(sid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, signal.SIGKILL)


def trial_statuses(folder: Path) -> dict[str, int]:
    db = folder / "study.sqlite"
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        con.close()


def done_trials(folder: Path) -> dict[str, tuple]:
    db = folder / "study.sqlite"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT trial_id, accuracies, finished_at FROM trials WHERE status='done'").fetchall()
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


def training_in_progress(folder: Path) -> bool:
    """A job's checkpoint exists after its first epoch (and it is not finished)."""
    for path in (folder / "checkpoints").glob("*.pt"):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # being replaced
            continue
        if state.get("epoch", 0) >= 1:
            return True
    return False


def wait_for(condition, proc: subprocess.Popen, limit: float = 300.0) -> bool:
    """Poll ``condition()`` while ``proc`` runs; True once it holds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _run(*cmd: str) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` (a folder) on read-only storage while inside: a read-only bind mount."""
    if not (_run("mount", "--bind", str(path), str(path))):
        pytest.skip("no read-only storage here: this process cannot mount file systems")
    try:
        if not _run("mount", "-o", "remount,bind,ro", str(path), str(path)):
            pytest.skip("no read-only storage here: a bind mount cannot be made read-only")
        yield path
    finally:
        if not _run("umount", str(path)):
            _run("umount", "-l", str(path))


@contextlib.contextmanager
def small_disk(path: Path, size: str):
    """A tmpfs of ``size`` mounted at ``path`` while inside; ``grow(size)`` resizes it."""
    path.mkdir(parents=True, exist_ok=True)
    if not _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)):
        pytest.skip("no small disk here: this process cannot mount a tmpfs")

    def grow(new: str) -> None:
        assert _run("mount", "-o", f"remount,size={new}", str(path))

    try:
        yield grow
    finally:
        _run("umount", "-l", str(path))


def no_traceback(text: str) -> None:
    for sign in ("Traceback", "terminate called", "FATAL", "Aborted"):
        assert sign not in text, text
