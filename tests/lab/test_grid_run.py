"""The search engine's local workers (what replaced the grid's thread scheduler), with `dvc exp run` stood in for:
trials side by side, one at a time with one worker, Ctrl-C stops the running ones; and one-line errors."""

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from luckybag.errors import LuckybagError
from luckybag.lab import search
from luckybag.lab.runs import FAILED, OK, Experiment, Outcome
from luckybag.lab.space import Space, load_space

POINTS = tuple({"point": name, "label": name, "set": {"train.seed": n}} for n, name in enumerate("abc"))


def run_points(tmp_path: Path, workers: int) -> tuple[optuna.Study, list[Outcome], bool]:
    space = Space("s", {}, {}, POINTS, len(POINTS), workers)
    storage = str(tmp_path / "study.journal")
    return search.run_search(space, storage=storage, baseline="0" * 40, log_dir=tmp_path, push=None)


@pytest.fixture
def no_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "objective_value", lambda run, name: 0.5)


def overlap(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Stand-in experiments of 0.3 s that record how many ran at once."""
    running, most, lock = set(), [], threading.Lock()

    def run_experiment(exp: Experiment, baseline: str, log_dir: Path) -> Outcome:
        with lock:
            running.add(exp.name)
            most.append(len(running))
        time.sleep(0.3)
        with lock:
            running.discard(exp.name)
        return Outcome(exp.name, OK if exp.name != "b" else FAILED, "" if exp.name != "b" else "boom", 0.3)

    monkeypatch.setattr(search, "run_experiment", run_experiment)
    return most


@pytest.mark.usefixtures("no_metrics")
def test_two_workers_run_side_by_side_each_point_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    most = overlap(monkeypatch)
    study, outcomes, interrupted = run_points(tmp_path, workers=2)
    assert max(most) == 2 and not interrupted
    assert sorted((o.name, o.status, o.reason) for o in outcomes) == [
        ("a", OK, ""),
        ("b", FAILED, "boom"),
        ("c", OK, ""),
    ]
    trials = {t.user_attrs["name"]: t for t in study.get_trials()}
    assert len(study.get_trials()) == 3 and trials["b"].user_attrs["reason"] == "boom"
    assert trials["c"].user_attrs["set"] == {"train.seed": 2}


@pytest.mark.usefixtures("no_metrics")
def test_one_worker_runs_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same measure sees 2 at once with two workers (above), so this can fail."""
    most = overlap(monkeypatch)
    _, outcomes, _ = run_points(tmp_path, workers=1)
    assert len(outcomes) == 3 and max(most) == 1


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Python's own SIGINT handler: a process started in the background (CI's `cmd &`) inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_raises", "no_metrics")
def test_ctrl_c_stops_the_running_ones_and_starts_no_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stopped, started = threading.Event(), []

    def run_experiment(exp: Experiment, baseline: str, log_dir: Path) -> Outcome:
        started.append(exp.name)
        if len(started) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: Python raises it in the main thread
        assert stopped.wait(timeout=10), "stop_all was not called"
        return Outcome(exp.name, FAILED, "exit status 130")  # what a stopped `dvc exp run` gives

    monkeypatch.setattr(search, "run_experiment", run_experiment)
    monkeypatch.setattr(search, "stop_all", stopped.set)
    study, outcomes, interrupted = run_points(tmp_path, workers=2)
    assert interrupted and sorted(started) == ["a", "b"]
    assert sorted((o.name, o.status, o.reason) for o in outcomes) == [
        ("a", FAILED, "interrupted"),
        ("b", FAILED, "interrupted"),
    ]
    states = sorted((t.user_attrs["label"], t.state.name) for t in study.get_trials())
    assert states == [("a", "FAIL"), ("b", "FAIL"), ("c", "WAITING")]  # c never started: the next run takes it


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


def test_a_dense_space_samples_whole_networks(tmp_path: Path) -> None:
    raw = {
        "params": {
            "train.hidden_layers": {
                "layers": {"int": [1, 3]},
                "units": {"categorical": [128, 512]},
                "activation": {"categorical": ["relu", "gelu"]},
            },
            "train.learning_rate": {"float": [1e-4, 1e-2], "log": True},
            "export.check": {"categorical": [["onnx"]]},
        },
        "defaults": {"train.monitor": "val_accuracy"},
        "seed": 1,
    }
    space = load_space(Path("s.yaml"), raw)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
    values = search.trial_values(space, study.ask())
    layers = values["train.hidden_layers"]
    assert 1 <= len(layers) <= 3 and layers[0]["units"] in (128, 512) and layers[0]["activation"] in ("relu", "gelu")
    assert 1e-4 <= values["train.learning_rate"] <= 1e-2 and values["export.check"] == ["onnx"]
    assert values["train.monitor"] == "val_accuracy" and space.study == "s" and space.n_trials == 20


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"params": {"train.dropout": {"float": [0.5]}}}, "s.yaml: train.dropout: float needs [low, high]"),
        ({"params": {"train.lr": {"float": [0, 1], "log": True}}}, "s.yaml: train.lr: "),
        ({"params": {"train.dropout": [0, 0.3]}}, "s.yaml: train.dropout: expected one of"),
        ({"params": {"train.dropout": {"float": [0, 0.5]}}, "sampler": "grid"}, "s.yaml: sampler grid takes"),
        ({"params": {"a.b": {"int": [1, 2]}}, "sampler": "cmaes"}, "s.yaml: sampler is tpe or grid"),
        ({"params": {"a.b": {"int": [1, 2]}}, "objective": "test accuracy"}, "s.yaml: sampler is tpe or grid, obj"),
        ({"params": {}}, "s.yaml: 'params' must map"),
        ({"params": {"a.b": {"int": [1, 2]}}, "workers": 0}, "s.yaml: n_trials and workers"),
    ],
)
def test_bad_spaces_are_one_line_errors(raw: dict, message: str) -> None:
    with pytest.raises(LuckybagError) as err:
        load_space(Path("s.yaml"), raw)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize("url", ["postgresql+psycopg2://nobody@127.0.0.1:1/none", "nosuchdb://x/y"])
def test_a_bad_storage_is_a_one_line_error(url: str) -> None:
    with pytest.raises(LuckybagError) as err:
        search.open_storage(url)
    assert str(err.value).startswith("storage ") and "cannot open it" in str(err.value) and "\n" not in str(err.value)
