"""Honest probabilities: calibration error, proper scores and temperature scaling.

Temperature scaling divides the logits by one number T fitted on the validation
split; softmax(log p / T) equals softmax(z / T) for a softmax output p = softmax(z),
so it works on a model's probabilities directly.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

EPS = 1e-12


def log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probs.astype(np.float64), EPS, 1.0))


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(probs) / T), computed stably."""
    z = log_probs(probs) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(log_probs(probs)[np.arange(len(labels)), labels]))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multi-class Brier score: mean over items of the squared distance to the one-hot label."""
    one_hot = np.zeros_like(probs, dtype=np.float64)
    one_hot[np.arange(len(labels)), labels] = 1.0
    return float(np.mean(np.sum((probs - one_hot) ** 2, axis=1)))


def reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> list[dict[str, float]]:
    """Per equal-width confidence bin: its range, item count, mean confidence and accuracy."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bins are (lo, hi]; a confidence of exactly 0 can't occur for 10 classes (min is 0.1).
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "confidence": float(confidence[mask].mean()) if count else 0.0,
                "accuracy": float(correct[mask].mean()) if count else 0.0,
            }
        )
    return bins


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error: the count-weighted mean |accuracy - confidence| over bins."""
    bins = reliability(probs, labels, n_bins)
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / len(labels))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the NLL of ``scale(probs, T)`` (fit on validation data only)."""
    logp = log_probs(probs)
    rows = np.arange(len(labels))

    def loss(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        return float(-np.mean(z[rows, labels] - np.log(np.exp(z).sum(axis=1))))

    result = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def scores(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict[str, float]:
    return {
        "ece": round(ece(probs, labels, n_bins), 6),
        "nll": round(nll(probs, labels), 6),
        "brier": round(brier(probs, labels), 6),
    }
