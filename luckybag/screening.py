"""Does a prepared input look like one fashion item? Image statistics and the model's confidence against thresholds.

Each statistic has the range that holds almost all in-distribution images (validation-split
images, raw and as generated shop photos); the thresholds are fitted by
``benchmarks/screening_fit.py`` and committed in ``screening.json`` beside this file. An input
outside any range is flagged: its probabilities are shown but mean little.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

THRESHOLDS_FILE = Path(__file__).with_name("screening.json")
INK = 64  # a prepared pixel at least this bright is part of the item
BACKDROP = 16  # a prepared pixel at most this bright is backdrop


def statistics(images: np.ndarray, probs: np.ndarray) -> dict[str, np.ndarray]:
    """Per image: foreground statistics of the (n, 28, 28) uint8 prepared pixels and the model's top probability.

    - ``ink``: share of item pixels; blank, black and plain-backdrop images have none.
    - ``backdrop``: share of black backdrop; items are framed by it, noise and textures are not.
    - ``fill``: share of the item's bounding box that is item; no garment fills a full
      rectangle, noise and lit surfaces do.
    - ``roughness``: mean step between neighbouring pixels per unit of mean brightness; garments
      are smooth areas with edges, noise is steps everywhere.
    - ``bands``: how often the row (or column) brightness profile rises and falls, relative to
      its peak; an item is one rise and one fall, lines of text are many.
    - ``confidence``: the calibrated top probability (a model that spreads its bet has not seen such input).
    """
    x = images.astype(np.float32) / 255.0
    ink = images >= INK
    mean = x.mean(axis=(1, 2))
    steps = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(x, axis=2)).mean(axis=(1, 2))
    box = ink.any(axis=2).sum(axis=1) * ink.any(axis=1).sum(axis=1)
    return {
        "ink": ink.mean(axis=(1, 2)),
        "backdrop": (images <= BACKDROP).mean(axis=(1, 2)),
        "fill": ink.sum(axis=(1, 2)) / np.maximum(box, 1),
        "roughness": steps / np.maximum(mean, 1e-3),
        "bands": np.maximum(_bands(x.mean(axis=2)), _bands(x.mean(axis=1))),
        "confidence": np.asarray(probs, dtype=np.float64).max(axis=1) if len(probs) else np.zeros(0),
    }


def _bands(profiles: np.ndarray) -> np.ndarray:
    """Total variation of each brightness profile over its peak: 2 for one plateau, 2k for k of them."""
    return np.abs(np.diff(profiles, axis=1)).sum(axis=1) / np.maximum(profiles.max(axis=1), 1e-3)


def read_thresholds(path: Path = THRESHOLDS_FILE) -> dict[str, dict[str, float]]:
    """{statistic: {"min": ..., "max": ...}} (either bound may be missing)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["thresholds"]


def screen(
    images: np.ndarray, probs: np.ndarray, thresholds: dict[str, dict[str, float]] | None = None
) -> list[list[str]]:
    """Per image, the statistics outside their in-distribution range (empty: in distribution)."""
    thresholds = read_thresholds() if thresholds is None else thresholds
    stats = statistics(images, probs)
    failed: list[list[str]] = [[] for _ in range(len(images))]
    for name, bounds in thresholds.items():
        values = stats[name]
        outside = np.zeros(len(images), dtype=bool)
        if "min" in bounds:
            outside |= values < bounds["min"]
        if "max" in bounds:
            outside |= values > bounds["max"]
        for i in np.flatnonzero(outside):
            failed[i].append(name)
    return failed
