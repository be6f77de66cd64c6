"""`luckybag search`: Optuna's ask-and-tell loop in which every trial is a named `dvc exp run --temp` experiment."""

import json
import os
import socket
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import optuna
from optuna.trial import TrialState

from luckybag.lab.experiments import METRICS, dig
from luckybag.lab.runs import (
    DVC,
    FAILED,
    OK,
    Experiment,
    Outcome,
    alive,
    check_committed,
    exp_ref,
    forget_run,
    head,
    run_experiment,
    stage_inputs,
)
from luckybag.lab.space import DIRECTIONS, SearchError, Space, read_space, trial_values
from luckybag.lab.tools import git_file, last_line, run_tool, stop_all

STORAGE_ENV = "LUCKYBAG_SEARCH_STORAGE"
JOURNAL = Path(".dvc/tmp/search.journal")
HEARTBEAT, GRACE, POLL = 10, 30, 2.0  # seconds: a database trial without a heartbeat for GRACE s has lost its worker
WORKER = f"{socket.gethostname()}:{os.getpid()}"
optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


def open_storage(url: str | None) -> optuna.storages.BaseStorage:
    """The journal file under .dvc/tmp (no server), or a database URL such as postgresql+psycopg2://USER@HOST/DB."""
    url = url or os.environ.get(STORAGE_ENV) or ""
    if "://" not in url:
        path = Path(url or JOURNAL)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    shown = url.split("://")[0] + "://" + url.rsplit("@", 1)[-1].split("://")[-1]  # no password in messages
    for attempt in range(3):  # two workers that create the tables at once: one of them retries
        try:
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=HEARTBEAT, grace_period=GRACE, heartbeat_stale_trial_callback=retry
            )
        except Exception as err:  # SQLAlchemy's: a bad URL, a missing driver, a server that does not answer
            reason = last_line(str(err).split(chr(10))[0])
            time.sleep(attempt + 1 if "already exists" in reason or "UniqueViolation" in reason else 0)
    raise SearchError(f"storage {shown}: cannot open it ({reason})")


