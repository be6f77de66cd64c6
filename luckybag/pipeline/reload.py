"""The export check: every exported format reloaded in a fresh process (a new interpreter) by its own runtime.

One process per runtime starts before the export and imports its runtime while the formats are written,
then waits for the files to check. Keras' process runs on JAX.
"""

import contextlib
import importlib
import importlib.abc
import os
import pickle
import sys
import tempfile
import time
import traceback
from pathlib import Path
from subprocess import PIPE, Popen
from typing import Any

import numpy as np

from luckybag.backend import keras_env
from luckybag.errors import LuckybagError, one_line
from luckybag.pipeline.exports import FORMATS

# XLA's default optimisation compiles Keras' weight initialisers (thrown away when the weights load) and predict for
# seconds on two cores; level 0 compiles about five times faster and still matches the trained model to ~1e-7.
FAST_XLA = "--xla_backend_optimization_level=0"
Result = tuple[np.ndarray, dict[str, float]]
_CHILD = "import sys; from luckybag.pipeline.reload import _serve; _serve(*sys.argv[1:])"
# Optional packages a runtime imports but reloading never uses (Keras' scikit-learn wrapper and plots; TensorFlow's
# JAX bridge for TFLite and SciPy for tf.keras, all behind `except ImportError`): skipping them saves seconds of CPU.
UNUSED = {
    "exporter": ("jax", "matplotlib"),  # the export stage itself: TensorFlow and Keras, which needs sklearn there
    "keras": ("sklearn", "matplotlib"),
    "tensorflow": ("jax", "sklearn", "matplotlib", "scipy"),
}


class ReloadError(LuckybagError):
    """An exported format did not reload or did not predict."""


class _Unused(importlib.abc.MetaPathFinder):
    """An import hook under which ``import NAME`` of the given packages fails as if they were not installed."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, fullname: str, *_: object) -> None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (not used here)", name=fullname)


def skip_unused(runtime: str) -> None:
    """Make this process' later imports skip the optional packages ``runtime`` never uses here."""
    sys.meta_path.insert(0, _Unused(UNUSED.get(runtime, ())))


def _serve(runtime: str, images_path: str) -> None:
    """A reload process: import ``runtime``, then reload and predict each format it is sent, in turn.
    Both ways the messages are pickles: the formats' files on stdin, per format its answer on stdout."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the runtimes print goes to the log, not into the answers
    skip_unused(runtime)
    try:
        start = time.perf_counter()
        importlib.import_module(runtime)
        with np.load(images_path) as data:
            images = data["images"]
        import_seconds = time.perf_counter() - start
        for kind, paths in pickle.load(sys.stdin.buffer).items():
            start = time.perf_counter()
            predict = FORMATS[kind].load(*paths)
            seconds = {"import_seconds": import_seconds, "load_seconds": time.perf_counter() - start}
            pickle.dump((np.asarray(predict(images), dtype=np.float32), seconds), answers)
            answers.flush()
    except BaseException as err:  # noqa: BLE001 - any failure is the format's at hand; the parent names it
        traceback.print_exc()
        pickle.dump((None, f"{type(err).__name__}: {one_line(err)}"), answers)
    answers.close()


class Reloads(contextlib.AbstractContextManager):
    """Reload processes for ``files`` (format -> its files), one per runtime, started at once.
    Write the files, then :meth:`finish`; leaving unfinished stops them."""

    def __init__(self, files: dict[str, list[Path]], images_path: Path) -> None:
        self.files = files
        self._tmp = tempfile.TemporaryDirectory(prefix="luckybag-reload-")
        self._processes: dict[str, Popen] = {}
        for runtime in dict.fromkeys(FORMATS[kind].runtime for kind in files):
            env = keras_env("jax" if runtime == "keras" else "tensorflow")  # TensorFlow imports Keras too
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {FAST_XLA}".strip()
            args = [sys.executable, "-c", _CHILD, runtime, str(images_path)]
            with open(self._log(runtime), "w") as log:  # the runtime's own messages, and a traceback
                self._processes[runtime] = Popen(args, env=env, stdin=PIPE, stdout=PIPE, stderr=log)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log(self, runtime: str) -> Path:
        return Path(self._tmp.name) / f"{runtime}.log"

    def close(self) -> None:
        for process in self._processes.values():
            process.kill()  # nothing happens if it has exited
            process.wait()
            process.stdin.close()  # type: ignore[union-attr]
            process.stdout.close()  # type: ignore[union-attr]
        self._tmp.cleanup()

    def running(self) -> list[str]:
        """The runtimes whose processes have not exited yet."""
        return [runtime for runtime, process in self._processes.items() if process.poll() is None]

    def finish(self) -> dict[str, Result]:
        """Send each process its files and wait; per format asked, its probabilities and timings, or raise."""
        for runtime, process in self._processes.items():
            mine = {kind: paths for kind, paths in self.files.items() if FORMATS[kind].runtime == runtime}
            with contextlib.suppress(BrokenPipeError):  # one that already died: it said why, or its exit says
                pickle.dump(mine, process.stdin)
                process.stdin.close()  # type: ignore[union-attr]
        results = {}
        for kind, paths in self.files.items():
            runtime = FORMATS[kind].runtime
            try:
                probs, seconds = pickle.load(self._processes[runtime].stdout)  # type: ignore[arg-type]
            except EOFError:  # it died without a word (killed, crashed)
                probs, seconds = None, self._last_words(runtime)
            if probs is None:
                raise ReloadError(f"{paths[0]}: reloading with {FORMATS[kind].described} failed: {seconds}")
            results[kind] = (probs, seconds)
        return results

    def _last_words(self, runtime: str) -> str:
        lines = self._log(runtime).read_text(errors="replace").strip().splitlines()
        return f"exit status {self._processes[runtime].wait()}" + (f": {lines[-1]}" if lines else "")


def compare(reference: np.ndarray, probs: np.ndarray, tolerance: float) -> dict[str, Any]:
    """How far ``probs`` are from ``reference``, and whether within ``tolerance`` with the same top classes."""
    if probs.shape != reference.shape:
        return {"max_abs_diff": None, "same_argmax": False, "ok": False}
    max_abs = float(np.max(np.abs(reference - probs)))
    same_argmax = bool(np.array_equal(reference.argmax(axis=1), probs.argmax(axis=1)))
    ok = bool(max_abs <= tolerance and same_argmax)
    return {"max_abs_diff": float(f"{max_abs:.3g}"), "same_argmax": same_argmax, "ok": ok}
