"""The README's marked command blocks, run as written and in order on a tiny-data clone.

A ```bash block whose previous non-blank line is an HTML comment starting with
``<!-- readme-test`` is run; the others (set-up, the real-data grid) are not. Comment lines
right after a command are the output the README shows: those without a percentage are
data-independent (headers, titles) and must appear, in order, in the command's output here.
The figures the README shows (the lines with a percentage: the committed model's probabilities for
real test images) cannot come from tiny data: tests/pipeline/test_acceptance.py runs their block on
its real-data run, whose model is the committed one, and checks every shown line, figures included.
Here the test checks that the workspace still holds the committed model, params and metrics after
every example, and that every block with figures is the one the acceptance test runs.
"""

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import BIN, ROOT, reproduced_project, run, shown_experiments, stages_ran

MARKER = "<!-- readme-test"
_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
_RC = re.compile(r"^@@@ rc (\d+) (\d+)$", re.MULTILINE)


@dataclass
class Command:
    text: str
    shown: list[str] = field(default_factory=list)  # the output lines the README shows after it


def marked_blocks(readme: str) -> list[str]:
    """The bodies of the ```bash blocks preceded by the marker comment, in README order."""
    blocks = []
    for match in _BLOCK.finditer(readme):
        before = readme[: match.start()].rstrip().splitlines()
        if before and before[-1].lstrip().startswith(MARKER):
            blocks.append(match.group(1))
    return blocks


def complete(text: str) -> bool:
    """A shell command is complete when its quotes close and its last line does not continue."""
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # no closing quotation: the command goes on on the next line
        return False
    return True


def commands(block: str) -> list[Command]:
    found: list[Command] = []
    pending: list[str] = []
    for line in block.splitlines():
        if not pending and line.lstrip().startswith("#"):
            if found:
                found[-1].shown.append(line.lstrip()[1:].strip())
            continue
        if not pending and not line.strip():
            continue
        pending.append(line)
        if complete("\n".join(pending)):
            found.append(Command("\n".join(pending)))
            pending = []
    assert not pending, f"unfinished command in a README block: {pending}"
    return found


def run_block(all_commands: list[Command], project: Path, name: str) -> dict[int, tuple[int, str]]:
    """Run the commands as one script in ``project`` (its ``.venv`` linked to the checkout's)."""
    if not (project / ".venv").exists():
        (project / ".venv").symlink_to(ROOT / ".venv")
        with open(project / ".git/info/exclude", "a") as exclude:
            exclude.write("/.venv\n")  # a link, which .gitignore's `.venv/` (a directory) does not match
    (project.parent / name).write_text(script(all_commands))
    done = run(["bash", str(project.parent / name)], project, check=False, timeout=2400)
    return outputs(done.stdout)


def script(all_commands: list[Command]) -> str:
    """One shell for every command (so `source` carries over); stop at the first failure."""
    lines = ["exec 2>&1"]
    for index, cmd in enumerate(all_commands):
        lines += [f"echo '@@@ run {index}'", cmd.text, f'rc=$?; echo "@@@ rc {index} $rc"; [ "$rc" -eq 0 ] || exit 97']
    return "\n".join(lines) + "\n"


def outputs(log: str) -> dict[int, tuple[int, str]]:
    """Command index -> (exit status, its output)."""
    results = {}
    for chunk in log.split("@@@ run ")[1:]:
        index_text, _, rest = chunk.partition("\n")
        status = _RC.search(rest)
        text = rest[: status.start()] if status else rest
        results[int(index_text)] = (int(status.group(2)) if status else -1, text)
    return results


def normalized(line: str) -> str:
    return " ".join(line.split())


def data_independent(shown: list[str]) -> list[str]:
    return [normalized(line) for line in shown if "%" not in line and line.strip()]


def has_figures(block: str) -> bool:
    return any("%" in line for cmd in commands(block) for line in cmd.shown)


def real_data_block(readme: str) -> str:
    """The marked block whose shown output has figures: ``luckybag predict``/``bag`` on real test images."""
    (block,) = [block for block in marked_blocks(readme) if "luckybag predict " in block]
    return block


def assert_prints_in_order(cmd: Command, status: int | None, text: str, wanted: list[str]) -> None:
    assert status == 0, f"README command failed ({status}):\n{cmd.text}\n--- output ---\n{text[-4000:]}"
    lines = iter(normalized(line) for line in text.splitlines())
    for line in wanted:  # in order: each after the one before
        assert any(printed == line for printed in lines), f"{cmd.text}\ndoes not print {line!r}; it printed:\n{text}"


