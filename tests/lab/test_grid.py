"""The experiment grid (`luckybag grid`): real `dvc exp run --temp` runs in a throw-away project with tiny data."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from luckybag.errors import LuckybagError
from luckybag.lab.grid import load_grid
from luckybag.lab.grid_report import render_report
from luckybag.lab.runs import check_name, failure_reason, stage_inputs
from tests.conftest import ROOT, reproduced_project, run, shown_experiments

pytestmark = pytest.mark.slow

PYTHON = sys.executable
# The grids vary the baseline stage's params, so each experiment re-runs only that stage (seconds,
# where training costs tens); it3-cv2 is the project's own setup, for which DVC re-runs nothing.
# Training with -S values is what the README's experiments cover (tests/test_readme.py).
GRID = {
    "axes": {
        "iter": {"it3": {"baseline.max_iter": 3}, "it4": {"baseline.max_iter": 4}},
        "cv": {"cv2": {"baseline.cv": 2}, "cv3": {"baseline.cv": 3}},
    },
}
EXPECTED = {"it3-cv2": (3, 2), "it3-cv3": (3, 3), "it4-cv2": (4, 2), "it4-cv3": (4, 3)}
NAMES = list(EXPECTED)
BAD_DROPOUT = "error: params: 'train.dropout' is 1.5; expected a rate in [0, 1)"


def luckybag_grid(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([PYTHON, "-m", "luckybag", "grid", *args], cwd, check=check)


def write_grid(path: Path, grid: dict) -> Path:
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


def exp_refs(project: Path) -> dict[str, str]:
    """Experiment name -> commit, from git's refs/exps."""
    out = run(["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"], project).stdout
    return {line.split()[1].rsplit("/", 1)[1]: line.split()[0] for line in out.splitlines()}


def table_rows(report: str) -> dict[str, list[str]]:
    """The report's table rows by experiment name (cells stripped)."""
    rows = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) > 2 and cells[1].startswith("`"):
            rows[cells[1].strip("`")] = cells
    return rows


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project whose pipeline ran and was committed: the experiments' baseline."""
    return reproduced_project(tmp_path_factory.mktemp("grid"), "baseline run")


@pytest.fixture(scope="module")
def grid_run(project: Path) -> subprocess.CompletedProcess:
    grid = write_grid(project.parent / "grid.yaml", GRID)
    return luckybag_grid(project, "--grid", str(grid), "--jobs", "2", check=False)  # two local workers


def test_grid_runs_every_experiment_and_reports_them(project: Path, grid_run: subprocess.CompletedProcess) -> None:
    """Two local workers on the default journal storage: each point runs once and has exactly one experiment."""
    assert grid_run.returncode == 0, grid_run.stdout + grid_run.stderr
    for name in NAMES:
        assert grid_run.stdout.count(f"] {name}: started") == 1
        assert grid_run.stdout.count(f"] {name}: val accuracy ") == 1
    assert "grid: 4 of 4 experiments ok, 0 failed, 0 not run" in grid_run.stdout
    assert sorted(exp_refs(project)) == sorted(NAMES)  # one experiment each, nothing else
    assert (project / ".dvc/tmp/search.journal").is_file()

    shown = shown_experiments(project)
    for name in NAMES:
        baseline = shown[name]["data"]["params"]["params.yaml"]["data"]["baseline"]
        assert (baseline["max_iter"], baseline["cv"]) == EXPECTED[name]
        assert "val" in shown[name]["data"]["metrics"]["metrics/eval.json"]["data"]

    report = (project / "reports/grid.md").read_text()
    rows = table_rows(report)
    assert set(rows) == set(NAMES)
    # This grid varies only the baseline stage, so every row has the same validation accuracy and loss
    # and the ranking falls back to the name; the best-first order on distinct accuracies is checked
    # by test_report_table_best_first_with_the_reference_row_and_every_problem.
    assert len({cells[-6] for cells in rows.values()}) == 1
    assert list(rows) == sorted(rows)  # rows in report order
    for name, cells in rows.items():
        exp_eval = shown[name]["data"]["metrics"]["metrics/eval.json"]["data"]
        assert cells[2:4] == [str(value) for value in EXPECTED[name]]  # baseline.max_iter, baseline.cv
        assert float(cells[-6]) == pytest.approx(exp_eval["val"]["accuracy"], abs=5e-5)
        assert float(cells[-5]) == pytest.approx(exp_eval["val"]["loss"], abs=5e-5)
        assert cells[-1] == "≈"  # equal accuracies: all within noise of the best
    assert "reference: logistic-regression baseline, CV mean accuracy" in report
    assert "Every param the grid does not set is the committed one of" in report
    assert "Failed or not run" not in report
    assert "| iter \\ cv | cv2 | cv3 |" in report  # the two axes' table
    plots_diff = next(line for line in report.splitlines() if line.startswith("dvc plots diff "))
    assert set(plots_diff.split()[3:]) == set(NAMES)
    assert (project / "reports/grid_val_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --temp: the workspace's tracked files are untouched.
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], project).stdout == ""


