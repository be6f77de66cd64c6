"""The seed's logistic-regression baseline: SGDClassifier scored by cross-validation."""

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import cross_validate

from luckybag.pipeline.params import BaselineParams


def cross_validate_baseline(images: np.ndarray, labels: np.ndarray, params: BaselineParams) -> dict[str, Any]:
    """Score ``SGDClassifier(loss="log_loss")`` on pixels / 255 (float64, as the seed) with k-fold CV."""
    classifier = SGDClassifier(loss="log_loss", max_iter=params.max_iter, random_state=params.random_state)
    features = images.reshape(len(images), -1).astype(np.float64) / 255.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a small max_iter is the seed's point
        scores = cross_validate(classifier, features, labels, cv=params.cv, n_jobs=-1)
    accuracy = scores["test_score"]
    return {
        "fold_accuracy": [round(float(a), 6) for a in accuracy],
        "mean_accuracy": round(float(np.mean(accuracy)), 6),
        "std_accuracy": round(float(np.std(accuracy)), 6),
        "fit_seconds": [float(s) for s in scores["fit_time"]],
    }
