"""Shared fixtures: tiny IDX data sets and throw-away copies of the project.

The tiny project is reproduced (a cold ``dvc repro``) once per test session, behind a file lock in
the session's temporary directory that pytest-xdist's workers share; ``reproduced_project`` copies
it, with its git history and DVC cache, for each module that needs one.
"""

import gzip
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from luckybag.backend import keras_env

# Unit tests run Keras on the pipeline's default backend, with the stages' environment (JAX's compile
# cache in the user's cache, which the stages' own processes use too); set before anything imports Keras.
os.environ.update(keras_env(os.environ.get("KERAS_BACKEND", "jax")))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from filelock import FileLock  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# What a project copy needs to run the pipeline (code and config, no outputs).
PROJECT_FILES = [
    "luckybag",
    "stages",
    "dvc.yaml",
    "params.yaml",
    "pyproject.toml",
    ".gitignore",
    "benchmarks/results/ood_real.json",
    "benchmarks/results/shop_photos.json",
]


# The modules that take longest (--durations on the 2-core machine), longest first: collected first, so under
# `make test` (xdist --dist loadscope --no-loadscope-reorder) the two workers start on them and the short modules
# fill in at the end. The others, and the tests within a module, keep their order.
LONGEST_FIRST = [
    "tests/pipeline/test_acceptance.py",
    "tests/lab/test_search.py",
    "tests/test_readme.py",
    "tests/pipeline/test_backends.py",
    "tests/test_team.py",
    "tests/pipeline/test_reproducibility.py",
    "tests/lab/test_grid.py",
    "tests/lab/test_report.py",
    "tests/pipeline/test_pipeline.py",
    "tests/pipeline/test_screen_stage.py",
    "tests/serve/test_serve_install.py",
    "tests/test_plots_page.py",
    "tests/lab/test_experiments.py",
    "tests/pipeline/test_params_stage.py",
    "tests/pipeline/test_calibration.py",
    "tests/pipeline/test_training.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def module_rank(item: pytest.Item) -> int:
        try:
            return rank.get(item.path.relative_to(ROOT).as_posix(), len(rank))
        except ValueError:  # a test outside the checkout
            return len(rank)

    items.sort(key=module_rank)  # a stable sort


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x0800 + array.ndim
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> str:
    """Write ``array`` as a gzipped IDX file; return the SHA-256 of the decompressed bytes."""
    raw = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(raw)
    return hashlib.sha256(raw).hexdigest()


def make_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noisy images whose bright band depends on the label, so a model can learn them."""
    images = rng.integers(0, 60, size=(len(labels), 28, 28))
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 5 + 2 * label, :] += 180
    return images.clip(0, 255).astype(np.uint8)


def make_mirror(directory: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> dict[str, str]:
    """A mirror directory holding the four Fashion-MNIST file names with tiny learnable data."""
    rng = np.random.default_rng(seed)
    checksums = {}
    for split, count in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, size=count).astype(np.uint8)
        checksums[f"{split}-images-idx3-ubyte"] = write_idx_gz(
            directory / f"{split}-images-idx3-ubyte.gz", make_images(labels, rng)
        )
        checksums[f"{split}-labels-idx1-ubyte"] = write_idx_gz(directory / f"{split}-labels-idx1-ubyte.gz", labels)
    return checksums


def assert_picture(path: Path, min_size: tuple[int, int] = (200, 150)) -> tuple[int, int]:
    """``path`` is a whole PNG that decodes to at least ``min_size`` pixels and is not one flat colour; its size."""
    from PIL import Image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    with Image.open(path) as image:
        image.load()  # decodes every chunk: a truncated or corrupt file raises
        size = image.size
        pixels = np.asarray(image.convert("L"), dtype=np.int16)
    assert size[0] >= min_size[0] and size[1] >= min_size[1], f"{path}: {size}, expected at least {min_size}"
    assert pixels.max() - pixels.min() > 100, f"{path} is blank"
    assert (pixels < 128).mean() > 0.001, f"{path} draws (almost) nothing dark on its background"
    return size


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    directory = tmp_path / "mirror"
    return directory, make_mirror(directory)


# numpy picks SIMD kernels by CPU; this makes an AVX-512 machine compute like one without it.
WITHOUT_AVX512 = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL", "OPENBLAS_CORETYPE": "Haswell"}  # and BLAS
CPU_SETTINGS = {"native": {}, "without-avx512": WITHOUT_AVX512}
# The stages whose numbers numpy computes; rerun without numpy's AVX-512 kernels, they must write the same bytes.
NUMPY_STAGES = ["baseline", "evaluate", "export", "screen", "plots"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose prerequisite this machine lacks; under CI=true fail instead (CI must run it)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this test must run, not skip)")
    pytest.skip(reason)


def run(
    cmd: list[str], cwd: Path, check: bool = True, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    # PYTHONPATH ".": stage scripts import the luckybag copy of the repo they run in (a project copy,
    # DVC's temporary experiment copy), not the editable install's, so a code change there takes effect.
    pythonpath = os.pathsep.join(filter(None, [".", os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONPATH": pythonpath,
        **(env or {}),
    }
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def stages_ran(output: str) -> list[str]:
    """The stages a `dvc repro` / `dvc exp run` ran, in order, from what it printed."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def shown_experiments(project: Path) -> dict[str, dict]:
    """Experiment name -> its `dvc exp show --json` entry (params and metrics)."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    return {exp["name"]: exp for row in shown for group in row.get("experiments") or [] for exp in group["revs"]}


def tiny_params(mirror_dir: Path, checksums: dict[str, str]) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["download"].update(mirror=str(mirror_dir), sha256=checksums)
    params["baseline"].update(cv=2, max_iter=3)
    params["train"].update(epochs=3, batch_size=32, patience=1)
    return params


def make_project(directory: Path, params: dict | None = None) -> Path:
    """A git + DVC repo holding a copy of the project's code and config, committed."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, directory / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, directory / name)
    if params is not None:
        (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], directory)
    run(["git", "config", "user.email", "test@example.com"], directory)
    run(["git", "config", "user.name", "test"], directory)
    run(["dvc", "init", "-q"], directory)
    run(["git", "add", "-A"], directory)
    run(["git", "commit", "-qm", "project"], directory)
    return directory


