"""The recipe choices (reports/cnn-*.md, reports/search.md), `make cnn`/`make dense-best` and reports/experiments.md."""

import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from luckybag.lab.experiments_report import render
from tests.conftest import ROOT


def make_target_sets(target: str) -> dict[str, object]:
    """The `-S train.KEY=VALUE` pairs a Makefile target passes to `dvc exp run`."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    match = re.search(rf"^{re.escape(target)}:.*\n\t(.*dvc exp run.*)$", text, re.MULTILINE)
    assert match, f"no dvc exp run in the Makefile's {target} target"
    words = shlex.split(match.group(1))
    sets = [words[i + 1] for i, word in enumerate(words) if word == "-S"]
    pairs = (s.split("=", 1) for s in sets)
    return {key.removeprefix("train."): yaml.safe_load(value) for key, value in pairs}


def report_val_accuracy(path: Path) -> dict[str, float]:
    """Experiment name -> val accuracy, from a grid report's table (luckybag grid --report)."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ") and "---" not in line]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        name = cells[header.index("experiment")]
        if name.startswith("`"):  # not the baseline's reference row
            rows[name.strip("`")] = float(cells[header.index("val accuracy")])
    return rows


def without_epochs(params: dict[str, object]) -> str:
    return json.dumps({key: value for key, value in params.items() if key != "train.epochs"}, sort_keys=True)


def test_make_cnn_runs_the_finalist_chosen_on_validation_from_a_clean_start() -> None:
    """Step 1 screened every candidate of cnn-screen.yaml (reports/cnn-screen.md); step 2 trained its three most
    accurate on validation for longer (cnn-final.yaml, reports/cnn-final.md); make cnn runs step 2's most accurate."""
    from luckybag.lab.grid import load_grid

    screen, final = load_grid(ROOT / "cnn-screen.yaml"), load_grid(ROOT / "cnn-final.yaml")
    screened = report_val_accuracy(ROOT / "reports/cnn-screen.md")
    assert set(screened) == {exp.name for exp in screen.experiments} and len(screened) >= 5
    top3 = sorted(screened, key=lambda name: screened[name], reverse=True)[:3]
    params = {exp.name: exp.params for exp in screen.experiments}
    finalists = {exp.name: exp.params for exp in final.experiments}
    assert sorted(without_epochs(params[name]) for name in top3) == sorted(map(without_epochs, finalists.values()))
    assert all(p["train.epochs"] > params[top3[0]]["train.epochs"] for p in finalists.values())

    finished = report_val_accuracy(ROOT / "reports/cnn-final.md")
    assert set(finished) == set(finalists)
    winner = max(finished, key=lambda name: finished[name])
    train = {key.removeprefix("train."): value for key, value in finalists[winner].items() if key.startswith("train.")}
    assert make_target_sets("cnn") == train
    assert "-n cnn" in (ROOT / "Makefile").read_text()


def search_best(path: Path) -> tuple[str, dict[str, str]]:
    """The best trial's name and params (table cells as printed) of a search report (luckybag search --report-only)."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ") and "---" not in line]
    header = [cell.strip().strip("`") for cell in lines[0].strip("|").split("|")]
    cells = [cell.strip() for cell in lines[1].strip("|").split("|")]
    row = dict(zip(header, cells, strict=True))
    return row["experiment"].strip("`"), {key: value for key, value in row.items() if key.startswith("train.")}


def test_make_dense_best_runs_the_searchs_best_trial_on_validation() -> None:
    """`make dense-best` is the best trial on validation of search.yaml's real search (reports/search.md), with the
    search's defaults; floats as precise as the report prints them."""
    from luckybag.lab.space import read_space

    name, best = search_best(ROOT / "reports/search.md")
    assert re.search(rf"\*\*Best: `{name}`\*\*", (ROOT / "reports/search.md").read_text())
    layers = [
        {"units": int(best.pop("train.hidden_layers.units")), "activation": best.pop("train.hidden_layers.activation")}
    ]
    expected = {key.removeprefix("train."): yaml.safe_load(value) for key, value in best.items()}
    expected["hidden_layers"] = layers * int(expected.pop("hidden_layers.layers"))
    fixed = read_space(ROOT / "search.yaml").fixed  # the search's train defaults; export.check changes no model
    expected |= {key.removeprefix("train."): value for key, value in fixed.items() if key.startswith("train.")}
    made = make_target_sets("dense-best")
    rounded = {key: float(f"{value:.6g}") if isinstance(value, float) else value for key, value in made.items()}
    assert rounded == expected
    assert "-n dense-best" in (ROOT / "Makefile").read_text()


def exp_row(name: str, accuracy: float, ece: float, dropout: float, rev: str = "abc") -> dict:
    return {
        "rev": rev,
        "name": name,
        "data": {
            "params": {"params.yaml": {"data": {"train": {"backend": "tensorflow", "dropout": dropout, "epochs": 3}}}},
            "metrics": {
                "metrics/eval.json": {
                    "data": {"val": {"accuracy": accuracy + 0.01}, "test": {"accuracy": accuracy, "ece": ece}}
                },
                "metrics/train.json": {"data": {"params_count": 174278, "best_epoch": 2, "epochs_run": 3}},
            },
        },
    }


def test_report_rows_come_from_each_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import luckybag.lab.experiments_report as report

    timings = {"base1234567": {"seconds": 10.0, "seconds_per_epoch": 1.0}, "exp1": {"seconds": 216.4}}
    monkeypatch.setattr(report, "timing", lambda rev: timings.get(rev, {}))
    baseline = exp_row("workspace", 0.87, 0.0133, 0.3, rev="base123")
    text = render("base1234567", baseline, {"cnn": exp_row("cnn", 0.9226, 0.0314, 0.4, rev="exp1")}, ["cnn"])
    lines = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    cnn = lines["| `cnn`"]
    assert "0.9226" in cnn and "0.9326" in cnn and "3.14 %" in cnn and "174,278" in cnn and "216 s" in cnn
    assert "0.8700" in lines["| committed default (`base123`)"] and "10 s (1.0 s/epoch)" in text
    assert "- `cnn`: `train.dropout=0.4`" in text
    other = render("base1234567", baseline, {"cnn": exp_row("cnn", 0.91, 0.02, 0.3, rev="exp2")}, ["cnn"])
    assert "0.9100" in other and "- `cnn`: none" in other and "—" in other  # no timing file: a dash


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