def test_the_extractor_reads_commands_and_shown_output() -> None:
    block = (
        "source x\n"
        'python -c "a\n'
        'b"   # two lines, one command\n'
        "tool run \\\n"
        "  --flag   # continued\n"
        "# header  line\n"
        "# row 1  95.4%\n"
        "\n"
        "echo '# not shown output'\n"
    )
    found = commands(block)
    assert [c.text for c in found] == [
        "source x",
        'python -c "a\nb"   # two lines, one command',
        "tool run \\\n  --flag   # continued",
        "echo '# not shown output'",
    ]
    assert found[2].shown == ["header  line", "row 1  95.4%"]
    assert data_independent(found[2].shown) == ["header line"]
    readme = "text\n<!-- readme-test -->\n```bash\nls\n```\n\n```bash\nrm -rf x\n```\n<!-- readme-test: why -->\n```bash\npwd\n```\n"
    assert marked_blocks(readme) == ["ls\n", "pwd\n"]


def test_every_figure_shown_is_checked_on_the_real_data() -> None:
    readme = (ROOT / "README.md").read_text()
    assert [block for block in marked_blocks(readme) if has_figures(block)] == [real_data_block(readme)]


def test_the_readme_marks_its_experiment_and_predict_examples() -> None:
    texts = [c.text for block in marked_blocks((ROOT / "README.md").read_text()) for c in commands(block)]
    assert any(t.startswith("dvc exp run --temp -n sgd-nodrop") for t in texts)
    assert any(t.startswith("luckybag predict ") for t in texts)
    # Every experiment the README runs leaves the workspace alone.
    assert all("--temp" in t for t in texts if t.startswith("dvc exp run"))


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reproduced tiny project (with the project's .gitignore) on branch main, with its .venv."""
    root = tmp_path_factory.mktemp("readme")
    project = reproduced_project(root)
    run(["git", "branch", "-M", "main"], project)
    return project


@pytest.mark.slow
def test_the_readme_examples_run_in_order_and_leave_the_committed_model(clone: Path) -> None:
    all_commands = [c for block in marked_blocks((ROOT / "README.md").read_text()) for c in commands(block)]
    lock = (clone / "dvc.lock").read_bytes()
    results = run_block(all_commands, clone, "readme.sh")
    for index, cmd in enumerate(all_commands):
        assert_prints_in_order(cmd, *results.get(index, (None, "")), data_independent(cmd.shown))

    # The experiments ran in temporary copies: params, dvc.lock, metrics and models are the committed ones,
    # so every figure the README shows after them is the committed model's; the examples' files are ignored.
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], clone).stdout == ""
    assert (clone / "dvc.lock").read_bytes() == lock
    assert run(["dvc", "status"], clone).stdout.strip() == "Data and pipelines are up to date."
    shown = run(["dvc", "exp", "ls", "--name-only"], clone).stdout.split()
    assert {"sgd-nodrop", "sigmoid", "baseline-iter20"} <= set(shown)

    # Only what depends on the changed params re-runs: train params re-run train and what reads its model.
    ran = {
        cmd.text.split(" -n ")[1].split()[0]: stages_ran(results[i][1])
        for i, cmd in enumerate(all_commands)
        if cmd.text.startswith("dvc exp run")
    }
    model_stages = ["check-params", "train", "evaluate", "export", "model_card", "screen", "plots"]
    assert ran["sgd-nodrop"] == ran["sigmoid"] == ran["cnn"] == model_stages, ran
    assert ran["baseline-iter20"] == ["check-params", "baseline"], ran
    params = shown_experiments(clone)["sgd-nodrop"]["data"]["params"]["params.yaml"]["data"]["train"]
    assert params["optimizer"] == "sgd" and params["dropout"] == 0


@pytest.mark.slow
def test_the_experiments_report_of_a_readme_experiment(clone: Path) -> None:
    """`luckybag experiments-report` on a real named experiment (the README's, run by the test above)."""
    python = [str(BIN / "python"), "-m", "luckybag", "experiments-report"]
    run([*python, "--names", "sgd-nodrop", "--out", "reports/experiments.md"], clone)
    text = (clone / "reports/experiments.md").read_text()
    accuracy = shown_experiments(clone)["sgd-nodrop"]["data"]["metrics"]["metrics/eval.json"]["data"]["test"][
        "accuracy"
    ]
    assert f"{accuracy:.4f}" in text.split("| `sgd-nodrop`")[1].splitlines()[0]
    assert "- `sgd-nodrop`: `train.dropout=0`, `train.optimizer=sgd`" in text
    missing = run([*python, "--names", "dense-best"], clone, check=False)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == "error: no experiment named dense-best on commit " + (
        run(["git", "rev-parse", "--short=7", "HEAD"], clone).stdout.strip() + "; run `make dense-best` first"
    )