def test_failures_are_reported_and_the_others_still_run(project: Path, grid_run: subprocess.CompletedProcess) -> None:
    grid = {
        "defaults": {"train.learning_rate": None},  # the committed value: the ok one re-runs the baseline only
        "axes": {
            "iter": {"it5": {"baseline.max_iter": 5}},
            "dropout": {"bad": {"train.dropout": 1.5}, "ok": {}},
        },
    }
    path = write_grid(project.parent / "bad-grid.yaml", grid)
    done = luckybag_grid(project, "--grid", str(path), "--report", "reports/bad.md", check=False)

    assert done.returncode == 1
    assert f"it5-bad: FAILED: {BAD_DROPOUT}" in done.stdout
    assert "it5-ok: val accuracy " in done.stdout  # the failure did not stop the grid
    assert "grid: 1 of 2 experiments ok, 1 failed, 0 not run" in done.stdout
    # One line, from the stage that validates the whole params file before any other runs.
    assert re.fullmatch(rf"failed: it5-bad: {re.escape(BAD_DROPOUT)} \(stage 'check-params'\)\n", done.stderr)
    shown = shown_experiments(project)
    assert "it5-bad" not in shown
    params = shown["it5-ok"]["data"]["params"]["params.yaml"]["data"]
    assert (params["baseline"]["max_iter"], params["train"]["learning_rate"]) == (5, None)

    report = (project / "reports/bad.md").read_text()
    assert set(table_rows(report)) == {"it5-ok"}
    failed = report.split("## Failed or not run", 1)[1].split("##", 1)[0]
    assert failed.strip().startswith(f"- `it5-bad` — failed: {BAD_DROPOUT} (stage '")
    assert BAD_DROPOUT in (project / "reports/grid-logs/it5-bad.log").read_text()


def test_a_rerun_replaces_the_experiment_and_a_failed_rerun_keeps_it(
    project: Path, grid_run: subprocess.CompletedProcess
) -> None:
    before = exp_refs(project)
    luckybag_grid(project, "--grid", str(project.parent / "grid.yaml"), "--only", "it4-cv3")
    broken = {"axes": {"iter": {"it4": {"baseline.max_iter": 4}}, "cv": {"cv2": {"baseline.cv": 0}}}}
    path = write_grid(project.parent / "broken.yaml", broken)
    args = ["--grid", str(path), "--report", "reports/broken.md"]
    done = luckybag_grid(project, *args, check=False)
    assert done.returncode == 1
    assert "failed: it4-cv2: error: params: 'baseline.cv' is 0" in done.stderr
    assert "the previous result of this name is kept" in done.stderr

    after = exp_refs(project)
    assert after["it4-cv3"] != before["it4-cv3"]  # replaced
    assert after["it4-cv2"] == before["it4-cv2"]  # kept
    assert [name for name in after if name.startswith("it4")] == ["it4-cv2", "it4-cv3"]  # no leftovers
    assert set(table_rows((project / "reports/broken.md").read_text())) == {"it4-cv2"}


def test_report_only_rebuilds_from_existing_experiments(project: Path, grid_run: subprocess.CompletedProcess) -> None:
    more = {**GRID, "axes": {**GRID["axes"], "seed": {"s1": {}, "s2": {"train.seed": 2}}}}
    grid = write_grid(project.parent / "grid-more.yaml", more)
    done = luckybag_grid(project, "--grid", str(grid), "--report-only", "--report", "out/g.md")
    assert "running" not in done.stdout
    report = (project / "out/g.md").read_text()
    # None of the 8 names exists: all listed as missing, none dropped.
    failed = report.split("## Failed or not run", 1)[1]
    assert all(f"`{name}-{seed}`" in failed for name in NAMES for seed in ("s1", "s2"))

    luckybag_grid(project, "--grid", str(project.parent / "grid.yaml"), "--report-only")
    assert set(table_rows((project / "reports/grid.md").read_text())) == set(NAMES)


