"""The real pipeline, run by DVC in a throw-away git repo on tiny generated data."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPRO_LOG, reproduced_project, run, stages_ran

pytestmark = pytest.mark.slow

EXPECTED_OUTPUTS = [
    "data/raw/train-images-idx3-ubyte.gz",
    "data/prepared/train.npz",
    "plots/samples.png",
    "metrics/baseline.json",
    "models/checkpoint.keras",
    "metrics/train.json",
    "plots/loss.png",
    "dvclive/plots/metrics/eval/loss.tsv",
    "metrics/eval.json",
    "plots/confusion.png",
    "models/model.keras",
    "models/model.weights.h5",
    "models/labels.json",
    "models/model.onnx",
    "models/savedmodel/saved_model.pb",
    "models/MODEL_CARD.md",
    "plots/reliability.png",
    "plots/reliability/calibrated.json",
    "metrics/export.json",
]


def test_repro_then_experiment(tmp_path: Path) -> None:
    # The session's one cold `dvc repro` of the tiny project (tests/conftest.py), copied, with what it printed.
    tiny_project = reproduced_project(tmp_path, "baseline run")
    first = (tmp_path / REPRO_LOG).read_text()
    assert stages_ran(first) == [
        "check-params",
        "download",
        "preprocess",
        "baseline",
        "train",
        "evaluate",
        "export",
        "model_card",
        "screen",
        "plots",
    ]
    for name in EXPECTED_OUTPUTS:
        assert (tiny_project / name).exists(), name

    reliability = json.loads(run(["dvc", "plots", "show", "--json"], tiny_project).stdout)["data"]["Reliability (test)"]
    points = [(v["filename"], v["confidence"], v["accuracy"]) for v in reliability[0]["content"]["data"]["values"]]
    assert {name for name, *_ in points} == {"uncalibrated.json", "calibrated.json", "perfectly_calibrated.json"}
    assert [p[1:] for p in points if p[0] == "perfectly_calibrated.json"] == [(0.0, 0.0), (1.0, 1.0)]  # the diagonal

    evaluation = json.loads((tiny_project / "metrics/eval.json").read_text())
    assert {"accuracy", "loss"} <= set(evaluation["val"]) and {"accuracy", "loss"} <= set(evaluation["test"])
    assert {"ece", "nll", "brier", "accuracy"} <= set(evaluation["test"]["calibrated"])
    assert_calibration_is_what_was_applied(tiny_project, evaluation)
    exported = json.loads((tiny_project / "metrics/export.json").read_text())
    assert set(exported) == {"onnx"}  # the shared project's export.check; all four: tests/pipeline/test_backends.py
    for name in ("model.keras", "model.weights.h5", "architecture.json", "savedmodel/saved_model.pb"):
        assert (tiny_project / "models" / name).exists(), name  # written either way
    assert all(result["ok"] and result["max_abs_diff"] <= 1e-5 for result in exported.values())
    labels = json.loads((tiny_project / "models/labels.json").read_text())
    assert labels["0"] == "T-shirt/top" and labels["9"] == "Ankle boot"

    again = run(["dvc", "repro"], tiny_project)
    assert stages_ran(again.stdout) == []
    assert "up to date" in again.stdout

    loss_png = (tiny_project / "plots/loss.png").read_bytes()
    plots_py = tiny_project / "luckybag/pipeline/plots.py"
    plots_py.write_text(plots_py.read_text().replace('label="validation")', 'label="validation", linestyle="--")'))
    restyled = run(["dvc", "repro"], tiny_project)
    assert stages_ran(restyled.stdout) == ["plots"]  # a new plot style retrains nothing
    assert (tiny_project / "plots/loss.png").read_bytes() != loss_png
    card_py = tiny_project / "luckybag/pipeline/model_card.py"
    card_py.write_text(card_py.read_text().replace("## Intended use", "## What it is for"))
    reworded = run(["dvc", "repro"], tiny_project)
    assert stages_ran(reworded.stdout) == ["model_card"]  # a new wording re-exports nothing
    assert "## What it is for" in (tiny_project / "models/MODEL_CARD.md").read_text()

    # An experiment re-runs only what its params reach: tests/test_readme.py checks it on the README's experiments.

    # Truncated inputs of the export stage: one line naming the file, no traceback.
    for name, expected in (
        ("data/predictions.npz", "not the evaluate stage's predictions (BadZipFile: "),
        ("data/prepared/test.npz", "not a prepared split with images and labels (BadZipFile: "),
    ):
        path = tiny_project / name
        whole = path.read_bytes()
        path.write_bytes(whole[:-100])
        done = run(["python", "-m", "stages.export"], tiny_project, check=False)
        path.write_bytes(whole)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines()[-1].startswith(f"error: {name}: {expected}"), done.stderr
        assert "Traceback" not in done.stderr


def assert_calibration_is_what_was_applied(project: Path, evaluation: dict) -> None:
    """The calibration evaluate saved reproduces its calibrated test probabilities and their figures,
    and, fitted on validation, cannot do worse there than no calibration (the identity is a candidate)."""
    from luckybag.pipeline import calibration
    from luckybag.pipeline.data import load_split

    with np.load(project / "data/predictions.npz") as saved:
        method = str(saved["method"])
        chosen = calibration.Calibration(method, saved["scale"], saved["bias"])
        np.testing.assert_allclose(chosen.apply(saved["test"]), saved["test_calibrated"], atol=1e-12)
        calibrated = saved["test_calibrated"]
    assert method == evaluation["calibration"]["method"] in calibration.METHODS
    labels = load_split(project / "data/prepared/test.npz").labels
    assert calibration.ece(calibrated, labels) == pytest.approx(evaluation["test"]["calibrated"]["ece"], abs=1e-6)
    assert evaluation["calibration"][method]["test_ece"] == evaluation["test"]["calibrated"]["ece"]
    assert evaluation["val"]["calibrated_in_sample"]["nll"] <= evaluation["val"]["nll"] + 1e-6
    if method == "temperature":
        assert chosen.temperature == pytest.approx(evaluation["temperature"], abs=1e-6)


def test_bad_param_fails_the_stage_with_one_line_and_no_output(tiny_project: Path) -> None:
    for stage in ("download", "preprocess"):  # with data present, only the params check can stop training
        run(["python", "-m", f"stages.{stage}"], tiny_project)
    params_path = tiny_project / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["train"]["dropout"] = 1.5
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    done = run(["python", "-m", "stages.train"], tiny_project, check=False)
    assert done.returncode != 0
    assert done.stderr.strip() == "error: params: 'train.dropout' is 1.5; expected a rate in [0, 1)"
    assert not (tiny_project / "models").exists() and not (tiny_project / "metrics").exists()


def test_missing_data_is_one_line(tiny_project: Path) -> None:
    done = run(["python", "-m", "stages.preprocess"], tiny_project, check=False)
    assert done.returncode != 0
    assert done.stderr.strip() == (
        "error: data/raw/train-images-idx3-ubyte.gz: file not found (run the download stage first)"
    )
    assert "Traceback" not in done.stderr


def test_bad_value_through_dvc_exp_run_fails_the_same_way(tiny_project: Path) -> None:
    done = run(["dvc", "exp", "run", "-S", "train.epochs=0"], tiny_project, check=False)
    assert done.returncode != 0
    assert "error: params: 'train.epochs' is 0; expected an integer >= 1" in done.stdout + done.stderr
    assert not (tiny_project / "metrics").exists()
