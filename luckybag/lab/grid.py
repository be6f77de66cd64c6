"""`luckybag grid`: every combination of ``grid.yaml``'s options run as a named DVC experiment, then reported."""

import itertools
import json
import re
import shlex
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from luckybag.errors import LuckybagError
from luckybag.io import write_text
from luckybag.lab.grid_report import write_grid_report
from luckybag.lab.tools import command, last_line, resolve_rev, run_tool, stop_all

BACKUP_SUFFIX = "--previous"
OK, FAILED, NOT_RUN = "ok", "failed", "not run"
ABSL_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d:)")
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)(:|$)")
FAILED_STAGE = re.compile(r"^ERROR: failed to reproduce '([^']+)'")
DVC = ["dvc", "--wait-for-lock"]  # experiments run side by side: each waits for the repository lock
REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\/]|\.\.|@\{|^[-.]|\.$|\.lock$|^@$")
GIT_STATES = {"?": "untracked", "A": "not committed", "D": "deleted", "R": "renamed"}


class GridError(LuckybagError):
    """A bad grid file, an unknown experiment name or a repository the grid cannot run in."""


class Experiment(NamedTuple):
    name: str
    params: dict[str, Any]  # params.yaml key (dotted) -> value


class Grid(NamedTuple):
    keys: tuple[str, ...]  # every key the grid sets: the report's param columns
    experiments: tuple[Experiment, ...]


class Outcome(NamedTuple):
    name: str
    status: str  # OK, FAILED or NOT_RUN
    reason: str = ""
    seconds: float = 0.0


def check_name(name: str) -> None:
    """DVC experiment names become git refs (refs/exps/../NAME): refuse what git or DVC refuse."""
    if not name or REF_FORBIDDEN.search(name):
        raise GridError(
            f"experiment name {name!r} is not a valid git ref name "
            "(no spaces, '/', '..', '~^:?*[\\', '@{'; not starting with '-' or '.'; not ending with '.' or '.lock')"
        )


def check_overrides(overrides: Any, where: str) -> dict[str, Any]:
    if not isinstance(overrides, dict | None):
        raise GridError(f"{where}: expected a mapping of params.yaml keys to values, got {overrides!r}")
    for key in overrides or {}:
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[\w-]+)*", key):
            raise GridError(f"{where}: {key!r} is not a params.yaml key like 'train.dropout'")
    return dict(overrides or {})


def load_grid(path: Path) -> Grid:
    """Every combination of one option per axis, named by the option labels joined with '-'."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GridError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise GridError(f"{path}: not valid YAML ({last_line(str(err))})") from None
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
        experiments.append(Experiment(name, params))
    duplicates = sorted(name for name, n in Counter(exp.name for exp in experiments).items() if n > 1)
    if duplicates:
        raise GridError(f"{path}: experiment names repeat: {', '.join(duplicates)} (make the labels unique)")
    return Grid(tuple(keys), tuple(experiments))


def select(grid: Grid, only: Sequence[str] | None) -> list[Experiment]:
    known = [exp.name for exp in grid.experiments]
    unknown = [name for name in only or [] if name not in known]
    if unknown:
        raise GridError(f"unknown experiment {unknown[0]!r}; the grid has: {', '.join(known)}")
    return [exp for exp in grid.experiments if not only or exp.name in only]


def run_command(exp: Experiment) -> list[str]:
    """``dvc exp run`` with each value as ``-S`` parses it (YAML): JSON, strings unquoted where YAML reads them back."""
    options = []
    for key, value in exp.params.items():
        unquoted = isinstance(value, str) and yaml.safe_load(value) == value  # YAML reads it back as this string
        options += ["-S", f"{key}={value if unquoted else json.dumps(value)}"]
    return [*DVC, "exp", "run", "--temp", "-n", exp.name, *options]


def failure_reason(stderr: str, stdout: str, returncode: int) -> str:
    """The most telling stderr line: the last of our stages' ``error: ...``, else of the exceptions, else of DVC's
    ``ERROR:`` lines, else of any; then the name of the stage DVC says failed, unless the line is DVC's own."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not ABSL_LOG.match(line.strip())]
    failed_stages = [m.group(1) for m in map(FAILED_STAGE.match, lines) if m]
    ours = [line for line in lines if line.startswith("error:")]
    exceptions = [line for line in lines if EXCEPTION.match(line)]
    dvc_errors = [line for line in lines if line.startswith("ERROR:")]
    telling = ours or exceptions or dvc_errors or lines
    reason = telling[-1] if telling else last_line(stdout) or f"exit status {returncode}"
    return f"{reason} (stage '{failed_stages[-1]}')" if failed_stages and not FAILED_STAGE.match(reason) else reason