def test_uncommitted_params_or_code_refuse_to_start(project: Path, grid_run: subprocess.CompletedProcess) -> None:
    """Grid independence: `--temp` would copy uncommitted edits into every experiment, so none may start."""
    grid = str(project.parent / "grid.yaml")
    before = exp_refs(project)
    params = project / "params.yaml"
    committed = params.read_text()
    extra = project / "luckybag" / "extra.py"
    try:
        params.write_text(committed.replace("dropout: 0.3", "dropout: 0.1"))
        extra.write_text("VALUE = 1\n")
        done = luckybag_grid(project, "--grid", grid, "--only", "it3-cv2", check=False)
        assert done.returncode == 2 and "running" not in done.stdout
        assert len(done.stderr.splitlines()) == 1
        assert done.stderr.startswith("error: experiments start from the committed code and params, but these differ")
        assert "params.yaml (modified)" in done.stderr and "luckybag/extra.py (untracked)" in done.stderr
    finally:
        params.write_text(committed)
        extra.unlink()
    assert exp_refs(project) == before
    # Files the stages do not read may differ.
    (project / "notes.md").write_text("not a stage input\n")
    done = luckybag_grid(project, "--grid", grid, "--only", "it3-cv2")
    assert "it3-cv2: val accuracy " in done.stdout


def test_a_subset_or_a_rebuild_keeps_a_fuller_report(project: Path, grid_run: subprocess.CompletedProcess) -> None:
    """A clone without the experiments behind a committed report writes NAME-partial.md beside it."""
    reports = project / "reports"
    full = (reports / "grid.md").read_text()
    ghost = next(line for line in full.splitlines() if line.startswith("| 1 | `")).replace("| 1 | `", "| 5 | `ghost")
    fuller = full.replace("\n\n![", f"\n{ghost}\n\n![", 1)  # a row of an experiment not in this clone
    (reports / "full.md").write_text(fuller)
    grid = str(project.parent / "grid.yaml")
    for args in (["--only", "it3-cv2"], ["--report-only"]):
        (reports / "full-partial.md").unlink(missing_ok=True)
        done = luckybag_grid(project, "--grid", grid, "--report", "reports/full.md", *args)
        assert "reports/full.md is kept: it lists 1 experiment(s) not found for this commit (ghost" in done.stdout
        assert done.stdout.splitlines()[-1] == "report: reports/full-partial.md"
        assert (reports / "full.md").read_text() == fuller
        assert set(table_rows((reports / "full-partial.md").read_text())) == set(NAMES)
        assert (reports / "full-partial_val_loss.png").is_file()


def test_stage_inputs_are_the_code_and_params_not_the_outputs() -> None:
    inputs = stage_inputs(ROOT / "dvc.yaml")
    names = {Path(path).relative_to(ROOT).as_posix() if Path(path).is_absolute() else path for path in inputs}
    assert {"params.yaml", "luckybag", "stages", "stages/train.py", "luckybag/pipeline/params.py"} <= names
    assert not names & {"data/raw", "data/prepared", "models/checkpoint.keras", "data/params.ok", "metrics/eval.json"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "nope"], "error: unknown experiment 'nope'; the grid has: sgd-drop0, "),
        (["--grid", "missing.yaml"], "error: missing.yaml: file not found"),
    ],
)
def test_one_line_errors(args: list[str], message: str) -> None:
    done = luckybag_grid(ROOT, "--grid", str(ROOT / "grid.yaml"), "--dry", *args, check=False)
    assert done.returncode == 2 and done.stderr.startswith(message) and len(done.stderr.splitlines()) == 1


def test_dry_run_prints_the_commands() -> None:
    grid = ROOT / "grid.yaml"  # the repo's own grid
    done = luckybag_grid(ROOT, "--grid", str(grid), "--dry", "--only", "sgd-lr0.1-drop0.3")
    assert done.stdout.splitlines() == [
        "dvc --wait-for-lock exp run --temp -n sgd-lr0.1-drop0.3 -S train.learning_rate=0.1 -S train.momentum=0.9"
        " -S 'export.check=[onnx]' -S train.optimizer=sgd -S train.dropout=0.3"
    ]
    # The repo's grid: 7 optimizer options x 2 dropout options, all valid names.
    assert [exp.name for exp in load_grid(ROOT / "grid.yaml").experiments][:4] == [
        "sgd-drop0",
        "sgd-drop0.3",
        "sgd-lr0.1-drop0",
        "sgd-lr0.1-drop0.3",
    ]
    assert len(load_grid(ROOT / "grid.yaml").experiments) == 14


