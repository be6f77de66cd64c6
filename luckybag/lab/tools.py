"""git and dvc as subprocesses: this interpreter's tools first on PATH, one-line errors, `--json` output read."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from luckybag.errors import LuckybagError


class ToolError(LuckybagError):
    """A bad revision or a git/dvc command that failed."""


RUNNING: set[subprocess.Popen] = set()  # what run_tool runs now, from any thread: for stop_all
_running_lock = threading.Lock()


def last_line(text: str) -> str:
    """The last line of ``text`` that is not blank, stripped; "" if there is none."""
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")


def run_tool(args: Sequence[str], text: bool = True) -> subprocess.CompletedProcess[Any]:
    """Run ``args`` capturing its output in its own process group, with this interpreter's bin directory (its dvc,
    its python for the stages) first on PATH. Ctrl-C reaches the main thread only: there it stops the run as
    :func:`stop_all` does and is raised again; a thread that waits for runs in other threads calls ``stop_all``."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "DVC_NO_ANALYTICS": "1"}
    pipe = subprocess.PIPE
    try:
        proc = subprocess.Popen(list(args), env=env, stdout=pipe, stderr=pipe, text=text, start_new_session=True)
    except FileNotFoundError:
        raise ToolError(f"{args[0]}: command not found (activate the project's .venv)") from None
    with _running_lock:
        RUNNING.add(proc)
    with proc:
        try:
            stdout, stderr = proc.communicate()
        except KeyboardInterrupt:
            stop_all([proc], wait=proc.communicate)  # this thread reads its output: keep reading while it stops
            raise
        finally:
            with _running_lock:
                RUNNING.discard(proc)
    return subprocess.CompletedProcess(list(args), proc.returncode, stdout, stderr)


def stop_all(procs: Sequence[subprocess.Popen] | None = None, wait: Callable[..., Any] | None = None) -> None:
    """Stop ``procs`` (default: every run of ``run_tool`` in progress; their threads then see a failed run): one
    SIGINT to each process group at once, as from a terminal, a minute for all of them to stop cleanly (DVC then
    removes its temporary copy), then SIGKILL. ``wait`` (default: each one's ``wait``) waits for a process."""
    if procs is None:
        with _running_lock:
            procs = list(RUNNING)
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + 60.0
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
            (wait or proc.wait)(timeout=max(0.0, deadline - time.monotonic()))
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def command(args: Sequence[str]) -> str:
    """Run ``args``; return its stdout; raise ToolError with its last stderr line."""
    done = run_tool(args)
    if done.returncode != 0:
        raise ToolError(f"{' '.join(args[:3])} failed: {last_line(done.stderr) or f'exit status {done.returncode}'}")
    return done.stdout


def dvc_json(args: Sequence[str]) -> Any:
    try:
        return json.loads(command(["dvc", *args, "--json"]) or "null")
    except json.JSONDecodeError:
        raise ToolError(f"dvc {' '.join(args[:2])}: output is not JSON") from None


def resolve_rev(rev: str) -> str:
    """The commit SHA of ``rev``; a one-line error for anything git does not know as a commit."""
    done = run_tool(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"])
    if done.returncode != 0 or not done.stdout.strip():
        raise ToolError(f"unknown revision '{rev}' (not a commit in this git repository)")
    return done.stdout.strip()


def git_file(rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` at commit ``rev``, or None if it is not there."""
    done = run_tool(["git", "show", f"{rev}:{path}"], text=False)
    return done.stdout if done.returncode == 0 else None
