"""The experiment grid: every combination of ``grid.yaml``'s options as a named DVC experiment.

``python -m luckybag.grid`` runs the experiments one at a time with ``dvc exp run --temp``
(each in its own temporary copy; the workspace is not touched), prints one progress line per
experiment, reports every failure by name and reason, and writes ``reports/grid.md``: a table
of params and metrics from ``dvc exp show --json``, best validation accuracy first, and a
figure of all validation-loss curves. ``--report-only`` rebuilds the report from the
experiments that exist. Experiments run sequentially on purpose: ``dvc queue`` with several
workers is known to lose or hang experiments.

grid.yaml::

    defaults: {train.learning_rate: null}        # set in every experiment
    axes:                                        # the cartesian product of the axes
      optimizer: {sgd: {train.optimizer: sgd}, adam: {train.optimizer: adam}}
      dropout: {drop0: {train.dropout: 0}, drop0.3: {train.dropout: 0.3}}

gives ``sgd-drop0``, ``sgd-drop0.3``, ``adam-drop0``, ``adam-drop0.3``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from luckybag.errors import LuckybagError
from luckybag.io import atomic_path, write_text
from luckybag.report import command, dvc_json, fmt, git_file, last_line, resolve_rev, table, tool_env

GRID_FILE = Path("grid.yaml")
REPORT_FILE = Path("reports/grid.md")
FIGURE_SUFFIX = "_val_loss.png"  # reports/grid.md -> reports/grid_val_loss.png
PARTIAL_SUFFIX = "-partial"
LOGS_DIR = "grid-logs"
EVAL_LOSS_TSV = "dvclive/plots/metrics/eval/loss.tsv"
BACKUP_SUFFIX = "--previous"
OK, FAILED, NOT_RUN = "ok", "failed", "not run"

# (column, metrics file, key) from `dvc exp show --json`; the first one sorts the table.
METRICS = (
    ("val accuracy", "metrics/eval.json", "val.accuracy"),
    ("val loss", "metrics/eval.json", "val.loss"),
    ("test accuracy", "metrics/eval.json", "test.accuracy"),
    ("best epoch", "metrics/train.json", "best_epoch"),
    ("epochs run", "metrics/train.json", "epochs_run"),
)
BASELINE_METRIC = ("metrics/baseline.json", "mean_accuracy")
MISSING = object()

_ABSL_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d:)")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)(:|$)")
_FAILED_STAGE = re.compile(r"^ERROR: failed to reproduce '([^']+)'")
_REPORT_ROW = re.compile(r"^\| \d+ \| `([^`]+)` \|", re.MULTILINE)
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\/]|\.\.|@\{")


class GridError(LuckybagError):
    """A bad grid file, an unknown experiment name or a repository the grid cannot run in."""

    exit_code = 2


@dataclass(frozen=True)
class Experiment:
    name: str
    params: dict[str, Any]  # params.yaml key (dotted) -> value


@dataclass(frozen=True)
class Grid:
    keys: tuple[str, ...]  # every key the grid sets: the report's param columns
    experiments: tuple[Experiment, ...]


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str  # OK, FAILED or NOT_RUN
    reason: str = ""
    seconds: float = 0.0


# --- the grid file ------------------------------------------------------------------------------


def check_name(name: str) -> None:
    """DVC experiment names become git refs (refs/exps/../NAME): refuse what git or DVC refuse."""
    if (
        not name
        or _REF_FORBIDDEN.search(name)
        or name.startswith(("-", "."))
        or name.endswith((".", ".lock"))
        or name == "@"
    ):
        raise GridError(
            f"experiment name {name!r} is not a valid git ref name "
            "(no spaces, '/', '..', '~^:?*[\\', '@{'; not starting with '-' or '.'; not ending with '.' or '.lock')"
        )


def check_overrides(overrides: Any, where: str) -> dict[str, Any]:
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise GridError(f"{where}: expected a mapping of params.yaml keys to values, got {overrides!r}")
    for key in overrides:
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[\w-]+)*", key):
            raise GridError(f"{where}: {key!r} is not a params.yaml key like 'train.dropout'")
    return dict(overrides)


def read_grid_file(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GridError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise GridError(f"{path}: not valid YAML ({last_line(str(err))})") from None
    axes = raw.get("axes") if isinstance(raw, dict) else None
    if not isinstance(axes, dict) or not axes or set(raw) - {"axes", "defaults"}:
        raise GridError(f"{path}: expected 'axes' (axis: {{label: {{key: value}}}}) and optionally 'defaults'")
    return raw


def load_grid(path: Path) -> Grid:
    """Every combination of one option per axis, named by the option labels joined with '-'."""
    raw = read_grid_file(path)
    defaults = check_overrides(raw.get("defaults"), f"{path}: defaults")
    axes: list[list[tuple[str, dict[str, Any]]]] = []
    keys: dict[str, None] = {}
    for axis, options in raw["axes"].items():
        if not isinstance(options, dict) or not options:
            raise GridError(f"{path}: axis {axis!r} needs at least one option (label: {{key: value}})")
        axes.append([(str(label), check_overrides(o, f"{path}: {axis}.{label}")) for label, o in options.items()])
        keys.update((key, None) for _, overrides in axes[-1] for key in overrides)
    keys.update((key, None) for key in defaults)

    experiments = []
    for combination in itertools.product(*axes):
        name = "-".join(label for label, _ in combination)
        check_name(name)
        params = dict(defaults)
        for _, overrides in combination:
            params.update(overrides)
        experiments.append(Experiment(name, params))
    names = [exp.name for exp in experiments]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise GridError(f"{path}: experiment names repeat: {', '.join(duplicates)} (make the labels unique)")
    return Grid(tuple(keys), tuple(experiments))


def select(grid: Grid, only: Sequence[str] | None) -> list[Experiment]:
    if not only:
        return list(grid.experiments)
    known = {exp.name: exp for exp in grid.experiments}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise GridError(f"unknown experiment {unknown[0]!r}; the grid has: {', '.join(known)}")
    return [exp for exp in grid.experiments if exp.name in only]


# --- running ------------------------------------------------------------------------------------


def param_value(value: Any) -> str:
    """A value as ``dvc exp run -S`` parses it (YAML): JSON for non-strings, strings quoted if needed."""
    if isinstance(value, str):
        return value if yaml.safe_load(value) == value else json.dumps(value)
    return json.dumps(value)


def run_command(exp: Experiment) -> list[str]:
    sets = [arg for key, value in exp.params.items() for arg in ("-S", f"{key}={param_value(value)}")]
    return ["dvc", "exp", "run", "--temp", "-n", exp.name, *sets]


def failure_reason(stderr: str, stdout: str, returncode: int) -> str:
    """The most telling line: our stages' ``error: ...``, else an exception, else DVC's ``ERROR:``."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not _ABSL_LOG.match(line.strip())]
    stages = [m.group(1) for m in map(_FAILED_STAGE.match, lines) if m]
    for wanted in (
        lambda line: line.startswith("error:"),
        lambda line: bool(_EXCEPTION.match(line)),
        lambda line: line.startswith("ERROR:"),
        lambda line: True,
    ):
        found = [line for line in lines if wanted(line)]
        if found:
            reason = found[-1]
            break
    else:
        reason = last_line(stdout) or f"exit status {returncode}"
    if stages and not _FAILED_STAGE.match(reason):
        reason += f" (stage '{stages[-1]}')"
    return reason


