"""Atomic, reproducible file writes: every output appears whole or not at all, the same bytes for the same data."""

import contextlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from luckybag.errors import LuckybagError

# The process' umask, for atomic_path's file mode: os.umask can only read it by setting it, so set it back at once.
_UMASK = os.umask(0)
os.umask(_UMASK)
_EPOCH = (1980, 1, 1, 0, 0, 0)  # a fixed zip entry date: the same bytes on every run (DVC hashes, clean git)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary file next to ``path`` (ending in ``suffix``, default: path's); rename it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would surprise other readers
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a not yet existing directory path next to ``path``; swap it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = staging / path.name  # tools like SavedModel export want to create the directory themselves
    try:
        yield target
        if not target.is_dir():
            raise OSError(f"{path}: nothing was written")
        old = staging / ".old"
        if path.exists():
            os.replace(path, old)
        try:
            os.replace(target, path)
        except OSError:
            if old.exists():
                os.replace(old, path)  # put the previous version back
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def save_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Like ``np.savez``, but the same arrays always give the same bytes."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name, array in arrays.items():
            with archive.open(zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH), "w") as fh:
                np.lib.format.write_array(fh, np.asarray(array), allow_pickle=False)


def reproducible_keras_archive(path: str | os.PathLike[str]) -> None:
    """Rewrite a ``.keras`` archive so identical models give identical bytes.

    Keras stamps the save time into metadata.json and the entries' dates, and object ids into config.json;
    those ids only pair up shared objects within the config, so numbering them in order keeps the meaning.
    """
    ids: dict[bytes, bytes] = {}

    def number(match: re.Match[bytes]) -> bytes:
        return b'"shared_object_id": ' + ids.setdefault(match[1], str(len(ids)).encode())

    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for info, content in entries:
            if info.filename == "metadata.json":
                content = json.dumps({k: v for k, v in json.loads(content).items() if k != "date_saved"}).encode()
            elif info.filename == "config.json":
                content = re.sub(rb'"shared_object_id": (\d+)', number, content)
            fixed = zipfile.ZipInfo(info.filename, date_time=_EPOCH)
            fixed.compress_type = info.compress_type
            archive.writestr(fixed, content)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Strict JSON, sorted keys: a NaN or infinity is refused (nothing is written)."""
    try:
        text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False)
    except ValueError:
        raise LuckybagError(f"{path}: refusing to write a NaN or infinite number (not valid JSON)") from None
    write_text(path, text + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