def run_experiment(exp: Experiment, baseline: str, log_dir: Path) -> Outcome:
    """Run one experiment; an existing one of that name is replaced on success and kept on failure."""
    start = time.monotonic()
    ref = f"refs/exps/{baseline[:2]}/{baseline[2:]}/{exp.name}"
    backup = ref + BACKUP_SUFFIX
    had_one = run_tool(["git", "show-ref", "--verify", "--quiet", ref]).returncode == 0
    if had_one:
        command([*DVC, "exp", "rename", "-f", ref, exp.name + BACKUP_SUFFIX])
    done = None
    try:
        done = run_tool(run_command(exp))
        log = f"$ {shlex.join(run_command(exp))}\n# exit status {done.returncode}\n\n{done.stdout}\n{done.stderr}"
        write_text(log_dir / f"{exp.name}.log", log)
    finally:
        if had_one:
            ran = done is not None and done.returncode == 0
            command([*DVC, "exp", "remove", backup] if ran else [*DVC, "exp", "rename", "-f", backup, exp.name])
    seconds = time.monotonic() - start
    if done.returncode == 0:
        return Outcome(exp.name, OK, seconds=seconds)
    kept = "; the previous result of this name is kept" if had_one else ""
    return Outcome(exp.name, FAILED, failure_reason(done.stderr, done.stdout, done.returncode) + kept, seconds)


def run_grid(experiments: Sequence[Experiment], baseline: str, log_dir: Path, jobs: int = 1) -> list[Outcome]:
    """Run the experiments ``jobs`` at a time, printing ``[n/N] NAME: ...`` lines; outcomes in grid order. Each is its
    own ``dvc exp run --temp``, not ``dvc queue`` (its parallel workers lose or hang experiments); runs are deterministic.
    """
    lock, interrupted = threading.Lock(), threading.Event()
    waiting = list(enumerate(experiments, 1))
    outcomes: dict[str, Outcome] = {}

    def worker() -> None:
        while True:
            with lock:  # Ctrl-C sets `interrupted` under this lock: nothing starts after it
                if interrupted.is_set() or not waiting:
                    return
                index, exp = waiting.pop(0)
            progress = f"[{index}/{len(experiments)}] {exp.name}:"
            print(f"{progress} running\n", end="", flush=True)  # one write each: parallel runs' lines stay whole
            try:
                outcome = run_experiment(exp, baseline, log_dir)
            except LuckybagError as err:
                outcome = Outcome(exp.name, FAILED, str(err))
            if interrupted.is_set() and outcome.status != OK:
                outcome = Outcome(exp.name, FAILED, "interrupted")
            took = f"{outcome.seconds:.0f} s"
            result = f"ok ({took})" if outcome.status == OK else f"FAILED after {took}: {outcome.reason}"
            print(f"{progress} {'interrupted' if outcome.reason == 'interrupted' else result}\n", end="", flush=True)
            outcomes[exp.name] = outcome

    workers = [threading.Thread(target=worker, name=f"grid-{n}") for n in range(min(jobs, len(experiments)))]
    try:
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()  # Ctrl-C arrives in the main thread, here
    except KeyboardInterrupt:
        with lock:
            interrupted.set()
        stop_all()
        for thread in workers:
            if thread.ident is not None:
                thread.join()
    return [
        outcomes.get(exp.name) or Outcome(exp.name, NOT_RUN, "interrupted before it started") for exp in experiments
    ]


