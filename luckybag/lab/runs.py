"""One experiment as `dvc exp run --temp`: its command, its failure reason, and the committed state it starts from."""

import json
import re
import shlex
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from luckybag.errors import LuckybagError
from luckybag.io import write_text
from luckybag.lab.tools import command, last_line, resolve_rev, run_tool

BACKUP_SUFFIX = "--previous"
OK, FAILED, NOT_RUN = "ok", "failed", "not run"
ABSL_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d:)")
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)(:|$)")
FAILED_STAGE = re.compile(r"^ERROR: failed to reproduce '([^']+)'")
DVC = ["dvc", "--wait-for-lock"]  # experiments run side by side: each waits for the repository lock
REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\/]|\.\.|@\{|^[-.]|\.$|\.lock$|^@$")
# `dvc exp run` dies with the worker that started it (a SIGKILLed worker leaves no experiment to finish unseen).
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
GIT_STATES = {"?": "untracked", "A": "not committed", "D": "deleted", "R": "renamed"}


class RunError(LuckybagError):
    """A bad experiment name or a repository experiments cannot start from."""


class Experiment(NamedTuple):
    name: str
    params: dict[str, Any]  # params.yaml key (dotted) -> value
    labels: tuple[str, ...] = ()  # a grid's option labels, one per axis


class Outcome(NamedTuple):
    name: str
    status: str  # OK, FAILED or NOT_RUN
    reason: str = ""
    seconds: float = 0.0


def exp_ref(baseline: str, name: str) -> str:
    return f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}"


def check_name(name: str) -> None:
    """DVC experiment names become git refs (refs/exps/../NAME): refuse what git or DVC refuse."""
    if not name or REF_FORBIDDEN.search(name):
        raise RunError(
            f"experiment name {name!r} is not a valid git ref name "
            "(no spaces, '/', '..', '~^:?*[\\', '@{'; not starting with '-' or '.'; not ending with '.' or '.lock')"
        )


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
    ref = exp_ref(baseline, exp.name)
    backup = ref + BACKUP_SUFFIX
    had_one = run_tool(["git", "show-ref", "--verify", "--quiet", ref]).returncode == 0
    if had_one:
        command([*DVC, "exp", "rename", "-f", ref, exp.name + BACKUP_SUFFIX])
    done = None
    try:
        done = run_tool([*DIE_WITH_PARENT, *run_command(exp)])
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


def stage_inputs(dvc_yaml: Path = Path("dvc.yaml")) -> list[str]:
    """What the stages read from git: dvc.yaml, params files, deps no stage writes, and the code's folders."""
    try:
        stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        raise RunError(f"{dvc_yaml}: cannot read its stages") from None
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
        raise RunError(
            f"experiments start from the committed code and params, but these differ from HEAD: {', '.join(found)}; "
            "commit them, or set them back with `git checkout -- FILE` (untracked: `git add` or remove them)"
        )


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError):
        raise RunError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise RunError(f"{path}: not valid YAML ({last_line(str(err))})") from None


def head() -> str:
    """The commit experiments start from, in a project's root."""
    if not Path("dvc.yaml").is_file():
        raise RunError("no dvc.yaml here: run from the project's root")
    try:
        return resolve_rev("HEAD")
    except LuckybagError:
        raise RunError("no commit yet: experiments need a baseline commit (git commit first)") from None


def forget_run(name: str, runs: Path = Path(".dvc/tmp/exps/run")) -> None:
    """Remove DVC's record and temporary copy of a `dvc exp run --temp -n NAME` killed with its worker: otherwise
    `dvc exp show` lists it, half-done, beside the trial that runs again."""
    for info in runs.glob("*/*.run"):
        try:
            data = json.loads(info.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("name") == name and data.get("location") == "tempdir" and not data.get("result_ref"):
            copy = Path(str(data.get("root_dir")))
            if copy.parent.resolve() == (runs.parent / "standalone").resolve():
                shutil.rmtree(copy, ignore_errors=True)
            shutil.rmtree(info.parent, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
