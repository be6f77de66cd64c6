"""Flag inputs that do not look like one fashion item: image statistics and the model's confidence outside their range.

Each range holds almost all validation-split images (raw and as generated shop photos); the thresholds
are fitted by ``benchmarks/screening_fit.py`` into ``screening.json`` beside this file."""

import json
from pathlib import Path

import numpy as np

THRESHOLDS_FILE = Path(__file__).with_name("screening.json")
INK = 64  # a prepared pixel at least this bright is part of the item
BACKDROP = 16  # a prepared pixel at most this bright is backdrop


def statistics(images: np.ndarray, probs: np.ndarray) -> dict[str, np.ndarray]:
    """Per (28, 28) uint8 prepared image: foreground statistics and the model's top probability.

    ink: share of item pixels (none on blank images); backdrop: share of black (items are framed by it);
    fill: share of the item's bounding box that is item (noise and lit surfaces fill it, garments don't);
    roughness: mean step between neighbours per unit of brightness (noise steps everywhere);
    bands: rises and falls of the row or column brightness profile (one item: 2, lines of text: many);
    confidence: the calibrated top probability (a spread bet means unfamiliar input).
    """
    x = images.astype(np.float32) / 255.0
    ink = images >= INK
    steps = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(x, axis=2)).mean(axis=(1, 2))
    box = ink.any(axis=2).sum(axis=1) * ink.any(axis=1).sum(axis=1)
    # Each row and column profile's total variation over its peak: 2 for one plateau, 2k for k of them.
    profiles = x.mean(axis=2), x.mean(axis=1)
    bands = [np.abs(np.diff(p, axis=1)).sum(axis=1) / np.maximum(p.max(axis=1), 1e-3) for p in profiles]
    return {
        "ink": ink.mean(axis=(1, 2)),
        "backdrop": (images <= BACKDROP).mean(axis=(1, 2)),
        "fill": ink.sum(axis=(1, 2)) / np.maximum(box, 1),
        "roughness": steps / np.maximum(x.mean(axis=(1, 2)), 1e-3),
        "bands": np.maximum(*bands),
        "confidence": np.asarray(probs, dtype=np.float64).max(axis=1),
    }


def read_thresholds() -> dict[str, dict[str, float]]:
    """{statistic: {"min": ..., "max": ...}} (either bound may be missing)."""
    return json.loads(THRESHOLDS_FILE.read_text(encoding="utf-8"))["thresholds"]


def screen(images: np.ndarray, probs: np.ndarray) -> list[list[str]]:
    """Per image, the statistics outside their in-distribution range (empty: in distribution)."""
    stats = statistics(images, probs)
    outside = {
        name: (stats[name] < bounds.get("min", -np.inf)) | (stats[name] > bounds.get("max", np.inf))
        for name, bounds in read_thresholds().items()
    }
    return [[name for name, out in outside.items() if out[i]] for i in range(len(images))]
