"""The CLI's inputs (photos, .npy arrays, IDX files) read, checked and made uint8 28x28 images; bad ones named."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from luckybag.errors import LuckybagError
from luckybag.photos import (
    BRIGHT,
    EXPECTED_INPUT,
    SIDE,
    InputError,
    invert_hint,
    one_line,
    open_image,
    prepare_image,
)

IDX_MAGICS = (b"\x00\x00\x08\x03", b"\x00\x00\x08\x01")  # images, labels
_ARRAY_BORDER = np.ones((SIDE, SIDE), dtype=bool)
_ARRAY_BORDER[2:-2, 2:-2] = False  # the outer 2-pixel ring of a 28x28 image


@dataclass
class Read:
    """What one input file gave: a name, a pixel image and the backdrop taken per image, and warnings."""

    names: list[str]
    images: np.ndarray  # (n, 28, 28) uint8
    backgrounds: list[str]  # "light" (inverted) or "dark", per image
    warnings: list[str] = field(default_factory=list)


@dataclass
class Inputs:
    """The usable images of all inputs, their display names, and what went wrong."""

    names: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)  # each (n, 28, 28) uint8
    backgrounds: list[str] = field(default_factory=list)  # per image
    problems: list[str] = field(default_factory=list)  # one line per bad input
    warnings: list[str] = field(default_factory=list)  # one line each

    def batch(self) -> np.ndarray:
        if not self.images:
            return np.zeros((0, SIDE, SIDE), dtype=np.uint8)
        return np.concatenate(self.images)


def to_pixels(images: np.ndarray) -> np.ndarray:
    """Float pixels -> the uint8 the served model takes: rounded (127.9 is 128), clipped to 0-255."""
    if images.dtype == np.uint8:
        return images
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def check_file(path: Path) -> None:
    """The cheap checks every input passes first: exists, a regular file, not empty."""
    try:
        if not path.exists():
            raise InputError(f"{path}: no such file; expected {EXPECTED_INPUT}")
        if path.is_dir():
            raise InputError(f"{path}: is a directory; expected {EXPECTED_INPUT}")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file (0 bytes); expected {EXPECTED_INPUT}")
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({one_line(err)})") from None


def check_pixels(array: np.ndarray, path: Path | str) -> np.ndarray:
    """Raw pixel values: a numeric (28, 28) or (N, 28, 28) array, finite, within 0-255.

    Returns (n, 28, 28) float32."""
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InputError(f"{path}: array of dtype {array.dtype}; expected numbers (0-255 pixel values)")
    if array.ndim not in (2, 3) or array.shape[-2:] != (SIDE, SIDE):
        raise InputError(f"{path}: array of shape {array.shape}; expected one image (28, 28) or a batch (N, 28, 28)")
    if array.ndim == 2:
        array = array[np.newaxis]
    if len(array) == 0:
        raise InputError(f"{path}: holds no images (shape {array.shape}); expected at least one 28x28 image")
    images = np.asarray(array, dtype=np.float32)
    bad = ~np.isfinite(images)
    if bad.any():
        raise InputError(f"{path}: {int(bad.sum())} NaN or infinite values; expected pixel values 0-255")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 255:
        raise InputError(f"{path}: values from {low:g} to {high:g}; expected pixel values 0-255")
    return images


def read_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise InputError(f"{path}: not a readable .npy file (no NumPy header); expected {EXPECTED_INPUT}")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise InputError(f"{path}: holds Python objects; expected a numeric .npy array of 0-255 pixels") from None
        raise InputError(f"{path}: not a readable .npy file ({one_line(err)}); expected {EXPECTED_INPUT}") from None
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable .npy file ({one_line(err)}); expected {EXPECTED_INPUT}") from None
    return array


def read_idx_images(path: Path) -> np.ndarray:
    from luckybag.data import read_idx

    try:
        array = read_idx(path)
    except LuckybagError as err:
        raise InputError(str(err)) from None
    if array.ndim != 3:
        raise InputError(f"{path}: IDX file of shape {array.shape} (labels?); expected an IDX image file (N, 28, 28)")
    return array


def light_share(images: np.ndarray) -> int:
    """How many 28x28 images have a mostly bright outer ring (a light backdrop, or an item filling the frame)."""
    ring = images[:, _ARRAY_BORDER]
    return int(np.sum(np.mean(ring >= BRIGHT, axis=1) > 0.5))


def array_background(images: np.ndarray, path: Path, background: str) -> tuple[bool, list[str]]:
    """Whether to invert a file of 28x28 images, and warnings.

    One decision per file (a data set has one backdrop): "auto" inverts when most images
    have a bright ring; a few items filling the frame are normal either way."""
    bright = light_share(images)
    if background == "auto":
        return bright > len(images) / 2, []
    invert = background == "light"
    if invert:
        bright = len(images) - bright  # bright after inversion
    if not bright or bright < 0.1 * len(images):
        return invert, []
    seen = f"{bright} of {len(images)} images have a mostly bright border" + (" after --invert" if invert else "")
    return invert, [invert_hint(str(path), invert, seen)]


def read_array_input(path: Path, background: str) -> Read:
    suffix = path.suffix.lower()
    array = read_npy(path) if suffix == ".npy" else read_idx_images(path)
    images = check_pixels(array, path)
    hints = []
    if 0 < images.max() <= 1.0:
        hints.append(f"{path}: all values are within 0-1; the model expects raw pixels 0-255 (multiply by 255?)")
    invert, more = array_background(images, path, background)
    if invert:
        images = 255.0 - images
    names = [str(path)] if array.ndim == 2 else [f"{path}[{i}]" for i in range(len(images))]
    return Read(names, to_pixels(images), ["light" if invert else "dark"] * len(images), hints + more)


def read_input(path: Path, background: str = "auto") -> Read:
    """One input file -> its images as uint8 (n, 28, 28). Raises InputError."""
    check_file(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({one_line(err)})") from None
    if path.suffix.lower() in (".npy", ".gz") or head[:4] in IDX_MAGICS:
        return read_array_input(path, background)
    image, taken, hint = prepare_image(open_image(path), background=background, name=str(path))
    return Read([str(path)], to_pixels(image[np.newaxis]), [taken], [hint] if hint else [])


def read_inputs(paths: Sequence[Path], background: str = "auto") -> Inputs:
    """Read every input; the bad ones become one-line problems, the good ones are kept."""
    inputs = Inputs()
    for path in paths:
        try:
            read = read_input(Path(path), background)
        except InputError as err:
            inputs.problems.append(str(err))
            continue
        inputs.names.extend(read.names)
        inputs.images.append(read.images)
        inputs.backgrounds.extend(read.backgrounds)
        inputs.warnings.extend(read.warnings)
    return inputs
