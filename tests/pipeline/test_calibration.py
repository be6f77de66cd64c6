import sys

import numpy as np
import pytest

from luckybag.pipeline import calibration
from tests.conftest import CPU_SETTINGS, ROOT, run


def confident_set(n: int, confidence: float, accuracy: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Items whose top class has probability ``confidence`` and is right a fraction ``accuracy`` of the time."""
    rng = np.random.default_rng(seed)
    predicted = rng.integers(0, 10, size=n)
    probs = np.full((n, 10), (1 - confidence) / 9)
    probs[np.arange(n), predicted] = confidence
    labels = predicted.copy()
    wrong = np.arange(n) >= round(accuracy * n)
    labels[wrong] = (predicted[wrong] + 1) % 10
    return probs, labels


def test_perfectly_calibrated_set_has_zero_ece() -> None:
    probs, labels = confident_set(1000, 0.8, 0.8)
    assert calibration.ece(probs, labels) == pytest.approx(0.0, abs=1e-12)


def test_overconfident_set_by_hand() -> None:
    # Says 97 % and is right 80 % of the time: ECE = |0.8 - 0.97| = 0.17.
    probs, labels = confident_set(1000, 0.97, 0.8)
    assert calibration.ece(probs, labels) == pytest.approx(0.17, abs=1e-9)


def test_ece_weights_bins_by_count() -> None:
    a_probs, a_labels = confident_set(300, 0.95, 0.95)  # calibrated bin
    b_probs, b_labels = confident_set(100, 0.55, 0.35)  # off by 0.2
    probs, labels = np.vstack([a_probs, b_probs]), np.concatenate([a_labels, b_labels])
    assert calibration.ece(probs, labels) == pytest.approx(100 * 0.2 / 400, abs=1e-9)


def test_brier_and_nll_by_hand() -> None:
    probs = np.array([[0.5, 0.5] + [0.0] * 8, [0.1] * 10])
    labels = np.array([0, 3])
    assert calibration.brier(probs, labels) == pytest.approx((0.25 + 0.25 + (0.81 + 9 * 0.01)) / 2)
    assert calibration.nll(probs, labels) == pytest.approx((np.log(2) + np.log(10)) / 2)


def test_scale_with_t1_is_identity_and_keeps_argmax() -> None:
    probs, _ = confident_set(50, 0.7, 0.7)
    np.testing.assert_allclose(calibration.scale(probs, 1.0), probs, atol=1e-12)
    np.testing.assert_array_equal(calibration.scale(probs, 3.0).argmax(1), probs.argmax(1))


def test_temperature_scaling_fixes_an_overconfident_model() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4000, 10)) * 2
    labels = np.array([rng.choice(10, p=np.exp(z) / np.exp(z).sum()) for z in logits])
    true_probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    overconfident = calibration.scale(true_probs, 1 / 2.5)  # logits x 2.5
    t = calibration.fit_temperature(overconfident, labels)
    assert t == pytest.approx(2.5, rel=0.1)
    fixed = calibration.scale(overconfident, t)
    assert calibration.ece(fixed, labels) < calibration.ece(overconfident, labels) / 3
    assert calibration.nll(fixed, labels) < calibration.nll(overconfident, labels)


def test_reliability_bins_cover_every_item() -> None:
    probs, labels = confident_set(500, 0.6, 0.5)
    bins = calibration.reliability(probs, labels)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 500
    (full,) = [b for b in bins if b["count"]]
    assert full["lower"] < 0.6 <= full["upper"] and full["accuracy"] == pytest.approx(0.5)


def distorted_set(n: int, scale: np.ndarray, bias: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A model's probabilities q and labels drawn from softmax(scale * log q + bias): a per-class
    miscalibration that vector scaling can undo exactly."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 10)) * 2
    reported = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    truth = calibration.Calibration("vector", scale, bias).apply(reported)
    labels = np.array([rng.choice(10, p=p) for p in truth])
    return reported, labels


PER_CLASS_SCALE = np.array([0.5, 0.7, 1.0, 1.5, 2.0, 0.6, 1.2, 0.8, 1.8, 1.0])
PER_CLASS_BIAS = np.array([0.5, -0.5, 0.0, 0.3, -0.3, 0.8, -0.8, 0.0, 0.2, -0.2])


def test_vector_scaling_recovers_a_per_class_distortion() -> None:
    probs, labels = distorted_set(20000, PER_CLASS_SCALE, PER_CLASS_BIAS, seed=2)
    vector = calibration.fit("vector", probs, labels)
    np.testing.assert_allclose(vector.scale, PER_CLASS_SCALE, rtol=0.15)
    np.testing.assert_allclose(vector.bias, PER_CLASS_BIAS - PER_CLASS_BIAS.mean(), atol=0.15)
    temperature = calibration.fit("temperature", probs, labels)
    assert calibration.nll(vector.apply(probs), labels) < calibration.nll(temperature.apply(probs), labels) - 0.01


def test_temperature_calibration_is_scale_by_t() -> None:
    probs, labels = confident_set(400, 0.9, 0.7)
    cal = calibration.fit("temperature", probs, labels)
    assert cal.temperature == pytest.approx(calibration.fit_temperature(probs, labels))
    assert cal.temperature > 1.2  # overconfident: softened
    np.testing.assert_allclose(cal.apply(probs), calibration.scale(probs, cal.temperature), atol=1e-12)
    assert calibration.fit("vector", probs, labels).temperature is None


def test_auto_chooses_out_of_sample() -> None:
    # One temperature is the whole truth here: in-sample, vector scaling still fits better (it contains
    # temperature scaling), but cross-fitted it pays for its 19 extra parameters and auto says temperature.
    probs, labels = distorted_set(1500, np.full(10, 2.0), np.zeros(10), seed=3)
    fitted = {m: calibration.fit(m, probs, labels) for m in calibration.METHODS}
    in_sample = {m: calibration.nll(cal.apply(probs), labels) for m, cal in fitted.items()}
    assert in_sample["vector"] < in_sample["temperature"]
    cross = {m: calibration.cross_fitted(m, probs, labels) for m in calibration.METHODS}
    assert calibration.choose("auto", cross, labels) == "temperature"
    assert calibration.choose("vector", cross, labels) == "vector"
    # A per-class miscalibration: auto takes vector scaling.
    probs, labels = distorted_set(1500, PER_CLASS_SCALE, PER_CLASS_BIAS, seed=4)
    cross = {m: calibration.cross_fitted(m, probs, labels) for m in calibration.METHODS}
    assert calibration.choose("auto", cross, labels) == "vector"
    assert calibration.choose("temperature", cross, labels) == "temperature"


def test_cross_fitted_items_never_see_their_own_labels() -> None:
    probs, labels = distorted_set(1000, PER_CLASS_SCALE, PER_CLASS_BIAS, seed=5)
    fold = calibration.fold_index(len(labels))
    assert sorted(np.bincount(fold)) == [200] * 5
    changed = labels.copy()
    changed[fold == 0] = (changed[fold == 0] + 1) % 10
    before = calibration.cross_fitted("vector", probs, labels)
    after = calibration.cross_fitted("vector", probs, changed)
    np.testing.assert_array_equal(before[fold == 0], after[fold == 0])  # fitted on folds 1-4 both times
    assert not np.allclose(before[fold == 1], after[fold == 1])  # their fit saw the changed fold 0


@pytest.mark.slow
@pytest.mark.parametrize("method", calibration.METHODS)
def test_served_model_applies_the_calibration(method: str) -> None:
    import yaml

    from luckybag.pipeline.exports import build_served
    from luckybag.pipeline.models import build_model
    from luckybag.pipeline.params import TrainParams
    from tests.conftest import ROOT, make_images

    params = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    params.update(hidden_layers=[{"units": 16, "activation": "relu"}])
    model = build_model(TrainParams.model_validate(params))
    rng = np.random.default_rng(6)
    images = make_images(rng.integers(0, 10, size=64), rng)
    probs = np.asarray(model.predict(images, verbose=0), dtype=np.float64)
    cal = calibration.Calibration(
        method,
        PER_CLASS_SCALE if method == "vector" else np.full(10, 0.7),
        PER_CLASS_BIAS if method == "vector" else np.zeros(10),
    )
    served = build_served(model, cal)
    # By hand: softmax(scale * log p + bias), per class.
    logits = np.log(probs) * cal.scale + cal.bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    # The calibration moves the probabilities far more than the tolerance, so an uncalibrated served model fails.
    assert np.abs(expected - probs).max() > 100 * 1e-5
    np.testing.assert_allclose(served.predict(images, verbose=0), expected, atol=1e-5)
    if method == "temperature":  # T = 1/0.7 > 1 softens every item's top probability, keeping its class
        np.testing.assert_array_equal(expected.argmax(axis=1), probs.argmax(axis=1))
        assert (expected.max(axis=1) < probs.max(axis=1)).all()


def test_served_model_matches_the_calibration_on_an_overconfident_model() -> None:
    """Probabilities below calibration.FLOOR (log p of -80 where the fit saw -27.6) must not leave the served
    model's answers apart from the evaluated ones: a temperature of 4 lifts the floored classes to about 1e-3."""
    import yaml

    from luckybag.pipeline.exports import build_served
    from luckybag.pipeline.models import build_model
    from luckybag.pipeline.params import TrainParams
    from tests.conftest import ROOT, make_images

    params = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    params.update(hidden_layers=[{"units": 16, "activation": "relu"}])
    model = build_model(TrainParams.model_validate(params))
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel * 300, bias])
    rng = np.random.default_rng(7)
    images = make_images(rng.integers(0, 10, size=64), rng)
    probs = np.asarray(model.predict(images, verbose=0), dtype=np.float64)
    assert (probs < calibration.FLOOR).mean() > 0.3  # the case under test: many probabilities below the floor
    cal = calibration.Calibration("temperature", np.full(10, 0.25), np.zeros(10))
    np.testing.assert_allclose(build_served(model, cal).predict(images, verbose=0), cal.apply(probs), atol=1e-5)


CALIBRATE_AND_HASH = """
import hashlib, numpy as np
from luckybag.pipeline import calibration
from tests.conftest import CPU_SETTINGS, ROOT, run
rng = np.random.default_rng(3)
weights = rng.random((3000, 10)) ** 2
weights = weights * weights  # products and quotients are exact on every CPU, unlike np.exp
probs = weights / weights.sum(axis=1, keepdims=True)
labels = rng.integers(0, 10, 3000)
digest = hashlib.md5()
for method in calibration.METHODS:
    fitted = calibration.fit(method, probs, labels)
    for array in (fitted.scale, fitted.bias, fitted.apply(probs), calibration.cross_fitted(method, probs, labels)):
        digest.update(array.tobytes())
print(digest.hexdigest())
"""


def test_calibration_gives_the_same_bytes_without_avx512() -> None:
    """numpy's AVX-512 exp/log differ from its other kernels in the last bit; calibration must not."""
    digests = {
        cpu: run([sys.executable, "-c", CALIBRATE_AND_HASH], ROOT, env=env).stdout.strip()
        for cpu, env in CPU_SETTINGS.items()
    }
    assert len(set(digests.values())) == 1, digests
