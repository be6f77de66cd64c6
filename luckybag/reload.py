"""The export check: every exported format reloaded by its own runtime in a fresh process.

One process per runtime (Keras on JAX for the .keras file and the weights, TensorFlow for the
SavedModel, onnxruntime for ONNX), all started before the formats are written, so that importing
the runtimes overlaps the export itself. Each process waits for the word to go, loads its
formats, predicts the test images and leaves the probabilities in a file. This module is the
processes' entry point (``python -m luckybag.reload``), so it imports nothing heavy at the top.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from luckybag.errors import LuckybagError

# The runtime that reloads each format, as metrics/export.json names it.
RUNTIMES = {"keras": "keras (jax)", "weights": "keras (jax)", "savedmodel": "tensorflow", "onnx": "onnxruntime"}
# One process per runtime: Keras and JAX are imported once for both Keras formats.
PROCESSES = {"keras": ("keras", "weights"), "tensorflow": ("savedmodel",), "onnxruntime": ("onnx",)}
# Optional packages that importing a runtime pulls in but loading and predicting never use
# (Keras' scikit-learn wrapper and plotting helpers; TensorFlow's JAX bridge for TFLite and
# SciPy for the legacy tf.keras, both guarded by `except ImportError`). Blocking them makes
# TensorFlow's start-up about 40 % cheaper. JAX itself needs SciPy, so Keras keeps it, and
# TensorFlow is not blocked for Keras, which takes an entry in sys.modules as "TF is loaded".
UNUSED = {
    "exporter": ("jax", "matplotlib"),  # the export stage itself: TensorFlow and Keras, which needs sklearn there
    "keras": ("sklearn", "matplotlib"),
    "tensorflow": ("jax", "sklearn", "matplotlib", "scipy"),
    "onnxruntime": (),
}
# XLA's default optimisation makes JAX compile each of Keras' weight initialisers (thrown away
# when the weights load) and the predict function for seconds on two cores; level 0 compiles
# about five times faster and still matches the trained model to ~1e-7.
FAST_XLA = "--xla_backend_optimization_level=0"
GO = "go"
BATCH = 2048  # prediction batch for Keras: larger needs more memory (the CNN), smaller more calls


class ReloadError(LuckybagError):
    """An exported format did not reload or did not predict."""


def _batch_size(n: int) -> int:
    """At most BATCH, splitting ``n`` into equal batches where it can: on JAX every new batch
    shape is another compilation (10,000 test images: 5 x 2,000 rather than 4 x 2,048 + 1,808)."""
    batches = -(-n // BATCH)
    return max(1, -(-n // batches))


# --- loaders; each runs in its runtime's process ------------------------------------------


def _load_keras(path: str) -> Callable[[np.ndarray], np.ndarray]:
    import keras

    model = keras.models.load_model(path, compile=False)  # safe_mode on by default
    return lambda x: np.asarray(model.predict(x, batch_size=_batch_size(len(x)), verbose=0))


def _load_weights(weights: str, architecture: str) -> Callable[[np.ndarray], np.ndarray]:
    import keras

    model = keras.models.model_from_json(Path(architecture).read_text(encoding="utf-8"))
    model.load_weights(weights)
    return lambda x: np.asarray(model.predict(x, batch_size=_batch_size(len(x)), verbose=0))


def _load_savedmodel(path: str) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf  # the SavedModel's own runtime, not Keras

    loaded = tf.saved_model.load(path)
    return lambda x: loaded.serve(x).numpy()


def _load_onnx(path: str) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


LOADERS: dict[str, Callable[..., Callable[[np.ndarray], np.ndarray]]] = {
    "keras": _load_keras,
    "weights": _load_weights,
    "savedmodel": _load_savedmodel,
    "onnx": _load_onnx,
}


def block_unused(runtime: str) -> None:
    """Make the later imports of ``runtime`` skip the optional packages it never uses here."""
    for name in UNUSED[runtime]:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]  # `import name` now raises ImportError


def _import_runtime(runtime: str) -> None:
    block_unused(runtime)
    if runtime == "keras":
        import keras  # noqa: F401
    elif runtime == "tensorflow":
        import tensorflow  # noqa: F401
    else:
        import onnxruntime  # noqa: F401


def _process_main(runtime: str, images_path: str, probs_dir: str, files_json: str) -> None:
    """Import ``runtime``, wait for the go, then reload, predict and report each format in turn."""
    start = time.perf_counter()
    _import_runtime(runtime)
    with np.load(images_path) as data:
        images = data["images"]
    import_seconds = time.perf_counter() - start
    if sys.stdin.readline().strip() != GO:
        return  # the export failed or was interrupted: nothing to check
    for kind, paths in json.loads(files_json).items():
        start = time.perf_counter()
        predict = LOADERS[kind](*paths)
        load_seconds = time.perf_counter() - start
        np.save(Path(probs_dir) / f"{kind}.npy", np.asarray(predict(images), dtype=np.float32))
        print(json.dumps({"kind": kind, "import_seconds": import_seconds, "load_seconds": load_seconds}), flush=True)


# --- the export stage's side ---------------------------------------------------------------


class Reloads:
    """Reload processes for ``files`` (format -> its file paths), started at once.

    Use as a context manager: write the files, then call :meth:`finish`. Leaving the block
    without finishing (the export failed) stops the processes.
    """

    def __init__(self, files: dict[str, list[Path]], images_path: Path) -> None:
        self.files = files
        self._tmp = tempfile.TemporaryDirectory(prefix="luckybag-reload-")
        self._dir = Path(self._tmp.name)
        xla_flags = f"{os.environ.get('XLA_FLAGS', '')} {FAST_XLA}".strip()
        env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2", "XLA_FLAGS": xla_flags}
        self._processes: dict[str, subprocess.Popen] = {}
        for runtime, kinds in PROCESSES.items():
            mine = {kind: [str(p) for p in files[kind]] for kind in kinds if kind in files}
            if not mine:
                continue
            cmd = [sys.executable, "-m", "luckybag.reload", runtime, str(images_path), str(self._dir), json.dumps(mine)]
            # Output goes to files, not pipes: a chatty runtime cannot block on a full pipe.
            with open(self._dir / f"{runtime}.out", "w") as out, open(self._dir / f"{runtime}.err", "w") as err:
                self._processes[runtime] = subprocess.Popen(
                    cmd, env=env, stdin=subprocess.PIPE, stdout=out, stderr=err, text=True
                )

    def __enter__(self) -> Reloads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdin is not None:
                process.stdin.close()
        self._tmp.cleanup()

    def running(self) -> list[str]:
        """The runtimes whose processes have not exited yet."""
        return [runtime for runtime, process in self._processes.items() if process.poll() is None]

    def finish(self) -> dict[str, tuple[np.ndarray, dict[str, float]]]:
        """Tell every process the files are written; wait for all and return, per format,
        its probabilities and timings (runtime import, reload), or raise ReloadError."""
        for process in self._processes.values():
            try:
                process.stdin.write(GO + "\n")  # type: ignore[union-attr]
                process.stdin.close()  # type: ignore[union-attr]
            except BrokenPipeError:
                pass  # it already died; its exit status says why
        results: dict[str, tuple[np.ndarray, dict[str, float]]] = {}
        for runtime, process in self._processes.items():
            process.wait()
            reported = self._reported(runtime)
            for kind in PROCESSES[runtime]:
                if kind not in self.files:
                    continue
                if kind not in reported:
                    raise ReloadError(
                        f"{self.files[kind][0]}: reloading with {RUNTIMES[kind]} failed: {self._why(runtime)}"
                    )
                results[kind] = (np.load(self._dir / f"{kind}.npy"), reported[kind])
        return results

    def _reported(self, runtime: str) -> dict[str, dict[str, float]]:
        reported = {}
        for line in (self._dir / f"{runtime}.out").read_text().splitlines():
            try:
                record = json.loads(line)
                reported[record.pop("kind")] = record
            except (ValueError, KeyError, AttributeError, TypeError):
                continue  # a runtime's own chatter on stdout
        return reported

    def _why(self, runtime: str) -> str:
        """The exception line of the process' traceback (JAX adds a note after it), else its last line."""
        lines = (self._dir / f"{runtime}.err").read_text(errors="replace").strip().splitlines()
        errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", line)]
        status = self._processes[runtime].returncode
        return (errors or lines or [f"exit status {status}, no output"])[-1]


def files_to_check(paths: dict[str, Path], kinds: list[str]) -> dict[str, list[Path]]:
    """The files each checked format loads from (the weights need the architecture too)."""
    return {kind: [paths[kind], paths["architecture"]] if kind == "weights" else [paths[kind]] for kind in kinds}


def compare(reference: np.ndarray, probs: np.ndarray, tolerance: float) -> dict[str, Any]:
    if probs.shape != reference.shape:
        return {"max_abs_diff": None, "same_argmax": False, "ok": False}
    max_abs = float(np.max(np.abs(reference - probs)))
    same_argmax = bool(np.array_equal(reference.argmax(axis=1), probs.argmax(axis=1)))
    return {
        "max_abs_diff": float(f"{max_abs:.3g}"),
        "same_argmax": same_argmax,
        "ok": bool(max_abs <= tolerance and same_argmax),
    }


if __name__ == "__main__":
    _process_main(*sys.argv[1:])
