"""Export formats and their round-trip check in a fresh process.

The check mirrors the seed's save/restore step: ``load_model`` the whole model,
and ``load_weights`` into a freshly built model of the same architecture; both
must predict what the trained model predicts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from luckybag import CLASS_NAMES
from luckybag.errors import LuckybagError
from luckybag.io import atomic_path, write_json

KERAS_FILE = "model.keras"
WEIGHTS_FILE = "model.weights.h5"
ARCHITECTURE_FILE = "architecture.json"
LABELS_FILE = "labels.json"


class ExportError(LuckybagError):
    """An exported model does not load or does not predict what the trained model predicts."""


def save_all(model: Any, out_dir: Path) -> dict[str, Path]:
    """Write the whole model, its weights, its architecture and the labels into ``out_dir``."""
    paths = {
        "keras": out_dir / KERAS_FILE,
        "weights": out_dir / WEIGHTS_FILE,
        "architecture": out_dir / ARCHITECTURE_FILE,
        "labels": out_dir / LABELS_FILE,
    }
    with atomic_path(paths["keras"]) as tmp:
        model.save(tmp)
    with atomic_path(paths["weights"], suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    with atomic_path(paths["architecture"]) as tmp:
        tmp.write_text(model.to_json(), encoding="utf-8")
    write_json(paths["labels"], {str(i): name for i, name in enumerate(CLASS_NAMES)})
    return paths


def load(kind: str, out_dir: Path) -> Any:
    """Load a model the way a user would: ``load_model`` or architecture + ``load_weights``."""
    import keras

    if kind == "keras":
        return keras.models.load_model(out_dir / KERAS_FILE)  # safe_mode is on by default
    if kind == "weights":
        model = keras.models.model_from_json((out_dir / ARCHITECTURE_FILE).read_text(encoding="utf-8"))
        model.load_weights(out_dir / WEIGHTS_FILE)
        return model
    raise ValueError(f"unknown export kind {kind!r}")


def reload_in_fresh_process(
    kinds: list[str], out_dir: Path, images_path: Path, backend: str
) -> dict[str, tuple[np.ndarray, float]]:
    """Load each export kind in one new Python process (nothing shared with this one);
    return kind -> (its probabilities on ``images_path``, load seconds)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "luckybag.exports", str(out_dir), str(images_path), *kinds]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ExportError(f"{out_dir}: reloading the exports in a fresh process failed: {last}")
    results = {}
    for kind, load_seconds in json.loads(done.stdout.strip().splitlines()[-1]).items():
        probs_path = out_dir / f".reload-{kind}.npy"
        results[kind] = (np.load(probs_path), load_seconds)
        probs_path.unlink()
    return results


def compare(reference: np.ndarray, probs: np.ndarray, tolerance: float) -> dict[str, Any]:
    max_abs = float(np.max(np.abs(reference - probs)))
    same_argmax = bool(np.array_equal(reference.argmax(axis=1), probs.argmax(axis=1)))
    return {
        "max_abs_diff": max_abs,
        "same_argmax": same_argmax,
        "ok": bool(max_abs <= tolerance and same_argmax),
    }


def _reload_main() -> None:
    parser = argparse.ArgumentParser(description="Reload exports and predict (used by the export stage).")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("images", type=Path)
    parser.add_argument("kinds", nargs="+", choices=["keras", "weights"])
    args = parser.parse_args()
    with np.load(args.images) as data:
        images = data["images"]
    load_seconds = {}
    for kind in args.kinds:
        start = time.perf_counter()
        model = load(kind, args.out_dir)
        load_seconds[kind] = time.perf_counter() - start
        np.save(args.out_dir / f".reload-{kind}.npy", np.asarray(model.predict(images, batch_size=1024, verbose=0)))
    print(json.dumps(load_seconds))


if __name__ == "__main__":
    _reload_main()