def retry(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """A trial whose worker died runs once more: a new number, the same params, waiting for the next worker."""
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > 1:
        return
    attrs = {key: value for key, value in trial.user_attrs.items() if key not in ("worker", "reason", "name")}
    kept = {"params": trial.params, "distributions": trial.distributions, "user_attrs": attrs}
    study.add_trial(
        optuna.trial.create_trial(state=TrialState.WAITING, system_attrs={"retry_history": history}, **kept)
    )


def fail_lost(study: optuna.Study) -> None:
    """Fail the running trials whose worker is gone (its heartbeat stale, or its process on this host dead) and run
    each once more; a trial two workers find lost at once is failed by one of them only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        if host != socket.gethostname() or not pid.isdigit() or alive(int(pid)):
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, "reason", f"its worker {host}:{pid} stopped")
            failed = storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        if failed:
            forget_run(str(trial.user_attrs.get("name")))
            retry(study, storage.get_trial(trial._trial_id))


def counted(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Trials that count towards n_trials: all but those whose retry replaced them."""
    retried = {number for t in trials for number in t.system_attrs.get("retry_history", [])}
    return sum(1 for t in trials if t.number not in retried)


def finished(study: optuna.Study, space: Space) -> bool | None:
    """True when there is nothing left to run; None when only other workers' trials run (wait: they may be lost)."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return False
    if not space.points and counted(trials) < space.n_trials:
        return False
    running = [t for t in trials if t.state == TrialState.RUNNING and t.user_attrs.get("worker") != WORKER]
    return None if running else True


def space_id(space: Space) -> str:
    return json.dumps([space.objective, sorted(map(str, space.distributions.items())), space.fixed], default=str)


def open_study(
    space: Space, storage: optuna.storages.BaseStorage, base: str, rerun: Sequence[str] = ()
) -> optuna.Study:
    """Create the study (its base commit and space in its user attrs, its points enqueued) or join it: a worker whose
    commit or space differs refuses. Points without a trial that is done, running or waiting (or in ``rerun``) are
    enqueued."""
    direction = DIRECTIONS[space.objective]
    try:  # the first machine's sampler is seeded; those that join draw their own
        sampler = optuna.samplers.TPESampler(seed=space.seed, constant_liar=True)
        study = optuna.create_study(study_name=space.study, storage=storage, sampler=sampler, direction=direction)
        study.set_user_attr("space", space_id(space))
        study.set_user_attr("base", base)
    except optuna.exceptions.DuplicatedStudyError:
        sampler = optuna.samplers.TPESampler(constant_liar=True)
        study = optuna.load_study(study_name=space.study, storage=storage, sampler=sampler)
    for _ in range(int(GRACE / POLL)):  # a study created this instant: its attrs follow
        if "base" in study.user_attrs:
            break
        time.sleep(POLL)
    attrs = study.user_attrs
    if attrs.get("base") != base:
        raise SearchError(
            f"study {space.study!r} runs from commit {str(attrs.get('base'))[:7]} but this clone is at {base[:7]}: "
            f"`git checkout {attrs.get('base')}`, or start another study with --study NAME"
        )
    if attrs.get("space") != space_id(space):
        raise SearchError(f"study {space.study!r} searches another space than this file's: use --study NAME")
    active = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    taken = {t.user_attrs.get("point") for t in study.get_trials(deepcopy=False, states=active)}
    for point in space.points:
        if point["point"] not in taken or point["point"] in rerun:
            study.enqueue_trial(point.get("params", {}), {k: v for k, v in point.items() if k != "params"})
    return study


class Run(NamedTuple):
    study: optuna.Study
    space: Space
    base: str
    log_dir: Path
    push: str | None
    lock: threading.Lock
    stop: threading.Event
    outcomes: list[Outcome]
    errors: list[str]


def objective_value(run: Run, name: str) -> float | None:
    """The objective from the experiment's own commit (its metrics file), not from the workspace."""
    path, key = METRICS[run.space.objective]
    try:
        value = dig(json.loads(git_file(exp_ref(run.base, name), path) or b"null"), *key.split("."))
    except json.JSONDecodeError:
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def best_so_far(study: optuna.Study) -> str:
    try:
        best = study.best_trial
    except ValueError:
        return "no best yet"
    return f"best so far {best.value:.4f} ({best.user_attrs.get('name')})"


def push(run: Run, name: str) -> str:
    """``dvc exp push`` of one finished trial (git refs and outputs), never with --force."""
    done = run_tool([*DVC, "exp", "push", run.push, name])
    return "" if done.returncode == 0 else f"; not pushed: {last_line(done.stderr) or done.returncode}"


def run_trial(run: Run, trial: optuna.Trial) -> Outcome:
    name = trial.user_attrs.get("label") or f"{run.space.study}-{trial.number}"  # a retry: a new name, unless labelled
    trial.set_user_attr("name", name)
    values = trial_values(run.space, trial)
    trial.set_user_attr("set", values)
    print(f"[{trial.number + 1}/{run.space.n_trials}] {name}: started\n", end="", flush=True)
    with optuna.storages._heartbeat.get_heartbeat_thread(trial._trial_id, run.study._storage):
        outcome = run_experiment(Experiment(name, values), run.base, run.log_dir)
        value = objective_value(run, name) if outcome.status == OK else None
        if outcome.status == OK and value is None:
            outcome = Outcome(name, FAILED, f"no {run.space.objective} in its metrics", outcome.seconds)
        if run.stop.is_set() and outcome.status != OK:
            outcome = Outcome(name, FAILED, "interrupted", outcome.seconds)
        note = push(run, name) if value is not None and run.push else ""
    try:
        if outcome.status == OK:
            run.study.tell(trial, value)
        else:
            trial.set_user_attr("reason", outcome.reason)
            run.study.tell(trial, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        note += "; another worker had given this trial up"
    result = f"{run.space.objective} {value:.4f}" if outcome.status == OK else f"FAILED: {outcome.reason}"
    print(
        f"[{trial.number + 1}/{run.space.n_trials}] {name}: {result} after {outcome.seconds:.0f} s{note}; "
        f"{best_so_far(run.study)}\n",
        end="",
        flush=True,
    )  # one write: parallel workers' lines stay whole
    return outcome


def work(run: Run, done: threading.Event) -> None:
    try:
        ask_run_tell(run)
    finally:
        done.set()


def ask_run_tell(run: Run) -> None:
    """One local worker: ask, run, tell, until nothing is left or Ctrl-C; waits while only lost trials may remain."""
    try:
        while not run.stop.is_set():
            with run.lock:  # one ask at a time in this process
                fail_lost(run.study)
                done = finished(run.study, run.space)
                trial = run.study.ask() if done is False else None
                if trial is not None:
                    trial.set_user_attr("worker", WORKER)
            if done:
                return
            if trial is None:
                time.sleep(POLL)
            else:
                run.outcomes.append(run_trial(run, trial))
    except Exception as err:  # the storage went away: stop this worker with one line
        run.errors.append(f"{type(err).__name__}: {last_line(str(err))}")


def run_search(
    space: Space, *, storage: str | None, baseline: str, log_dir: Path, push: str | None, rerun: Sequence[str] = ()
) -> tuple[optuna.Study, list[Outcome], bool]:
    """Join or create the study and run ``space.workers`` local workers until nothing is left, or Ctrl-C (then each
    running experiment is stopped cleanly and its trial failed): the study, this process's outcomes, interrupted."""
    study = open_study(space, open_storage(storage), baseline, rerun)
    run = Run(study, space, baseline, log_dir, push, threading.Lock(), threading.Event(), [], [])
    dones = [threading.Event() for _ in range(space.workers)]  # not Thread.join: Ctrl-C can break its state
    try:
        for n, done in enumerate(dones):
            threading.Thread(target=work, args=(run, done), name=f"search-{n}", daemon=True).start()
        for done in dones:
            done.wait()  # Ctrl-C arrives in the main thread, here
    except KeyboardInterrupt:
        run.stop.set()
        stop_all()  # each running `dvc exp run` stops cleanly (DVC removes its temporary copy)
        for done in dones:
            done.wait(timeout=120)
    if run.errors:
        raise SearchError(f"study {space.study!r}: {run.errors[0]}")
    return study, run.outcomes, run.stop.is_set()


def run(
    path: Path, report: Path, *, report_only: bool, workers: int | None, n_trials: int | None, **search: Any
) -> int:
    """``luckybag search``: run (or join) the space's study, then write its report; 130 when interrupted."""
    from luckybag.lab.search_report import write_search_report

    space = read_space(path)
    space = space._replace(workers=workers or space.workers, n_trials=n_trials or space.n_trials)
    if search.get("study"):
        space = space._replace(study=search["study"])
    baseline = head()
    if report_only:
        try:
            study = optuna.load_study(study_name=space.study, storage=open_storage(search["storage"]))
        except KeyError:
            raise SearchError(f"no study {space.study!r} in this storage (run the search first)") from None
        interrupted = False
    else:
        check_committed(stage_inputs())
        log_dir = report.parent / f"{report.stem}-logs"
        study, _, interrupted = run_search(
            space, storage=search["storage"], baseline=baseline, log_dir=log_dir, push=search["push"]
        )
    print(f"report: {write_search_report(study, space, baseline, report)}")
    return 130 if interrupted else 0