def stage_inputs(dvc_yaml: Path = Path("dvc.yaml")) -> list[str]:
    """What the stages read from git: dvc.yaml, params files, deps no stage writes, and the code's folders."""
    try:
        stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        raise GridError(f"{dvc_yaml}: cannot read its stages") from None
    stages = [stage for stage in stages.values() if isinstance(stage, dict)]

    def paths(*kinds: str) -> set[str]:  # entries are paths or one-key {path: options} mappings
        entries = [entry for stage in stages for kind in kinds for entry in stage.get(kind) or []]
        return {str(key) for entry in entries for key in (entry if isinstance(entry, dict) else [entry])}

    written = paths("outs", "metrics", "plots")
    sources = {dep for dep in paths("deps") if not any(dep == out or dep.startswith(out + "/") for out in written)}
    # A params entry is a key of params.yaml, or a {file: keys} mapping.
    mappings = [entry for stage in stages for entry in stage.get("params") or [] if isinstance(entry, dict)]
    params = {str(file) for mapping in mappings for file in mapping}
    # A module the code imports but dvc.yaml does not list would be missing from a --temp copy too.
    folders = {str(Path(dep).parent) for dep in sources if dep.endswith(".py") and Path(dep).parent != Path(".")}
    return sorted({str(dvc_yaml), "params.yaml", *params, *sources, *folders})


def check_committed(paths: Sequence[str]) -> None:
    """Refuse to run when what the stages read differs from HEAD: ``dvc exp run --temp`` would copy uncommitted changes
    (not untracked files). Inside a folder of ``paths`` only untracked files count: a module the code may import."""
    status = command(["git", "status", "--porcelain=v1", "--untracked-files=all", "--", *paths]).splitlines()
    states = {line[3:]: GIT_STATES.get(line[:2].strip()[:1], "modified") for line in status}  # "XY PATH"
    found = [f"{path} ({state})" for path, state in states.items() if path in paths or state == "untracked"]
    if found:
        raise GridError(
            f"experiments start from the committed code and params, but these differ from HEAD: {', '.join(found)}; "
            "commit them, or set them back with `git checkout -- FILE` (untracked: `git add` or remove them)"
        )


def run(grid_path: Path, only: list[str] | None, report: Path, *, report_only: bool, dry: bool, jobs: int = 1) -> int:
    """Run the grid (or ``only`` some of it), print a summary and write the report; 0 ok, 1 failures, 130 interrupted."""
    grid = load_grid(grid_path)
    experiments = select(grid, only)
    if dry:
        print(*(shlex.join(run_command(exp)) for exp in experiments), sep="\n")
        return 0
    if not Path("dvc.yaml").is_file():
        raise GridError("no dvc.yaml here: run from the project's root")
    try:
        baseline = resolve_rev("HEAD")
    except LuckybagError:
        raise GridError("no commit yet: experiments need a baseline commit (git commit first)") from None
    outcomes: list[Outcome] = []
    if not report_only:
        check_committed(stage_inputs())
        outcomes = run_grid(experiments, baseline, report.parent / "grid-logs", jobs)
        n = Counter(outcome.status for outcome in outcomes)
        print(f"grid: {n[OK]} of {len(outcomes)} experiments ok, {n[FAILED]} failed, {n[NOT_RUN]} not run", flush=True)
        for outcome in (outcome for outcome in outcomes if outcome.status != OK):
            print(f"{outcome.status}: {outcome.name}: {outcome.reason}", file=sys.stderr)
    failures = {o.name: f"{o.status}: {o.reason}" for o in outcomes if o.status != OK}
    # A full run reports what it ran; a subset or a rebuild must not replace a fuller report.
    print(
        f"report: {write_grid_report(grid, grid_path, baseline, failures, report, keep_fuller=bool(only or report_only))}"
    )
    if any(o.status == FAILED and o.reason == "interrupted" for o in outcomes):
        return 130
    return 1 if failures else 0
