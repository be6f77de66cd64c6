"""The screen stage on the tiny project: its detector is a stage output fitted for the model beside it, the CLI
screens with it (a real photograph flagged, a test item passing), and a param change that changes the model refits it."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from luckybag.serve import screening
from tests.conftest import reproduced_project, run

pytestmark = pytest.mark.slow  # runs the tiny pipeline twice


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reproduced_project(tmp_path_factory.mktemp("screen"))


def summary(project: Path) -> dict:
    return json.loads((project / "models" / "ood" / screening.SUMMARY).read_text())


def test_the_detector_belongs_to_the_model_beside_it(project):
    found = summary(project)["models"]
    assert found == {name: screening.md5(project / "models" / name) for name in ("model.keras", "model.onnx")}
    assert summary(project)["validation_flagged"] <= 0.02


def test_the_cli_flags_a_photograph_and_passes_a_test_item(project, tmp_path):
    import skimage.data

    with np.load(project / "data" / "prepared" / "test.npz") as test:
        Image.fromarray(test["images"][0]).save(tmp_path / "item.png")
    Image.fromarray(skimage.data.astronaut()).save(tmp_path / "astronaut.png")
    done = run(["luckybag", "predict", "--json", str(tmp_path / "item.png"), str(tmp_path / "astronaut.png")], project)
    assert done.stderr == ""
    assert [r["in_distribution"] for r in json.loads(done.stdout)] == [True, False]


def test_a_param_change_refits_it(project):
    before = {p.name: screening.md5(p) for p in (project / "models" / "ood").iterdir()}
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["seed"] += 1
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = run(["dvc", "repro"], project)
    assert "Running stage 'screen'" in done.stdout
    after = {p.name: screening.md5(p) for p in (project / "models" / "ood").iterdir()}
    assert after[screening.ARRAYS] != before[screening.ARRAYS] and after[screening.SUMMARY] != before[screening.SUMMARY]
    assert summary(project)["models"]["model.onnx"] == screening.md5(project / "models" / "model.onnx")