@pytest.mark.parametrize("name", ["a b", "x/y", "a..b", "-a", ".a", "a.lock", "a:b", "a@{b", "a~1"])
def test_names_git_refuses_are_refused(name: str) -> None:
    with pytest.raises(LuckybagError, match="not a valid git ref name"):
        check_name(name)
    check_name("sgd-lr0.1-drop0.3")


@pytest.mark.parametrize(
    ("stderr", "returncode", "reason"),
    [
        (
            "I0000 00:00:1795849401.831261    7631 port.cc:153] oneDNN custom operations are on.\n"
            f"{BAD_DROPOUT}\n"
            "ERROR: failed to reproduce 'train': failed to run: python -m stages.train, exited with 1\n",
            255,
            f"{BAD_DROPOUT} (stage 'train')",
        ),
        (
            "Traceback (most recent call last):\n  File x\nValueError: boom\nERROR: failed to reproduce 'evaluate': x\n",
            255,
            "ValueError: boom (stage 'evaluate')",
        ),
        ("ERROR: unexpected error\n", 255, "ERROR: unexpected error"),
        ("", 3, "exit status 3"),
    ],
)
def test_failure_reason_prefers_the_stages_error_line(stderr: str, returncode: int, reason: str) -> None:
    assert failure_reason(stderr, "", returncode) == reason


def shown_row(name: str, optimizer: str, accuracy: float | None, seed: int = 42) -> dict:
    """An experiment row as `dvc exp show --json` (DVC 3.67) writes it."""
    evaluation = {"val": {"accuracy": accuracy, "loss": 0.3}, "test": {"accuracy": 0.8, "loss": 0.4}}
    if accuracy is None:
        evaluation = {}
    return {
        "rev": name.encode().hex().ljust(40, "0"),
        "name": name,
        "data": {
            "timestamp": "2026-01-01T00:00:00",
            "params": {"params.yaml": {"data": {"train": {"optimizer": optimizer, "dropout": 0, "seed": seed}}}},
            "metrics": {
                "metrics/eval.json": {"data": evaluation},
                "metrics/train.json": {"data": {"best_epoch": 2, "epochs_run": 4}},
            },
        },
        "error": None,
        "experiments": None,
    }


def test_report_table_best_first_with_the_reference_row_and_every_problem(tmp_path: Path) -> None:
    axes = {"opt": {name: {"train.optimizer": name} for name in ("sgd", "adam", "rmsprop", "adagrad")}}
    grid = load_grid(write_grid(tmp_path / "g.yaml", {"axes": axes}))
    baseline = "b" * 40
    shown = [
        {"rev": "workspace", "name": None, "data": {}, "error": None, "experiments": None},
        {
            "rev": baseline,
            "name": "main",
            "data": {
                "params": {"params.yaml": {"data": {"train": {"optimizer": "adam", "dropout": 0, "seed": 42}}}},
                "metrics": {"metrics/baseline.json": {"data": {"mean_accuracy": 0.82}}},
            },
            "experiments": [
                {"name": "sgd", "executor": None, "revs": [shown_row("sgd", "sgd", 0.80)]},
                {"name": "adam", "executor": None, "revs": [shown_row("adam", "adam", 0.88)]},
                {"name": "adagrad", "executor": None, "revs": [shown_row("adagrad", "adagrad", None, seed=7)]},
                {"name": "other", "executor": None, "revs": [shown_row("other", "sgd", 0.99)]},  # not in the grid
            ],
        },
    ]
    text = render_report(grid, Path("g.yaml"), baseline, shown, {"rmsprop": "failed: error: boom"}, None)
    lines = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert [line.split("|")[2].strip() for line in lines] == [
        "`adam`",
        "*reference: logistic-regression baseline, CV mean accuracy*",
        "`sgd`",
        "`adagrad`",
    ]
    # The grid's key, then train.seed: not set by the grid, but adagrad's differs from the committed 42.
    assert lines[0].split("|")[3:] == [" adam ", " 42 ", " 0.8800 ", " 0.3000 ", " 0.8000 ", " 2 ", " 4 ", " ≈ ", ""]
    assert lines[3].split("|")[3:5] == [" adagrad ", " 7 "]
    assert "| — |" in lines[3]  # adagrad has no val accuracy: last, shown as missing
    assert "**Not from the committed params:** `train.seed` differ from commit `bbbbbbb`" in text
    assert "**Best: `adam`**" in text
    assert "- `rmsprop` — failed: error: boom" in text
    assert lines[2].split("|")[-2] == "  "  # sgd: 0.80 against 0.88 on 12,000 images is not noise
    assert "sqrt(p(1-p)/12000)" in text
    assert "dvc plots diff adam sgd adagrad" in text
