"""`luckybag grid --jobs`: experiments side by side, outcomes in grid order, Ctrl-C stops the running ones."""

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from luckybag.lab import grid
from luckybag.lab.grid import FAILED, NOT_RUN, OK, Experiment, Outcome

EXPERIMENTS = [Experiment(name, {}) for name in ("a", "b", "c")]


def test_jobs_run_side_by_side_and_outcomes_keep_the_grid_order(monkeypatch: pytest.MonkeyPatch) -> None:
    both_running = threading.Barrier(2, timeout=10)  # broken unless two experiments run at once

    def run_experiment(exp: Experiment, baseline: str, log_dir: Path) -> Outcome:
        if exp.name in ("a", "b"):
            both_running.wait()
        return Outcome(exp.name, OK if exp.name != "b" else FAILED, "" if exp.name != "b" else "boom", 1.0)

    monkeypatch.setattr(grid, "run_experiment", run_experiment)
    outcomes = grid.run_grid(EXPERIMENTS, "0" * 40, Path("logs"), jobs=2)
    assert [(o.name, o.status, o.reason) for o in outcomes] == [("a", OK, ""), ("b", FAILED, "boom"), ("c", OK, "")]


def test_one_job_runs_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    running, most = set(), []

    def run_experiment(exp: Experiment, baseline: str, log_dir: Path) -> Outcome:
        running.add(exp.name)
        most.append(len(running))
        running.discard(exp.name)
        return Outcome(exp.name, OK)

    monkeypatch.setattr(grid, "run_experiment", run_experiment)
    assert [o.status for o in grid.run_grid(EXPERIMENTS, "0" * 40, Path("logs"), jobs=1)] == [OK] * 3
    assert max(most) == 1


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Python's own SIGINT handler: a process started in the background (CI's `cmd &`) inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_stops_the_running_ones_and_starts_no_other(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped, started = threading.Event(), []

    def run_experiment(exp: Experiment, baseline: str, log_dir: Path) -> Outcome:
        started.append(exp.name)
        if len(started) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: Python raises it in the main thread
        assert stopped.wait(timeout=10), "stop_all was not called"
        return Outcome(exp.name, FAILED, "exit status 130")  # what a stopped `dvc exp run` gives

    monkeypatch.setattr(grid, "run_experiment", run_experiment)
    monkeypatch.setattr(grid, "stop_all", stopped.set)
    outcomes = grid.run_grid(EXPERIMENTS, "0" * 40, Path("logs"), jobs=2)
    assert [(o.name, o.status, o.reason) for o in outcomes] == [
        ("a", FAILED, "interrupted"),
        ("b", FAILED, "interrupted"),
        ("c", NOT_RUN, "interrupted before it started"),
    ]
    assert sorted(started) == ["a", "b"], started
    assert "[1/3] a: interrupted" in capsys.readouterr().out


def test_stop_all_interrupts_every_running_tool_and_lets_it_finish() -> None:
    from luckybag.lab.tools import run_tool, stop_all

    # Each tool exits by itself, with status 1, a second after its first SIGINT (not killed: that is -9).
    script = (
        "import signal, sys, time\n"
        "hits = []\n"
        "signal.signal(signal.SIGINT, lambda *_: hits.append(1))\n"
        "print('ready', flush=True)\n"
        "while not hits: time.sleep(0.01)\n"
        "time.sleep(1)\n"
        "sys.exit(len(hits))\n"
    )
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(run_tool([sys.executable, "-c", script]).returncode))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2)  # both started and installed their handler
    stop_all()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [1, 1]
