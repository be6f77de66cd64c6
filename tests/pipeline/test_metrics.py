import numpy as np
import pytest

from luckybag import CLASS_NAMES
from luckybag.pipeline import metrics


def one_hot(labels, confidence=1.0):
    probs = np.full((len(labels), 10), (1 - confidence) / 9)
    probs[np.arange(len(labels)), labels] = confidence
    return probs


def test_perfect_predictions() -> None:
    labels = np.arange(10)
    result = metrics.summary(labels, one_hot(labels, 0.999))
    assert result["accuracy"] == 1.0
    assert result["loss"] == pytest.approx(-np.log(0.999), abs=1e-6)


def test_accuracy_and_loss_by_hand() -> None:
    labels = np.array([0, 1, 2, 3])
    probs = one_hot(np.array([0, 1, 2, 4]), 0.5)  # last one wrong: p(true) = 0.5/9
    result = metrics.summary(labels, probs)
    assert result["accuracy"] == 0.75
    assert result["loss"] == pytest.approx((3 * -np.log(0.5) - np.log(0.5 / 9)) / 4, abs=1e-6)


def test_per_class_and_confusion() -> None:
    labels = np.array([0, 0, 1, 1])
    probs = one_hot(np.array([0, 1, 1, 1]))
    per_class = metrics.per_class(labels, probs)
    assert per_class["T-shirt/top"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3, abs=1e-6),
        "support": 2,
    }
    assert per_class["Trouser"]["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert per_class["Bag"]["support"] == 0
    matrix = metrics.confusion(labels, probs)
    assert matrix.shape == (10, 10) and matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 1] == 2


def test_confusion_rows_use_class_names() -> None:
    rows = metrics.confusion_rows(np.array([9, 0]), one_hot(np.array([9, 6])))
    assert rows == [
        {"actual": "Ankle boot", "predicted": "Ankle boot"},
        {"actual": CLASS_NAMES[0], "predicted": "Shirt"},
    ]
