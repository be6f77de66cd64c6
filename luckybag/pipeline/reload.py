"""The export check: every exported format reloaded in a fresh process by its own runtime.

The processes import their runtimes while the formats are written, then wait for the go on stdin.
TensorFlow's is forked from the exporter once that has imported TensorFlow: the slowest import is paid once.
"""

import contextlib
import importlib
import json
import os
import re
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from subprocess import DEVNULL, PIPE, Popen
from typing import Any, TextIO

import numpy as np

from luckybag.backend import keras_env
from luckybag.errors import LuckybagError

# The runtime that reloads each format, as metrics/export.json names it.
RUNTIMES = {"keras": "keras (jax)", "weights": "keras (jax)", "savedmodel": "tensorflow", "onnx": "onnxruntime"}
# One process per runtime (named as its module): Keras and JAX are imported once for both Keras formats.
PROCESSES = {"keras": ("keras", "weights"), "tensorflow": ("savedmodel",), "onnxruntime": ("onnx",)}
PROCESS_OF = {kind: runtime for runtime, kinds in PROCESSES.items() for kind in kinds}  # format -> its process
# Optional packages a runtime imports but reloading never uses (Keras' scikit-learn wrapper and plots; TensorFlow's
# JAX bridge for TFLite and SciPy for tf.keras, both behind `except ImportError`): TensorFlow starts ~40 % faster.
# JAX needs SciPy; TensorFlow is not blocked for Keras, which takes any sys.modules entry as "TF is loaded".
UNUSED = {
    "exporter": ("jax", "matplotlib"),  # the export stage itself: TensorFlow and Keras, which needs sklearn there
    "keras": ("sklearn", "matplotlib"),
    "tensorflow": ("jax", "sklearn", "matplotlib", "scipy"),
    "onnxruntime": (),
}
# XLA's default optimisation compiles Keras' weight initialisers (thrown away when the weights load) and predict for
# seconds on two cores; level 0 compiles about five times faster and still matches the trained model to ~1e-7.
FAST_XLA = "--xla_backend_optimization_level=0"
GO = "go"
BATCH = 2048  # prediction batch for Keras: larger needs more memory (the CNN), smaller more calls
_CHILD = "import sys; from luckybag.pipeline.reload import _process_main; _process_main(*sys.argv[1:])"


class ReloadError(LuckybagError):
    """An exported format did not reload or did not predict."""


