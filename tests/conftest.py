"""Shared fixtures: tiny IDX data sets and throw-away copies of the project."""

import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

# Unit tests run Keras on the pipeline's default backend; set before anything imports Keras.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# What a project copy needs to run the pipeline (code and config, no outputs).
PROJECT_FILES = ["luckybag", "stages", "dvc.yaml", "params.yaml", "pyproject.toml", ".gitignore"]


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


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    directory = tmp_path / "mirror"
    return directory, make_mirror(directory)


# numpy picks SIMD kernels by CPU; this makes an AVX-512 machine compute like one without it.
WITHOUT_AVX512 = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL"}
CPU_SETTINGS = {"native": {}, "without-avx512": WITHOUT_AVX512}


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


def reproduced_project(root: Path, message: str = "reproduced") -> Path:
    """A tiny project whose pipeline ran and was committed: a baseline for experiments and diffs."""
    project = make_project(root / "project", tiny_params(root / "mirror", make_mirror(root / "mirror")))
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", message], project)
    return project


@pytest.fixture
def tiny_project(tmp_path: Path, mirror: tuple[Path, dict[str, str]]) -> Path:
    return make_project(tmp_path / "project", tiny_params(*mirror))
