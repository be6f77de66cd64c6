"""Honest probabilities: calibration error, proper scores, temperature and vector scaling."""

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from luckybag.idx import DataError

METHODS = ("temperature", "vector")
CROSS_FIT_FOLDS = 5
# Fitted scales and biases are kept to this many significant digits: far finer than calibration can
# tell apart, far coarser than the last-bit noise of the optimizer's BLAS calls on another CPU.
SIGNIFICANT_DIGITS = 7


# numpy's float64 exp and log pick SIMD kernels by CPU, and the AVX-512 ones differ from the others
# in the last bit; long double has no SIMD kernels, so these give the same bytes on every x86-64 CPU.
def exp(x: np.ndarray) -> np.ndarray:
    return np.exp(np.asarray(x, dtype=np.longdouble)).astype(np.float64)


def log(x: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(x, dtype=np.longdouble)).astype(np.float64)


def log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - log(exp(shifted).sum(axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    e = exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def snap(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to SIGNIFICANT_DIGITS, through their decimal text: the same floats on every CPU."""
    return np.array([float(f"{v:.{SIGNIFICANT_DIGITS}g}") for v in np.ravel(values)]).reshape(np.shape(values))


def log_probs(probs: np.ndarray) -> np.ndarray:
    return log(np.clip(probs.astype(np.float64), 1e-12, 1.0))


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(log_probs(probs) / temperature)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(log_probs(probs)[np.arange(len(labels)), labels]))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multi-class Brier score: mean squared distance to the one-hot label."""
    return float(np.mean(np.sum((probs - np.eye(probs.shape[1])[labels]) ** 2, axis=1)))


def reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> list[dict[str, float]]:
    """Per equal-width confidence bin (lo, hi]: its range, item count, mean confidence and accuracy."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted finds each bin's upper edge; the clip puts a confidence of exactly 0 in the first bin
    bin_of_item = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    masks = [bin_of_item == b for b in range(n_bins)]  # per bin: which items fall in it
    return [
        {
            "lower": float(edges[b]),
            "upper": float(edges[b + 1]),
            "count": int(mask.sum()),
            "confidence": float(confidence[mask].mean()) if mask.any() else 0.0,
            "accuracy": float(correct[mask].mean()) if mask.any() else 0.0,
        }
        for b, mask in enumerate(masks)
    ]


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error: the count-weighted mean |accuracy - confidence| over bins."""
    bins = reliability(probs, labels, n_bins)
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / len(labels))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 minimising the NLL of ``scale(probs, T)``."""
    from scipy.optimize import minimize_scalar  # on demand: the export's reload processes fit nothing

    logp, rows = log_probs(probs), np.arange(len(labels))

    def loss(log_t: float) -> float:
        return float(-np.mean(log_softmax(logp / math.exp(log_t))[rows, labels]))

    result = minimize_scalar(loss, bounds=(math.log(0.05), math.log(20.0)), method="bounded", options={"xatol": 1e-6})
    return math.exp(result.x)


def fit_vector(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class scale a > 0 and bias b (mean 0) minimising the NLL of softmax(a * log p + b)."""
    from scipy.optimize import minimize

    logp = log_probs(probs)
    n, k = logp.shape
    one_hot = np.eye(k)[labels]

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        log_q = log_softmax(logp * theta[:k] + theta[k:])
        residual = (exp(log_q) - one_hot) / n
        grad = np.concatenate([(residual * logp).sum(axis=0), residual.sum(axis=0)])
        return float(-(one_hot * log_q).sum() / n), grad

    start = np.r_[np.ones(k), np.zeros(k)]
    bounds = [(1e-3, 1e3)] * k + [(None, None)] * k
    options = {"maxiter": 1000, "gtol": 1e-8, "ftol": 1e-12}
    theta = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options).x
    return theta[:k], theta[k:] - theta[k:].mean()  # softmax ignores a shift shared by all classes


@dataclass(frozen=True)
class Calibration:
    """softmax(scale * log p + bias) per class (temperature: scale 1/T, bias 0), after the served model's softmax."""

    method: str
    scale: np.ndarray  # (classes,)
    bias: np.ndarray  # (classes,)

    def apply(self, probs: np.ndarray) -> np.ndarray:
        return softmax(log_probs(probs) * self.scale + self.bias)

    @property
    def temperature(self) -> float | None:
        return float(1.0 / self.scale[0]) if self.method == "temperature" else None


def load_chosen(path: Path) -> tuple[Calibration, np.ndarray]:
    """The evaluate stage's chosen calibration and the served model's test-set probabilities, from ``path``."""
    try:
        with np.load(path) as saved:
            return Calibration(str(saved["method"]), saved["scale"], saved["bias"]), saved["test_calibrated"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(
            f"{path}: not the evaluate stage's predictions ({type(err).__name__}: {err}); re-run evaluate"
        ) from None


def fit(method: str, probs: np.ndarray, labels: np.ndarray) -> Calibration:
    k = probs.shape[1]
    if method == "temperature":
        return Calibration(method, snap(np.full(k, 1.0 / fit_temperature(probs, labels))), np.zeros(k))
    scale, bias = fit_vector(probs, labels)
    return Calibration(method, snap(scale), snap(bias))


def scores(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict[str, float]:
    values = {"ece": ece(probs, labels, n_bins), "nll": nll(probs, labels), "brier": brier(probs, labels)}
    return {name: round(value, 6) for name, value in values.items()}


def fold_index(n: int, folds: int = CROSS_FIT_FOLDS, seed: int = 0) -> np.ndarray:
    """Each item's fold, from a fixed shuffle: the same folds every run."""
    return np.random.default_rng(seed).permutation(n) % folds


def cross_fitted(method: str, probs: np.ndarray, labels: np.ndarray, folds: int = CROSS_FIT_FOLDS) -> np.ndarray:
    """Each item calibrated by ``method`` fitted on the other folds: out-of-sample on the fitting split."""
    fold = fold_index(len(labels), folds)
    out = np.empty_like(probs, dtype=np.float64)
    for f in range(folds):
        held = fold == f
        out[held] = fit(method, probs[~held], labels[~held]).apply(probs[held])
    return out


def choose(requested: str, cross: dict[str, np.ndarray], labels: np.ndarray) -> str:
    """``requested``, or for ``auto`` the method with the lowest cross-fitted NLL (in-sample favours vector)."""
    return min(METHODS, key=lambda method: nll(cross[method], labels)) if requested == "auto" else requested
