"""`luckybag search` for real: trials as DVC experiments shared by two "machines" (clones) through a PostgreSQL
server, a bare git remote and a directory DVC remote; a worker SIGKILLed mid-trial; workers that must refuse."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from luckybag.lab import search
from luckybag.lab.space import load_space
from tests.conftest import run
from tests.lab.conftest import clone

pytestmark = pytest.mark.slow
# The points vary the baseline stage only: each trial re-runs that stage alone (seconds, where training costs tens).
SPACE = {"sampler": "grid", "params": {"baseline.max_iter": {"categorical": [3, 4, 5]}}}


def write_space(path: Path, study: str, values: list[int]) -> Path:
    space = {**SPACE, "study": study, "params": {"baseline.max_iter": {"categorical": values}}}
    path.write_text(yaml.safe_dump(space))
    return path


def luckybag_search(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "luckybag", "search", *args], cwd, check=check)


def shown_names(project: Path) -> list[str]:
    """Every experiment `dvc exp show` lists (with its val accuracy checked present), once per listing."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    exps = [exp for row in shown for group in row.get("experiments") or [] for exp in group["revs"]]
    assert all("val" in exp["data"]["metrics"]["metrics/eval.json"]["data"] for exp in exps)
    return sorted(exp["name"] for exp in exps)


def study_of(storage: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=search.open_storage(storage))


def test_two_machines_share_one_study_on_postgres(shared: tuple[Path, Path], postgres: str, tmp_path: Path) -> None:
    project, bare = shared
    machine_b = clone(bare, tmp_path / "b")
    space = str(write_space(tmp_path / "space.yaml", "pg", [3, 4, 5]))
    args = [sys.executable, "-m", "luckybag", "search", space, "--storage", postgres, "--push", "origin"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [".", os.environ.get("PYTHONPATH")]))}
    workers = [
        subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for cwd in (project, machine_b)
    ]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs

    trials = study_of(postgres, "pg").get_trials()
    names = sorted(t.user_attrs["name"] for t in trials)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3 and names == ["pg-0", "pg-1", "pg-2"]
    assert sorted(t.user_attrs["set"]["baseline.max_iter"] for t in trials) == [3, 4, 5]
    assert all(sum(f"] {name}: started" in out for out in outputs) == 1 for name in names)  # each ran once

    machine_c = clone(bare, tmp_path / "c")
    run(["dvc", "exp", "pull", "origin"], machine_c)
    assert shown_names(machine_c) == names
    luckybag_search(machine_c, space, "--storage", postgres, "--report-only")
    report = (machine_c / "reports/search.md").read_text()
    assert all(f"`{name}`" in report for name in names) and "3 trials done, 0 failed" in report
    assert (machine_c / "reports/search_history.png").is_file()
    best = report.split("dvc exp apply ", 1)[1].split()[0]
    run(["dvc", "exp", "apply", best], machine_c)
    run(["dvc", "pull"], machine_c)
    applied = yaml.safe_load((machine_c / "params.yaml").read_text())["baseline"]["max_iter"]
    assert applied == next(t.user_attrs["set"]["baseline.max_iter"] for t in trials if t.user_attrs["name"] == best)


def test_a_worker_killed_mid_trial_leaves_the_study_usable(shared: tuple[Path, Path], tmp_path: Path) -> None:
    project, _ = shared
    space = str(write_space(tmp_path / "space.yaml", "kill", [6, 7]))
    log = tmp_path / "a.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [".", os.environ.get("PYTHONPATH")]))}
    with log.open("w") as out:
        worker = subprocess.Popen([sys.executable, "-m", "luckybag", "search", space], cwd=project, env=env, stdout=out)
        deadline = time.monotonic() + 120
        while ": started" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # mid-trial: `dvc exp run` is running a stage
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    luckybag_search(project, space)  # another worker: fails the lost trial, runs it once more and the rest

    trials = study_of(str(project / ".dvc/tmp/search.journal"), "kill").get_trials()
    done = [t for t in trials if t.state.name == "COMPLETE"]
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert sorted(t.user_attrs["set"]["baseline.max_iter"] for t in done) == [6, 7]  # nothing lost
    assert len(failed) == 1 and "stopped" in failed[0].user_attrs["reason"]
    kill_names = [name for name in shown_names(project) if name.startswith("kill-")]
    names = sorted(t.user_attrs["name"] for t in done)
    assert failed[0].user_attrs["name"] not in names  # the retry ran under a new name
    assert kill_names == names, run(["git", "for-each-ref", "refs/exps"], project).stdout  # nothing twice or half


def test_a_worker_on_another_commit_or_with_an_uncommitted_edit_refuses(
    shared: tuple[Path, Path], tmp_path: Path
) -> None:
    project, _ = shared
    space_path = write_space(tmp_path / "space.yaml", "refuse", [3])
    storage = str(tmp_path / "refuse.journal")
    base = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    search.open_study(
        load_space(space_path, yaml.safe_load(space_path.read_text())), search.open_storage(storage), base
    )
    params = project / "params.yaml"
    committed = params.read_text()
    try:
        params.write_text(committed.replace("dropout: 0.3", "dropout: 0.1"))
        done = luckybag_search(project, str(space_path), "--storage", storage, check=False)
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
        assert done.stderr.startswith("error: experiments start from the committed code and params")
        params.write_text(committed)
        (project / "notes.md").write_text("another commit\n")
        run(["git", "add", "notes.md"], project)
        run(["git", "commit", "-qm", "another commit"], project)
        done = luckybag_search(project, str(space_path), "--storage", storage, check=False)
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
        assert done.stderr.startswith(f"error: study 'refuse' runs from commit {base[:7]} but this clone is at ")
    finally:
        params.write_text(committed)
        run(["git", "reset", "-q", "--hard", base], project)
    assert study_of(storage, "refuse").get_trials(states=(optuna.trial.TrialState.RUNNING,)) == []
