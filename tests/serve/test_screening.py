"""The screen stage's detector as the CLI uses it: its maths, whose model it is, and the committed model's detector
on real pictures (a photograph and a printed letter flagged, test items passing). No mocks."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from luckybag import cli
from luckybag.serve import screening
from tests.conftest import ROOT

MODEL = ROOT / "models" / "model.onnx"


PATTERNS = np.random.default_rng(1).uniform(0, 80, size=(3, 28 * 28))


def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, features around one mean per class and pixels mixing three patterns: a learnable distribution."""
    labels = rng.integers(0, 3, n)
    pixels = rng.uniform(0, 1, size=(n, 3)) @ PATTERNS + rng.normal(0, 1, size=(n, 28 * 28))
    return labels, rng.normal(size=(n, 4)) + labels[:, None] * 3.0, pixels.clip(0, 255).reshape(n, 28, 28)


def test_the_threshold_flags_one_percent_of_validation_and_far_points():
    from luckybag.pipeline import ood

    rng = np.random.default_rng(0)
    labels, features, pixels = sample(rng, 2000)
    arrays = ood.fit_statistics(features, labels, pixels)
    _, features, pixels = sample(rng, 2000)
    arrays, threshold = ood.calibrate(arrays, screening.part_scores(arrays, features, pixels))
    _, features, pixels = sample(rng, 2000)
    inside = screening.combined(arrays, screening.part_scores(arrays, features, pixels))
    assert 0.002 < np.mean(inside > threshold) < 0.03
    far = screening.part_scores(arrays, np.full((1, 4), 40.0), np.full((1, 28, 28), 255, np.uint8))
    assert (screening.combined(arrays, far) > threshold).all()


def test_a_model_without_its_detector_is_unscreened(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"model")
    detector, notice = screening.find(model)
    assert detector is None and screening.UNSCREENED in notice and "not found" in notice
    (tmp_path / "ood").mkdir()
    (tmp_path / "ood" / screening.SUMMARY).write_text(json.dumps({"threshold": 1.0, "models": {"model.onnx": "0"}}))
    detector, notice = screening.find(model)
    assert detector is None and "another model.onnx" in notice and "\n" not in notice


def test_a_broken_detector_is_one_line_naming_the_file(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"model")
    (tmp_path / "ood").mkdir()
    (tmp_path / "ood" / screening.SUMMARY).write_text("{not json")
    with pytest.raises(screening.DetectorError, match=r"detector.json: not a detector summary .*expected"):
        screening.find(model)
    summary = {"threshold": 1.0, "models": {"model.onnx": screening.md5(model)}}
    (tmp_path / "ood" / screening.SUMMARY).write_text(json.dumps(summary))
    (tmp_path / "ood" / screening.FEATURES).write_bytes(b"junk")
    with pytest.raises(screening.DetectorError, match=r"features.onnx: cannot load it as an ONNX feature graph"):
        screening.find(model)


@pytest.fixture(scope="module")
def committed_detector() -> screening.Detector:
    detector, notice = screening.find(MODEL) if MODEL.exists() else (None, "no models/model.onnx")
    if detector is None:
        pytest.skip(f"{notice}: `dvc repro` makes the real model and its detector")
    return detector


def letter(path: Path, char: str) -> Path:
    import matplotlib

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), 64)
    canvas = Image.new("L", (96, 96), 255)
    ImageDraw.Draw(canvas).text((48, 48), char, fill=0, font=font, anchor="mm")
    canvas.save(path)
    return path


def test_the_committed_detector_flags_real_non_items_and_passes_test_items(committed_detector, tmp_path, capsys):
    import skimage.data

    from luckybag.pipeline.data import load_split

    Image.fromarray(skimage.data.astronaut()).save(tmp_path / "astronaut.png")
    items = load_split(ROOT / "data" / "prepared" / "test.npz").images[:2]
    for i, item in enumerate(items):
        Image.fromarray(item).save(tmp_path / f"item{i}.png")
    paths = [
        tmp_path / "astronaut.png",
        letter(tmp_path / "A.png", "A"),
        tmp_path / "item0.png",
        tmp_path / "item1.png",
    ]
    assert cli.main(["predict", "--json", *map(str, paths)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["in_distribution"] for r in records] == [False, False, True, True]
    assert all(r["ood_threshold"] == committed_detector.threshold for r in records)
    assert [r["ood_score"] > r["ood_threshold"] for r in records] == [True, True, False, False]
    assert cli.main(["bag", *map(str, paths)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("; left out 2 inputs not like a fashion item")


def test_a_copied_model_without_its_detector_says_so_once(committed_detector, tmp_path, capsys):
    shutil.copy(MODEL, tmp_path / "model.onnx")
    shutil.copy(MODEL.with_name("labels.json"), tmp_path / "labels.json")
    letter(tmp_path / "A.png", "A")
    assert cli.main(["predict", str(tmp_path / "A.png"), "--model", str(tmp_path / "model.onnx")]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"note: {tmp_path / 'ood'}/ not found beside model.onnx: answers are unscreened (`dvc repro` fits it)"
    ]
    assert "!" not in out
