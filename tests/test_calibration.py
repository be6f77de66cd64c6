import numpy as np
import pytest

from luckybag import calibration


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