def exp_ref(baseline: str, name: str) -> str:
    return f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}"


def ref_exists(ref: str) -> bool:
    done = subprocess.run(["git", "show-ref", "--verify", "--quiet", ref], env=tool_env(), capture_output=True)
    return done.returncode == 0


def write_log(log_dir: Path, exp: Experiment, done: subprocess.CompletedProcess[str]) -> None:
    text = f"$ {shlex.join(run_command(exp))}\n# exit status {done.returncode}\n\n{done.stdout}\n{done.stderr}"
    write_text(log_dir / f"{exp.name}.log", text)


def run_captured(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in its own process group, capturing its output.

    On Ctrl-C the group (dvc and the stage it runs) gets SIGINT as from a terminal and a minute
    to stop cleanly (DVC then removes its temporary copy), then SIGKILL.
    """
    with subprocess.Popen(
        args, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            stdout, stderr = proc.communicate()
        except KeyboardInterrupt:
            for signal_number, grace in ((signal.SIGINT, 60.0), (signal.SIGKILL, None)):
                try:
                    os.killpg(proc.pid, signal_number)
                    proc.communicate(timeout=grace)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
            raise
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def run_experiment(exp: Experiment, baseline: str, log_dir: Path) -> Outcome:
    """Run one experiment; an existing one of that name is replaced on success and kept on failure."""
    start = time.monotonic()
    ref = exp_ref(baseline, exp.name)
    backup = exp_ref(baseline, exp.name + BACKUP_SUFFIX) if ref_exists(ref) else None
    if backup:
        command(["dvc", "exp", "rename", "-f", ref, exp.name + BACKUP_SUFFIX])
    succeeded = False
    try:
        done = run_captured(run_command(exp))
        write_log(log_dir, exp, done)
        succeeded = done.returncode == 0
    finally:
        if backup and succeeded:
            command(["dvc", "exp", "remove", backup])
        elif backup:
            command(["dvc", "exp", "rename", "-f", backup, exp.name])
    seconds = time.monotonic() - start
    if succeeded:
        return Outcome(exp.name, OK, seconds=seconds)
    reason = failure_reason(done.stderr, done.stdout, done.returncode)
    if backup:
        reason += "; the previous result of this name is kept"
    return Outcome(exp.name, FAILED, reason, seconds)


def run_grid(experiments: Sequence[Experiment], baseline: str, log_dir: Path) -> list[Outcome]:
    """Run the experiments in order, one at a time, printing ``[n/N] NAME: ...`` lines."""
    outcomes: list[Outcome] = []
    total = len(experiments)
    for index, exp in enumerate(experiments, 1):
        print(f"[{index}/{total}] {exp.name}: running", flush=True)
        try:
            outcome = run_experiment(exp, baseline, log_dir)
        except KeyboardInterrupt:
            outcomes.append(Outcome(exp.name, FAILED, "interrupted"))
            outcomes += [Outcome(rest.name, NOT_RUN, "interrupted before it started") for rest in experiments[index:]]
            print(f"[{index}/{total}] {exp.name}: interrupted", flush=True)
            break
        except LuckybagError as err:
            outcome = Outcome(exp.name, FAILED, str(err))
        outcomes.append(outcome)
        took = f"{outcome.seconds:.0f} s"
        result = f"ok ({took})" if outcome.status == OK else f"FAILED after {took}: {outcome.reason}"
        print(f"[{index}/{total}] {exp.name}: {result}", flush=True)
    return outcomes


# --- `dvc exp show --json` ----------------------------------------------------------------------


def dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return MISSING
        data = data[key]
    return data


def param_of(row: dict[str, Any], key: str) -> Any:
    return dig(row, "data", "params", "params.yaml", "data", *key.split("."))


def metric_of(row: dict[str, Any], path: str, key: str) -> Any:
    return dig(row, "data", "metrics", path, "data", *key.split("."))


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys (``train.cnn.filters``); lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def flat_params(row: dict[str, Any] | None) -> dict[str, Any]:
    data = dig(row or {}, "data", "params", "params.yaml", "data")
    return flatten(data) if isinstance(data, dict) else {}


def changed_keys(row: dict[str, Any], committed: dict[str, Any]) -> set[str]:
    """The params keys whose value in ``row`` differs from the committed params (added and removed too)."""
    params = flat_params(row)
    return {key for key in params.keys() | committed.keys() if params.get(key, MISSING) != committed.get(key, MISSING)}


def other_changed_keys(grid: Grid, ranked: list[dict[str, Any]], baseline_row: dict[str, Any] | None) -> list[str]:
    """Params the grid does not set that differ from the committed ones in any experiment."""
    committed = flat_params(baseline_row)
    changed = set().union(*(changed_keys(row, committed) for row in ranked)) if ranked else set()
    return sorted(changed - set(grid.keys))


def experiment_rows(shown: Any, baseline: str) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The baseline commit's row and, by name, the newest row of each experiment derived from it."""
    baseline_row, rows = None, {}
    for row in shown if isinstance(shown, list) else []:
        if not isinstance(row, dict) or row.get("rev") != baseline:
            continue
        baseline_row = row
        for group in row.get("experiments") or []:
            for exp in (group or {}).get("revs") or []:
                name = exp.get("name") or group.get("name")
                stamp = dig(exp, "data", "timestamp")
                old = rows.get(name)
                if name and (old is None or str(stamp) > str(dig(old, "data", "timestamp"))):
                    rows[name] = exp
    return baseline_row, rows


def number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def sort_key(row: dict[str, Any]) -> tuple[float, float, str]:
    accuracy = number(metric_of(row, *METRICS[0][1:]))
    loss = number(metric_of(row, *METRICS[1][1:]))
    return (-accuracy if accuracy is not None else math.inf, loss if loss is not None else math.inf, row["name"])


def cell(value: Any, column: str = "") -> str:
    if value is MISSING:
        return "—"
    if value is None:
        return "null"
    if number(value) is not None and isinstance(value, float) and ("accuracy" in column or "loss" in column):
        return f"{value:.4f}"
    return fmt(value)


def ranked_rows(grid: Grid, rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    names = {exp.name for exp in grid.experiments}
    return sorted((row for name, row in rows.items() if name in names), key=sort_key)


def table_rows(
    keys: Sequence[str], ranked: list[dict[str, Any]], baseline_row: dict[str, Any] | None
) -> list[list[str]]:
    """One row per experiment, and the baseline's CV mean accuracy as a reference row where it ranks."""
    rows = []
    for rank, row in enumerate(ranked, 1):
        params = [cell(param_of(row, key)) for key in keys]
        metrics = [cell(metric_of(row, path, key), column) for column, path, key in METRICS]
        rows.append([str(rank), f"`{row['name']}`", *params, *metrics])
    reference = number(metric_of(baseline_row or {}, *BASELINE_METRIC))
    if reference is not None:
        accuracies = [number(metric_of(row, *METRICS[0][1:])) for row in ranked]
        position = sum(1 for accuracy in accuracies if accuracy is not None and accuracy >= reference)
        label = "*reference: logistic-regression baseline, CV mean accuracy*"
        rows.insert(position, ["", label, *[""] * len(keys), f"*{reference:.4f}*", *[""] * (len(METRICS) - 1)])
    return rows


# --- the figure ---------------------------------------------------------------------------------


def parse_tsv(text: str, column: str) -> tuple[list[int], list[float]]:
    lines = [line.split("\t") for line in text.splitlines() if line.strip()]
    if not lines or "step" not in lines[0] or column not in lines[0]:
        return [], []
    step, value = lines[0].index("step"), lines[0].index(column)
    try:
        return [int(float(row[step])) for row in lines[1:]], [float(row[value]) for row in lines[1:]]
    except (ValueError, IndexError):
        return [], []


def val_loss_curves(ranked: list[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """Each experiment's per-epoch validation loss, from its experiment commit's DVCLive TSV."""
    curves = {}
    for row in ranked:
        content = git_file(str(row.get("rev")), EVAL_LOSS_TSV)
        steps, losses = parse_tsv(content.decode(errors="replace"), "loss") if content else ([], [])
        if steps:
            curves[row["name"]] = ([s + 1 for s in steps], losses)  # DVCLive step 0 is epoch 1
    return curves


def plot_curves(curves: dict[str, tuple[list[int], list[float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(9, 5))
    colors = plt.get_cmap("tab10")
    for index, (name, (epochs, losses)) in enumerate(curves.items()):
        style = ("-", "--", ":")[index // 10 % 3]
        ax.plot(epochs, losses, style, marker="o", markersize=3, color=colors(index % 10), label=name)
    ax.set(xlabel="epoch", ylabel="validation loss", title="Validation loss per epoch (legend: best first)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


# --- the report ---------------------------------------------------------------------------------


def problems(grid: Grid, outcomes: Sequence[Outcome], rows: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(name, why) for every grid experiment that failed or did not run now, or has no result to show."""
    listed = {o.name: f"{o.status}: {o.reason}" for o in outcomes if o.status != OK}
    for exp in grid.experiments:
        if exp.name not in listed and exp.name not in rows:
            listed[exp.name] = "no result in `dvc exp show` for this commit (not run yet, or it failed)"
    return list(listed.items())


def render_report(
    grid: Grid,
    grid_path: Path,
    baseline: str,
    shown: Any,
    outcomes: Sequence[Outcome],
    figure: Path | None,
) -> str:
    baseline_row, rows = experiment_rows(shown, baseline)
    ranked = ranked_rows(grid, rows)
    others = other_changed_keys(grid, ranked, baseline_row)
    keys = [*grid.keys, *others]
    header = ["#", "experiment", *(f"`{key}`" for key in keys), *(column for column, _, _ in METRICS)]

    lines = [f"# Experiment grid: {grid_path}", ""]
    lines += [
        f"{len(ranked)} of {len(grid.experiments)} experiments of `{grid_path}` derived from commit "
        f"`{baseline[:7]}`, best validation accuracy first. Every number comes from `dvc exp show --json`; "
        "val loss and accuracy are those of the restored best epoch.",
        "",
    ]
    if ranked:
        best = ranked[0]
        lines += [
            f"**Best: `{best['name']}`** — val accuracy {cell(metric_of(best, *METRICS[0][1:]), 'accuracy')}, "
            f"test accuracy {cell(metric_of(best, *METRICS[2][1:]), 'accuracy')}.",
            "",
        ]
    if others:
        lines += [
            f"**Not from the committed params:** {', '.join(f'`{key}`' for key in others)} "
            f"differ from commit `{baseline[:7]}` in some experiments although the grid does not set them "
            "(shown after the grid's columns).",
            "",
        ]
    elif ranked:
        lines += [f"Every param the grid does not set is the committed one of `{baseline[:7]}`.", ""]
    lines += table(header, table_rows(keys, ranked, baseline_row)) + [""]
    if figure is not None:
        lines += [f"![Validation loss per epoch of every experiment]({figure.name})", ""]
    failed = problems(grid, outcomes, rows)
    if failed:
        lines += ["## Failed or not run", ""] + [f"- `{name}` — {why}" for name, why in failed] + [""]
    if ranked:
        lines += [
            "## Compare",
            "",
            "Interactive loss and accuracy curves and confusion matrices of these experiments, best first:",
            "",
            "```bash",
            f"dvc plots diff {' '.join(row['name'] for row in ranked)}",
            "dvc exp show --only-changed",
            f"dvc exp apply {ranked[0]['name']}   # bring the best one into the workspace",
            "```",
            "",
        ]
    lines += [f"*Written {datetime.now().isoformat(timespec='seconds')} by `python -m luckybag.grid`.*", ""]
    return "\n".join(lines)


def reported_names(report: Path) -> set[str]:
    """The experiment names in the table of an existing report (none if there is no report)."""
    try:
        text = report.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {match.group(1) for match in _REPORT_ROW.finditer(text)}


def partial_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}{PARTIAL_SUFFIX}{out.suffix}")


def figure_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}{FIGURE_SUFFIX}")


def write_report(
    grid: Grid, grid_path: Path, baseline: str, outcomes: Sequence[Outcome], out: Path, keep_fuller: bool = False
) -> Path:
    """``out`` (reports/grid.md) and, next to it, the figure of the validation-loss curves; returns the path written.

    With ``keep_fuller``, a report that lists experiments not found here (a clone without them,
    or a new commit) is kept, and this report goes to ``NAME-partial.md`` instead.
    """
    shown = dvc_json(["exp", "show"])
    ranked = ranked_rows(grid, experiment_rows(shown, baseline)[1])
    lost = sorted(reported_names(out) - {row["name"] for row in ranked}) if keep_fuller else []
    if lost:
        kept, out = out, partial_path(out)
        print(
            f"{kept} is kept: it lists {len(lost)} experiment(s) not found for this commit ({', '.join(lost)}); "
            f"`dvc exp pull` them, or run the whole grid to replace it",
            flush=True,
        )
    curves = val_loss_curves(ranked)
    figure: Path | None = figure_path(out)
    figure.unlink(missing_ok=True)
    if curves:
        plot_curves(curves, figure)
    else:
        figure = None
    write_text(out, render_report(grid, grid_path, baseline, shown, outcomes, figure))
    return out


# --- command line -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m luckybag.grid",
        description="Run grid.yaml's experiments one at a time with `dvc exp run --temp` and report them.",
    )
    parser.add_argument("--grid", type=Path, default=GRID_FILE, help=f"the grid file (default: {GRID_FILE})")
    parser.add_argument("--only", nargs="+", action="extend", metavar="NAME", help="run only these experiments")
    parser.add_argument("--report", type=Path, default=REPORT_FILE, help=f"the report (default: {REPORT_FILE})")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--report-only", action="store_true", help="run nothing; rebuild the report")
    mode.add_argument("--dry", action="store_true", help="print the dvc commands; run nothing")
    return parser


def print_summary(outcomes: Sequence[Outcome]) -> None:
    bad = [o for o in outcomes if o.status != OK]
    ok = len(outcomes) - len(bad)
    failed = sum(o.status == FAILED for o in bad)
    print(f"grid: {ok} of {len(outcomes)} experiments ok, {failed} failed, {len(bad) - failed} not run", flush=True)
    for outcome in bad:
        print(f"{outcome.status}: {outcome.name}: {outcome.reason}", file=sys.stderr)


def full_run(args: argparse.Namespace) -> bool:
    return not args.only and not args.report_only


def check_repo() -> str:
    if not Path("dvc.yaml").is_file():
        raise GridError("no dvc.yaml here: run from the project's root")
    try:
        return resolve_rev("HEAD")
    except LuckybagError:
        raise GridError("no commit yet: experiments need a baseline commit (git commit first)") from None


def entry_paths(entries: Any) -> list[str]:
    """The paths of a dvc.yaml ``deps``/``outs``/``params`` list (strings or one-key mappings)."""
    paths = []
    for entry in entries or []:
        paths += [str(key) for key in entry] if isinstance(entry, dict) else [str(entry)]
    return paths


def stage_inputs(dvc_yaml: Path = Path("dvc.yaml")) -> list[str]:
    """What the stages read from git: dvc.yaml, params files, deps no stage writes, and the code's folders."""
    try:
        stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        raise GridError(f"{dvc_yaml}: cannot read its stages") from None
    deps: set[str] = set()
    written: set[str] = set()
    params = {"params.yaml"}
    for stage in stages.values():
        if not isinstance(stage, dict):
            continue
        deps.update(entry_paths(stage.get("deps")))
        for kind in ("outs", "metrics", "plots"):
            written.update(entry_paths(stage.get(kind)))
        # A params entry is a key of params.yaml, or a {file: keys} mapping.
        params.update(p for entry in stage.get("params") or [] if isinstance(entry, dict) for p in map(str, entry))
    sources = {dep for dep in deps if not any(dep == out or dep.startswith(out + "/") for out in written)}
    # A module the code imports but dvc.yaml does not list would be missing from a --temp copy too.
    folders = {str(Path(dep).parent) for dep in sources if dep.endswith(".py") and Path(dep).parent != Path(".")}
    return sorted({str(dvc_yaml), *params, *sources, *folders})


GIT_STATES = {"??": "untracked", "A": "not committed", "D": "deleted", "R": "renamed"}


def uncommitted(paths: Sequence[str]) -> list[str]:
    """``PATH (state)`` for each of ``paths`` that differs from HEAD or is untracked.

    Inside a folder of ``paths`` only untracked files count: a module the listed code may import.
    A tracked module no stage lists (the CLI, this grid) may differ.
    """
    out = command(["git", "status", "--porcelain=v1", "--untracked-files=all", "--", *paths])
    files = set(paths)
    found = []
    for line in out.splitlines():
        code, path = line[:2], line[3:]
        state = GIT_STATES.get(code) or GIT_STATES.get(code.strip()[:1], "modified")
        if path in files or state == "untracked":
            found.append(f"{path} ({state})")
    return found


def check_committed(paths: Sequence[str]) -> None:
    """Refuse to run when what the stages read differs from HEAD: experiments must start from HEAD.

    ``dvc exp run --temp`` copies the workspace's uncommitted changes into its temporary copy
    (and leaves out untracked files), so they would silently become part of every experiment.
    """
    found = uncommitted(paths)
    if found:
        raise GridError(
            f"experiments start from the committed code and params, but these differ from HEAD: {', '.join(found)}; "
            "commit them, or set them back with `git checkout -- FILE` (untracked: `git add` or remove them)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        grid = load_grid(args.grid)
        experiments = select(grid, args.only)
        if args.dry:
            for exp in experiments:
                print(shlex.join(run_command(exp)))
            return 0
        baseline = check_repo()
        outcomes: list[Outcome] = []
        if not args.report_only:
            check_committed(stage_inputs())
            outcomes = run_grid(experiments, baseline, args.report.parent / LOGS_DIR)
            print_summary(outcomes)
        # A full run reports what it ran; a subset or a rebuild must not replace a fuller report.
        written = write_report(grid, args.grid, baseline, outcomes, args.report, keep_fuller=not full_run(args))
        print(f"report: {written}")
    except LuckybagError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    if any(o.status == FAILED and o.reason == "interrupted" for o in outcomes):
        return 130
    return 1 if any(o.status != OK for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
