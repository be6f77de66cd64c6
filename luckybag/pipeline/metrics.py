"""Classification metrics from predicted probabilities (scikit-learn)."""

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support

from luckybag.contract import CLASS_NAMES

CLASSES = list(range(len(CLASS_NAMES)))


def _round(value: float) -> float:
    return round(float(value), 6)


def summary(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy and mean cross-entropy loss (what Keras reports as ``loss``)."""
    return {
        "accuracy": _round(accuracy_score(labels, probs.argmax(axis=1))),
        "loss": _round(log_loss(labels, probs, labels=CLASSES)),
    }


def per_class(labels: np.ndarray, probs: np.ndarray) -> dict[str, dict[str, float]]:
    scores = precision_recall_fscore_support(labels, probs.argmax(axis=1), labels=CLASSES, zero_division=0)
    return {
        name: {"precision": _round(p), "recall": _round(r), "f1": _round(f), "support": int(s)}
        for name, p, r, f, s in zip(CLASS_NAMES, *scores, strict=True)
    }


def confusion(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    return confusion_matrix(labels, probs.argmax(axis=1), labels=CLASSES)


def confusion_rows(labels: np.ndarray, probs: np.ndarray) -> list[dict[str, Any]]:
    """One row per image, as DVC's confusion template wants (actual, predicted class names)."""
    names = np.array(CLASS_NAMES)
    return [{"actual": a, "predicted": p} for a, p in zip(names[labels], names[probs.argmax(axis=1)], strict=True)]
