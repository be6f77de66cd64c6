"""The screen stage's detector as the CLI uses it: its maths and whose model it is. No mocks. The real model's
detector on real pictures is checked on the acceptance run (tests/pipeline/test_acceptance.py)."""

import json

import numpy as np
import pytest

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
    very_far = screening.part_scores(arrays, np.full((1, 4), 1e6), np.full((1, 28, 28), 255, np.uint8))
    assert np.isfinite(screening.combined(arrays, very_far)).all()  # the tail's p-value underflows; its log does not
    none = screening.part_scores(arrays, np.zeros((0, 4)), np.zeros((0, 28, 28), np.uint8))
    assert screening.combined(arrays, none).shape == (0,)


def test_p_values_follow_the_validation_scores_then_an_exponential_tail():
    from luckybag.pipeline import ood

    validation = np.random.default_rng(2).exponential(1.0, size=(10_000, 2))
    arrays, threshold = ood.calibrate({}, validation)
    log_p = screening.log_p_values(arrays, np.array([[np.log(2), 0.0], [arrays["tail_start"][0] + 3.0, 0.0]]))
    assert abs(np.exp(log_p[0, 0]) - 0.5) < 0.02 and log_p[0, 1] == 0.0  # median: p 1/2; below all: p 1
    assert log_p[1, 0] == pytest.approx(np.log(screening.TAIL) - 3.0 / arrays["tail_scale"][0])
    assert arrays["tail_scale"][0] == pytest.approx(1.0, abs=0.15)  # an exponential's mean excess is its scale
    fresh = np.random.default_rng(3).exponential(1.0, size=(20_000, 2))  # not the scores the threshold came from
    assert np.mean(screening.combined(arrays, fresh) > threshold) == pytest.approx(0.01, abs=0.003)


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
