"""`luckybag grid`: every combination of ``grid.yaml``'s options run as a named DVC experiment, then reported."""

import itertools
import re
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import optuna

from luckybag.errors import LuckybagError
from luckybag.lab.grid_report import write_grid_report
from luckybag.lab.runs import (
    FAILED,
    NOT_RUN,
    OK,
    Experiment,
    Outcome,
    check_committed,
    check_name,
    head,
    read_yaml,
    run_command,
    stage_inputs,
)


class GridError(LuckybagError):
    """A bad grid file, an unknown experiment name or a repository the grid cannot run in."""


class Grid(NamedTuple):
    keys: tuple[str, ...]  # every key the grid sets: the report's param columns
    experiments: tuple[Experiment, ...]
    axes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (axis, its option labels), in the file's order


def check_overrides(overrides: Any, where: str) -> dict[str, Any]:
    if not isinstance(overrides, dict | None):
        raise GridError(f"{where}: expected a mapping of params.yaml keys to values, got {overrides!r}")
    for key in overrides or {}:
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[\w-]+)*", key):
            raise GridError(f"{where}: {key!r} is not a params.yaml key like 'train.dropout'")
    return dict(overrides or {})


def load_grid(path: Path) -> Grid:
    """Every combination of one option per axis, named by the option labels joined with '-'."""
    raw = read_yaml(path)
    axes = raw.get("axes") if isinstance(raw, dict) else None
    if not isinstance(axes, dict) or not axes or set(raw) - {"axes", "defaults"}:
        raise GridError(f"{path}: expected 'axes' (axis: {{label: {{key: value}}}}) and optionally 'defaults'")
    defaults = check_overrides(raw.get("defaults"), f"{path}: defaults")
    options: list[list[tuple[str, dict[str, Any]]]] = []
    for axis, labels in axes.items():
        if not isinstance(labels, dict) or not labels:
            raise GridError(f"{path}: axis {axis!r} needs at least one option (label: {{key: value}})")
        options.append([(str(label), check_overrides(o, f"{path}: {axis}.{label}")) for label, o in labels.items()])
    option_keys = [key for axis in options for _label, overrides in axis for key in overrides]
    keys = dict.fromkeys(option_keys + list(defaults))  # each once, in first-seen order
    experiments = []
    for combination in itertools.product(*options):
        name = "-".join(label for label, _ in combination)
        check_name(name)
        params = dict(defaults)
        for _label, overrides in combination:
            params |= overrides  # a later axis wins a key that two set
        experiments.append(Experiment(name, params, tuple(label for label, _ in combination)))
    duplicates = sorted(name for name, n in Counter(exp.name for exp in experiments).items() if n > 1)
    if duplicates:
        raise GridError(f"{path}: experiment names repeat: {', '.join(duplicates)} (make the labels unique)")
    axes_labels = tuple((str(axis), tuple(str(label) for label in labels)) for axis, labels in axes.items())
    return Grid(tuple(keys), tuple(experiments), axes_labels)


def select(grid: Grid, only: Sequence[str] | None) -> list[Experiment]:
    known = [exp.name for exp in grid.experiments]
    unknown = [name for name in only or [] if name not in known]
    if unknown:
        raise GridError(f"unknown experiment {unknown[0]!r}; the grid has: {', '.join(known)}")
    return [exp for exp in grid.experiments if not only or exp.name in only]


def outcomes_of(study: optuna.Study, experiments: Sequence[Experiment]) -> list[Outcome]:
    """Each experiment's latest trial in the study, whichever worker or machine ran it."""
    latest = {t.user_attrs.get("point"): t for t in study.get_trials(deepcopy=False)}  # by number: the last wins
    states = {optuna.trial.TrialState.COMPLETE: OK, optuna.trial.TrialState.FAIL: FAILED}
    outcomes = []
    for exp in experiments:
        trial = latest.get(exp.name)
        status = states.get(trial.state, NOT_RUN) if trial else NOT_RUN
        reason = (
            "" if status == OK else trial.user_attrs.get("reason", "") if trial else "interrupted before it started"
        )
        seconds = trial.duration.total_seconds() if trial and trial.duration else 0.0
        outcomes.append(Outcome(exp.name, status, reason or f"{trial.state.name.lower()} elsewhere", seconds))
    return outcomes


def run_points(grid_path: Path, experiments: list[Experiment], baseline: str, log_dir: Path, **search: Any) -> tuple:
    """The grid as a search: each experiment an enqueued trial named by its labels; ``only`` ones run again."""
    from luckybag.lab.search import run_search
    from luckybag.lab.space import Space

    points = tuple({"point": exp.name, "label": exp.name, "set": exp.params} for exp in experiments)
    study = search.pop("study") or f"{grid_path.stem}-{baseline[:7]}"
    space = Space(study, {}, {}, points, len(points), search.pop("jobs"))
    study, _ran, interrupted = run_search(space, baseline=baseline, log_dir=log_dir, **search)
    return outcomes_of(study, experiments), interrupted


def run(grid_path: Path, only: list[str] | None, report: Path, *, report_only: bool, dry: bool, **search: Any) -> int:
    """Run the grid (or ``only`` some of it, again) through the search engine, print a summary and write the
    report; 0 ok, 1 failures, 130 interrupted. ``search``: jobs, storage, push, study."""
    grid = load_grid(grid_path)
    experiments = select(grid, only)
    if dry:
        print(*(shlex.join(run_command(exp)) for exp in experiments), sep="\n")
        return 0
    baseline = head()
    outcomes: list[Outcome] = []
    interrupted = False
    if not report_only:
        check_committed(stage_inputs())
        log_dir = report.parent / "grid-logs"
        outcomes, interrupted = run_points(grid_path, experiments, baseline, log_dir, rerun=only or (), **search)
        n = Counter(outcome.status for outcome in outcomes)
        print(f"grid: {n[OK]} of {len(outcomes)} experiments ok, {n[FAILED]} failed, {n[NOT_RUN]} not run", flush=True)
        for outcome in (outcome for outcome in outcomes if outcome.status != OK):
            print(f"{outcome.status}: {outcome.name}: {outcome.reason}", file=sys.stderr)
    failures = {o.name: f"{o.status}: {o.reason}" for o in outcomes if o.status != OK}
    # A full run reports what it ran; a subset or a rebuild must not replace a fuller report.
    print(
        f"report: {write_grid_report(grid, grid_path, baseline, failures, report, keep_fuller=bool(only or report_only))}"
    )
    return 130 if interrupted else 1 if failures else 0
