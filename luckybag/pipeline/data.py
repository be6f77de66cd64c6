"""Fashion-MNIST data: download with checksums, IDX parsing, prepared splits."""

import gzip
import hashlib
import http.client
import shutil
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from luckybag.contract import NUM_CLASSES, SIDE
from luckybag.idx import DataError, read_idx
from luckybag.io import atomic_path, read_json, save_npz

FILES: dict[str, str] = {
    # name -> SHA-256 of the *decompressed* IDX file (Debian recompresses the .gz)
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
HOW_TO_GET = (
    "install Debian's package dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
    "or set download.mirror in params.yaml to a directory or URL holding the four .gz files"
)


def default_sources(mirror: str | None) -> list[str]:
    """Where to look, in order: the mirror from params, Debian's package, the official URLs."""
    return ([mirror] if mirror else []) + [str(DEBIAN_DIR), OFFICIAL_URL]


def _fetch_url(url: str, dest: Path, timeout: float) -> None:
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http is the official host)
        total = int(response.headers.get("Content-Length") or 0) or None  # None: length unknown
        desc = url.rsplit("/", 1)[-1]
        with open(dest, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False) as bar:
            while block := response.read(64 * 1024):  # b"" at the end
                bar.update(out.write(block))
    received = dest.stat().st_size
    if total is not None and received != total:  # http.client ends a short read of a known length quietly
        raise http.client.IncompleteRead(b"", total - received)


def _copy_from(source: str, name: str, dest: Path, timeout: float, sha256: str) -> None:
    """Copy ``name.gz`` from ``source`` into ``dest`` and check its content; a DataError says why this source failed."""
    try:
        if source.startswith(("http://", "https://", "file://")):
            _fetch_url(source.rstrip("/") + f"/{name}.gz", dest, timeout)
        else:
            shutil.copyfile(Path(source) / f"{name}.gz", dest)
    except (OSError, ValueError, http.client.HTTPException) as err:  # IncompleteRead: the connection broke
        raise DataError(f"{type(err).__name__}: {getattr(err, 'reason', None) or err}") from None
    try:
        with gzip.open(dest, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()  # at most 47 MB
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"not a readable gzip file ({err})") from None
    if digest != sha256:
        raise DataError("SHA-256 of the decompressed content does not match")


def fetch_file(name: str, sources: list[str], out_dir: Path, timeout: float = 30.0, sha256: str | None = None) -> str:
    """Copy ``name.gz`` from the first source whose content checks out; return that source."""
    tried: list[str] = []
    for source in sources:
        try:
            with atomic_path(out_dir / f"{name}.gz") as tmp:  # a failed source's partial file is rolled back
                _copy_from(source, name, tmp, timeout, sha256 or FILES[name])
            return source
        except DataError as failure:  # from _copy_from: try the next source
            tried.append(f"{source} ({failure})")
    raise DataError(f"{name}.gz: no source gave a valid copy; tried {'; '.join(tried)}; {HOW_TO_GET}")


def download(
    sources: list[str], out_dir: Path, timeout: float = 30.0, checksums: dict[str, str] | None = None
) -> dict[str, str]:
    """Fetch the four files into ``out_dir``; return file -> source used (``checksums``: for a test mirror)."""
    used = {name: fetch_file(name, sources, out_dir, timeout, (checksums or FILES)[name]) for name in FILES}
    for name, source in used.items():
        print(f"{out_dir / name}.gz: verified, from {source}")
    return used


def _read(path: Path, count: int | None, what: str, item_shape: tuple[int, ...], expected: str) -> np.ndarray:
    array = read_idx(path)
    if array.shape[1:] != item_shape:
        raise DataError(f"{path}: {what} have shape {array.shape}; expected {expected}")
    if count is not None and len(array) != count:
        raise DataError(f"{path}: {len(array)} {what}; expected {count}")
    return array


def read_images(path: Path, count: int | None = None) -> np.ndarray:
    return _read(path, count, "images", (SIDE, SIDE), f"(N, {SIDE}, {SIDE})")


def read_labels(path: Path, count: int | None = None) -> np.ndarray:
    labels = _read(path, count, "labels", (), "(N,)")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{path}: label {int(labels.max())} is outside 0-{NUM_CLASSES - 1}")
    return labels


def load_raw(raw_dir: Path, split: str, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of the ``train`` or ``t10k`` split, checked against each other."""
    images_path = Path(raw_dir) / f"{split}-images-idx3-ubyte.gz"
    labels_path = Path(raw_dir) / f"{split}-labels-idx1-ubyte.gz"
    images, labels = read_images(images_path, count), read_labels(labels_path, count)
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}")
    return images, labels


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, SIDE, SIDE) uint8, raw pixels: the model scales them itself
    labels: np.ndarray  # (N,) uint8

    def __len__(self) -> int:
        return len(self.labels)


def save_split(path: Path, split: Split) -> None:
    save_npz(path, images=split.images, labels=split.labels)


def load_split(path: Path) -> Split:
    path = Path(path)
    try:
        with np.load(path) as data:
            return Split(images=data["images"], labels=data["labels"])
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run the preprocess stage first)") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(
            f"{path}: not a prepared split with images and labels ({type(err).__name__}: {err}); "
            "re-run the preprocess stage"
        ) from None


def read_logged(path: Path) -> Any:
    """A JSON file another stage wrote; a one-line error if it is missing or not JSON."""
    try:
        return read_json(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run the stage that writes it first)") from None
    except ValueError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
