"""Honest probabilities: calibration error, proper scores, temperature and vector scaling.

Both methods map a model's log-probabilities to softmax(a * log p + b), fitted by NLL on the
validation split. Temperature scaling has one a = 1/T for every class and b = 0; since
softmax(log p / T) equals softmax(z / T) for p = softmax(z), it is the classic scaling of the
logits. Vector scaling fits a scale a_k and a bias b_k per class, so it can make some classes
more and others less confident (and can change the top class).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, minimize_scalar

EPS = 1e-12
METHODS = ("temperature", "vector")
CROSS_FIT_FOLDS = 5


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


@dataclass(frozen=True)
class Calibration:
    """softmax(scale * log p + bias), per class; what the served model applies after its softmax."""

    method: str
    scale: np.ndarray  # (classes,)
    bias: np.ndarray  # (classes,)

    def apply(self, probs: np.ndarray) -> np.ndarray:
        z = log_probs(probs) * self.scale + self.bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @property
    def temperature(self) -> float | None:
        return float(1.0 / self.scale[0]) if self.method == "temperature" else None


def fit_vector(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-class scale a > 0 and bias b (centred to mean 0) minimising the NLL of softmax(a * log p + b)."""
    logp = log_probs(probs)
    n, k = logp.shape
    one_hot = np.zeros_like(logp)
    one_hot[np.arange(n), labels] = 1.0

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = logp * theta[:k] + theta[k:]
        z -= z.max(axis=1, keepdims=True)
        log_q = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        residual = (np.exp(log_q) - one_hot) / n
        grad = np.concatenate([(residual * logp).sum(axis=0), residual.sum(axis=0)])
        return float(-(one_hot * log_q).sum() / n), grad

    start = np.concatenate([np.ones(k), np.zeros(k)])
    bounds = [(1e-3, 1e3)] * k + [(None, None)] * k
    result = minimize(
        loss_and_grad,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "gtol": 1e-8, "ftol": 1e-12},
    )
    scale, bias = result.x[:k], result.x[k:]
    return scale, bias - bias.mean()  # softmax ignores a shift shared by all classes


def fit(method: str, probs: np.ndarray, labels: np.ndarray) -> Calibration:
    k = probs.shape[1]
    if method == "temperature":
        t = fit_temperature(probs, labels)
        return Calibration(method, np.full(k, 1.0 / t), np.zeros(k))
    if method == "vector":
        return Calibration(method, *fit_vector(probs, labels))
    raise ValueError(f"unknown calibration method {method!r}; expected one of {', '.join(METHODS)}")


def fold_index(n: int, folds: int = CROSS_FIT_FOLDS, seed: int = 0) -> np.ndarray:
    """Each item's fold, from a fixed shuffle: the same items, the same folds, every run."""
    return np.random.default_rng(seed).permutation(n) % folds


def cross_fitted(method: str, probs: np.ndarray, labels: np.ndarray, folds: int = CROSS_FIT_FOLDS) -> np.ndarray:
    """Every item calibrated by ``method`` fitted on the other folds only: out-of-sample figures
    on the split the calibration is fitted on."""
    fold = fold_index(len(labels), folds)
    out = np.empty_like(probs, dtype=np.float64)
    for f in range(folds):
        held = fold == f
        out[held] = fit(method, probs[~held], labels[~held]).apply(probs[held])
    return out


def choose(requested: str, cross: dict[str, np.ndarray], labels: np.ndarray) -> str:
    """``requested``, or for ``auto`` the method whose cross-fitted probabilities ``cross[method]``
    have the lowest NLL. The in-sample NLL would always favour vector scaling, which contains
    temperature scaling as a special case."""
    if requested != "auto":
        return requested
    return min(METHODS, key=lambda method: nll(cross[method], labels))