# Set by the session fixture below: a directory every xdist worker of this session shares.
_SESSION: dict[str, Path] = {}
TEMPLATE = "reproduced-template"
REPRO_LOG = "repro-stdout.txt"  # next to each copy: what the one cold `dvc repro` printed


@pytest.fixture(scope="session", autouse=True)
def session_shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's temporary directory: under xdist each worker's basetemp is ``<session>/popen-gwN``."""
    base = tmp_path_factory.getbasetemp()
    _SESSION["dir"] = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return _SESSION["dir"]


def _build_template(target: Path) -> None:
    mirror = target / "mirror"
    params = tiny_params(mirror, make_mirror(mirror))
    # Every experiment on a copy reloads only the served ONNX model (as `make grid` does); the four formats' reload
    # check is the subject of tests/pipeline/test_backends.py (the stage) and test_acceptance.py (the real run).
    params["export"]["check"] = ["onnx"]
    project = make_project(target / "project", params)
    first = run(["dvc", "repro"], project)
    (target / REPRO_LOG).write_text(first.stdout)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "reproduced"], project)


def reproduced_template(shared: Path | None = None) -> Path:
    """The session's one reproduced tiny project (built on first use; a failed build fails every user at once)."""
    shared = shared or _SESSION.get("dir")
    assert shared is not None, "reproduced_template needs pytest's session (tests/conftest.py's session_shared_dir)"
    target = shared / TEMPLATE
    with FileLock(str(shared / f"{TEMPLATE}.lock")):
        failed = shared / f"{TEMPLATE}.failed"
        if failed.exists():
            raise AssertionError(f"the shared reproduced project failed to build:\n{failed.read_text()}")
        if not (target / "DONE").exists():
            shutil.rmtree(target, ignore_errors=True)  # half built by a worker that died
            try:
                _build_template(target)
            except Exception as err:
                failed.write_text(str(err))
                raise
            (target / "DONE").write_text("")
    return target


def reproduced_project(root: Path, message: str = "reproduced") -> Path:
    """A tiny project whose pipeline ran and was committed: a baseline for experiments and diffs.

    A copy of the session's one reproduced project (``root / "project"``, its params naming the shared
    mirror), with the cold run's output in ``root / REPRO_LOG``; the last commit's message is ``message``.
    """
    template = reproduced_template()
    root.mkdir(parents=True, exist_ok=True)
    project = root / "project"
    # .dvc/tmp holds locks and indexes of the template's own path: the copy starts without them.
    skip = {(template / "project" / ".dvc").resolve()}
    shutil.copytree(
        template / "project",
        project,
        symlinks=True,
        ignore=lambda d, names: ["tmp"] if Path(d).resolve() in skip and "tmp" in names else [],
    )
    shutil.copy2(template / REPRO_LOG, root / REPRO_LOG)
    if message != "reproduced":
        run(["git", "commit", "-q", "--amend", "-m", message], project)
    return project


# A real export of a tiny model, written by the library's own code on TensorFlow as the export stage does, with
# the served model's own probabilities for the images the export check predicts (test.npz, reference.npy).
EXPORT_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
import keras
from luckybag.pipeline import exports
from luckybag.pipeline.calibration import Calibration
from luckybag.pipeline.models import build_dense
from luckybag.pipeline.params import HiddenLayer
from tests.conftest import make_images

out = Path(sys.argv[1])
keras.utils.set_random_seed(0)
labels = np.random.default_rng(0).integers(0, 10, size=300)
images = make_images(labels, np.random.default_rng(1))
model = build_dense([HiddenLayer(units=16, activation="relu")], dropout=0.0)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(images, labels, epochs=1, batch_size=32, verbose=0)
served = exports.build_served(model, Calibration("temperature", np.full(10, 1 / 1.3), np.zeros(10)))
exports.save_all(served, out)
test = images[:150]
np.savez(out / "test.npz", images=test, labels=labels[:150])
np.save(out / "reference.npy", served.predict(test, verbose=0))
"""


@pytest.fixture(scope="session")
def export_dir(session_shared_dir: Path) -> Path:
    """The session's one tiny export (``EXPORT_SCRIPT``), built once for every xdist worker. Tests read it;
    one that breaks a file copies the directory first."""
    target = session_shared_dir / "tiny-export"
    with FileLock(str(session_shared_dir / "tiny-export.lock")):
        done = session_shared_dir / "tiny-export.done"
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
            built = subprocess.run(
                [sys.executable, "-c", EXPORT_SCRIPT, str(target)],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert built.returncode == 0, built.stderr[-3000:]
            done.write_text("")
    return target


@pytest.fixture
def tiny_project(tmp_path: Path, mirror: tuple[Path, dict[str, str]]) -> Path:
    return make_project(tmp_path / "project", tiny_params(*mirror))