def _batch_size(n: int) -> int:
    """At most BATCH, in equal batches where possible: on JAX each new batch shape is another compilation."""
    batches = -(-n // BATCH)
    return max(1, -(-n // batches))


def _predictor(kind: str, path: str, architecture: str = "") -> Callable[[np.ndarray], np.ndarray]:
    """Reload format ``kind`` from ``path`` with its own runtime; return its predict function."""
    if kind == "savedmodel":
        import tensorflow as tf  # the SavedModel's own runtime, not Keras

        loaded = tf.saved_model.load(path)
        return lambda x: loaded.serve(x).numpy()
    if kind == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    import keras

    if kind == "keras":
        model = keras.models.load_model(path, compile=False)  # safe_mode on by default
    else:
        model = keras.models.model_from_json(Path(architecture).read_text(encoding="utf-8"))
        model.load_weights(path)
    return lambda x: np.asarray(model.predict(x, batch_size=_batch_size(len(x)), verbose=0))


def block_unused(runtime: str) -> None:
    """Make the later imports of ``runtime`` skip the optional packages it never uses here."""
    for name in UNUSED[runtime]:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]  # `import name` now raises ImportError


def _process_main(runtime: str, images_path: str, out_dir: str, files_json: str, go: TextIO | None = None) -> None:
    """A reload process: import ``runtime``, wait for the go, then reload and predict each format in turn."""
    start = time.perf_counter()
    block_unused(runtime)
    importlib.import_module(runtime)
    with np.load(images_path) as data:
        images = data["images"]
    import_seconds = time.perf_counter() - start
    if (go or sys.stdin).readline().strip() != GO:
        return  # the export failed or was interrupted: nothing to check
    for kind, paths in json.loads(files_json).items():
        start = time.perf_counter()
        predict = _predictor(kind, *paths)
        seconds = {"import_seconds": import_seconds, "load_seconds": time.perf_counter() - start}
        np.save(Path(out_dir) / f"{kind}.npy", np.asarray(predict(images), dtype=np.float32))
        (Path(out_dir) / f"{kind}.json").write_text(json.dumps(seconds))  # last: the format's done


class _Forked:
    """A reload process forked from this one, so it starts with this one's imports; answers as a Popen does here."""

    def __init__(self, args: list[str], err_path: Path) -> None:
        read, write = os.pipe()
        self.returncode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                os.close(write)
                err = open(err_path, "w")  # noqa: SIM115  # fd 2 too: the runtime's own C++ messages
                os.dup2(err.fileno(), 2)
                os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
                sys.stdout, sys.stderr = open(os.devnull, "w"), err  # noqa: SIM115
                _process_main(*args, go=os.fdopen(read))
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        os.close(read)
        self.stdin = os.fdopen(write, "w")

    def poll(self) -> int | None:
        return self.wait(os.WNOHANG)

    def wait(self, flags: int = 0) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, flags)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


class Reloads(contextlib.AbstractContextManager):
    """Reload processes for ``files`` (format -> its paths): Keras' and onnxruntime's start at once, TensorFlow's
    at :meth:`fork` or else :meth:`finish`. Write the files, then :meth:`finish`; leaving unfinished stops them."""

    def __init__(self, files: dict[str, list[Path]], images_path: Path) -> None:
        self.files = files
        self._images_path = images_path
        self._tmp = tempfile.TemporaryDirectory(prefix="luckybag-reload-")
        self._dir = Path(self._tmp.name)
        self._processes: dict[str, Popen | _Forked] = {}
        for runtime in ("keras", "onnxruntime"):
            self._start(runtime, fork=False)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self, runtime: str, fork: bool) -> None:
        mine = {kind: [str(p) for p in self.files[kind]] for kind in PROCESSES[runtime] if kind in self.files}
        if not mine or runtime in self._processes:
            return
        args = [runtime, str(self._images_path), str(self._dir), json.dumps(mine)]
        err_path = self._dir / f"{runtime}.err"
        if fork:
            self._processes[runtime] = _Forked(args, err_path)
            return
        env = keras_env("jax")
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {FAST_XLA}".strip()
        with open(err_path, "w") as err:  # a file, not a pipe, that can fill up and block
            self._processes[runtime] = Popen(
                [sys.executable, "-c", _CHILD, *args], env=env, stdin=PIPE, stdout=DEVNULL, stderr=err, text=True
            )

    def fork(self, runtime: str = "tensorflow") -> None:
        """Fork ``runtime``'s process from this one: right after importing it, before any model exists here."""
        sys.stdout.flush()
        sys.stderr.flush()
        self._start(runtime, fork=True)

    def close(self) -> None:
        for process in self._processes.values():
            process.kill()  # nothing happens if it has exited
            process.wait()
            process.stdin.close()  # type: ignore[union-attr]
        self._tmp.cleanup()

    def running(self) -> list[str]:
        """The runtimes whose processes have not exited yet."""
        return [runtime for runtime, process in self._processes.items() if process.poll() is None]

    def finish(self) -> dict[str, tuple[np.ndarray, dict[str, float]]]:
        """Give the go and wait; per format asked, its probabilities and timings, or raise ReloadError."""
        self._start("tensorflow", fork=False)  # not forked: a fresh interpreter
        for process in self._processes.values():
            with contextlib.suppress(BrokenPipeError):  # one that already died: its stderr says why
                process.stdin.write(GO + "\n")  # type: ignore[union-attr]
                process.stdin.close()  # type: ignore[union-attr]
        for process in self._processes.values():
            process.wait()
        results: dict[str, tuple[np.ndarray, dict[str, float]]] = {}
        for kind, paths in self.files.items():
            done = self._dir / f"{kind}.json"
            if not done.exists():
                why = self._why(PROCESS_OF[kind])
                raise ReloadError(f"{paths[0]}: reloading with {RUNTIMES[kind]} failed: {why}")
            results[kind] = (np.load(self._dir / f"{kind}.npy"), json.loads(done.read_text()))
        return results

    def _why(self, runtime: str) -> str:
        """The exception line of the process' traceback (JAX adds a note after it), else its last line."""
        lines = (self._dir / f"{runtime}.err").read_text(errors="replace").strip().splitlines()
        errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", line)]
        return (errors or lines or [f"exit status {self._processes[runtime].returncode}, no output"])[-1]


def files_to_check(paths: dict[str, Path], kinds: list[str]) -> dict[str, list[Path]]:
    """The files each checked format loads from (the weights need the architecture too)."""
    return {kind: [paths[kind], paths["architecture"]] if kind == "weights" else [paths[kind]] for kind in kinds}


def compare(reference: np.ndarray, probs: np.ndarray, tolerance: float) -> dict[str, Any]:
    """How far ``probs`` are from ``reference``, and whether within ``tolerance`` with the same top classes."""
    if probs.shape != reference.shape:
        return {"max_abs_diff": None, "same_argmax": False, "ok": False}
    max_abs = float(np.max(np.abs(reference - probs)))
    same_argmax = bool(np.array_equal(reference.argmax(axis=1), probs.argmax(axis=1)))
    ok = bool(max_abs <= tolerance and same_argmax)
    return {"max_abs_diff": float(f"{max_abs:.3g}"), "same_argmax": same_argmax, "ok": ok}
