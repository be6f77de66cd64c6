"""The export check: every exported format reloaded in a fresh (spawned) process by its own runtime.

One process per runtime starts before the export and imports its runtime while the formats are written,
then waits for the files to check. Keras' process runs on JAX.
"""

import contextlib
import importlib
import importlib.abc
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from luckybag.backend import keras_env
from luckybag.errors import LuckybagError, one_line
from luckybag.pipeline.exports import FORMATS

# XLA's default optimisation compiles Keras' weight initialisers (thrown away when the weights load) and predict for
# seconds on two cores; level 0 compiles about five times faster and still matches the trained model to ~1e-7.
FAST_XLA = "--xla_backend_optimization_level=0"
Result = tuple[np.ndarray, dict[str, float]]
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


def _serve(runtime: str, images_path: Path, log: Path, conn: Connection) -> None:
    """A reload process: import ``runtime``, then reload and predict each format it is sent, in turn."""
    with open(log, "w") as err:  # fd 2 too: the runtime's own C++ messages
        os.dup2(err.fileno(), 2)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    env = keras_env("jax" if runtime == "keras" else "tensorflow")  # TensorFlow imports Keras too
    os.environ.update({**env, "XLA_FLAGS": f"{env.get('XLA_FLAGS', '')} {FAST_XLA}".strip()})
    skip_unused(runtime)
    try:
        start = time.perf_counter()
        importlib.import_module(runtime)
        with np.load(images_path) as data:
            images = data["images"]
        import_seconds = time.perf_counter() - start
        for kind, paths in conn.recv().items():
            start = time.perf_counter()
            predict = FORMATS[kind].load(*paths)
            seconds = {"import_seconds": import_seconds, "load_seconds": time.perf_counter() - start}
            conn.send((np.asarray(predict(images), dtype=np.float32), seconds))
    except BaseException as err:  # noqa: BLE001 - any failure is the format's at hand; the parent names it
        traceback.print_exc()
        conn.send((None, f"{type(err).__name__}: {one_line(err)}"))


class Reloads(contextlib.AbstractContextManager):
    """Reload processes for ``files`` (format -> its files), one per runtime, started at once.
    Write the files, then :meth:`finish`; leaving unfinished stops them."""

    def __init__(self, files: dict[str, list[Path]], images_path: Path) -> None:
        self.files = files
        self._tmp = tempfile.TemporaryDirectory(prefix="luckybag-reload-")
        self._processes: dict[str, tuple[Any, Connection]] = {}
        spawn = multiprocessing.get_context("spawn")  # never fork: this process may hold TensorFlow's threads
        for runtime in dict.fromkeys(FORMATS[kind].runtime for kind in files):
            mine, theirs = spawn.Pipe()
            log = Path(self._tmp.name) / f"{runtime}.log"
            process = spawn.Process(target=_serve, args=(runtime, images_path, log, theirs), daemon=True)
            process.start()
            theirs.close()
            self._processes[runtime] = (process, mine)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for process, conn in self._processes.values():
            process.kill()  # nothing happens if it has exited
            process.join()
            conn.close()
        self._tmp.cleanup()

    def running(self) -> list[str]:
        """The runtimes whose processes have not exited yet."""
        return [runtime for runtime, (process, _) in self._processes.items() if process.is_alive()]

    def finish(self) -> dict[str, Result]:
        """Send each process its files and wait; per format asked, its probabilities and timings, or raise."""
        for runtime, (_, conn) in self._processes.items():
            mine = {kind: paths for kind, paths in self.files.items() if FORMATS[kind].runtime == runtime}
            with contextlib.suppress(ConnectionError):  # one that already died: it said why, or its exit says
                conn.send(mine)
        results = {}
        for kind, paths in self.files.items():
            process, conn = self._processes[FORMATS[kind].runtime]
            try:
                probs, seconds = conn.recv()
            except (EOFError, ConnectionError):  # it died without a word (killed, crashed)
                process.join()
                probs, seconds = None, self._last_words(FORMATS[kind].runtime, process.exitcode)
            if probs is None:
                raise ReloadError(f"{paths[0]}: reloading with {FORMATS[kind].described} failed: {seconds}")
            results[kind] = (probs, seconds)
        return results

    def _last_words(self, runtime: str, exitcode: int) -> str:
        log = Path(self._tmp.name) / f"{runtime}.log"  # none if it died before opening it
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        return f"exit status {exitcode}" + (f": {lines[-1]}" if lines else "")


def compare(reference: np.ndarray, probs: np.ndarray, tolerance: float) -> dict[str, Any]:
    """How far ``probs`` are from ``reference``, and whether within ``tolerance`` with the same top classes."""
    if probs.shape != reference.shape:
        return {"max_abs_diff": None, "same_argmax": False, "ok": False}
    max_abs = float(np.max(np.abs(reference - probs)))
    same_argmax = bool(np.array_equal(reference.argmax(axis=1), probs.argmax(axis=1)))
    ok = bool(max_abs <= tolerance and same_argmax)
    return {"max_abs_diff": float(f"{max_abs:.3g}"), "same_argmax": same_argmax, "ok": ok}
