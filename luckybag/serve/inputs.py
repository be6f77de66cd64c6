"""Read the CLI's inputs (photos, .npy arrays, IDX image files) into uint8 28x28 images; each bad one is named."""

import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from luckybag.contract import SIDE
from luckybag.errors import LuckybagError, one_line
from luckybag.serve.photos import BRIGHT, WORK_SIDE, invert_hint, prepare_image

if TYPE_CHECKING:
    from PIL import Image as PILImage

EXPECTED_INPUT = "a PNG/JPEG image, a .npy array of 0-255 pixels ((28, 28) or (N, 28, 28)) or an IDX image file"
IDX_MAGICS = (b"\x00\x00\x08\x03", b"\x00\x00\x08\x01")  # images, labels
RING = np.pad(np.zeros((SIDE - 4, SIDE - 4), dtype=bool), 2, constant_values=True)  # a 28x28 image's outer 2 pixels


class InputError(LuckybagError):
    """One input file cannot be used; the message names the file and what was expected."""


@dataclass
class Inputs:
    """Usable images with their names and backdrops ("light": inverted, or "dark"), and one line per problem/hint."""

    names: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)  # each (n, 28, 28) uint8
    backgrounds: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def batch(self) -> np.ndarray:
        return np.concatenate(self.images)


def to_pixels(images: np.ndarray) -> np.ndarray:
    """Float pixels -> the uint8 the served model takes: rounded (127.9 is 128), clipped to 0-255."""
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def open_image(path: Path) -> "PILImage.Image":
    """Decode an image file with Pillow (JPEGs at reduced size when they are large)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings(action="error", category=Image.DecompressionBombWarning), Image.open(path) as img:
            img.draft("L", (WORK_SIDE, WORK_SIDE))  # JPEG: let the decoder downscale; others: no-op
            img.load()
            return ImageOps.exif_transpose(img)
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file Pillow can read; expected {EXPECTED_INPUT}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            f"{path}: image too large (over {Image.MAX_IMAGE_PIXELS} pixels); expected a photo of one item"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as err:
        raise InputError(f"{path}: corrupt or truncated image ({one_line(err)}); expected {EXPECTED_INPUT}") from None


def check_pixels(array: np.ndarray, path: Path) -> np.ndarray:
    """A numeric (28, 28) or (N, 28, 28) array of finite values within 0-255 -> (n, 28, 28) float32."""
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InputError(f"{path}: array of dtype {array.dtype}; expected numbers (0-255 pixel values)")
    if array.ndim not in (2, 3) or array.shape[-2:] != (SIDE, SIDE):
        raise InputError(f"{path}: array of shape {array.shape}; expected one image (28, 28) or a batch (N, 28, 28)")
    if array.size == 0:
        raise InputError(f"{path}: holds no images (shape {array.shape}); expected at least one 28x28 image")
    images = np.asarray(array, dtype=np.float32).reshape(-1, SIDE, SIDE)
    if bad := int(np.sum(~np.isfinite(images))):
        raise InputError(f"{path}: {bad} NaN or infinite values; expected pixel values 0-255")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 255:
        raise InputError(f"{path}: values from {low:g} to {high:g}; expected pixel values 0-255")
    return images


def read_array(path: Path, head: bytes) -> np.ndarray:
    """A .npy or IDX (raw or .gz) file's array."""
    if path.suffix.lower() != ".npy":
        from luckybag.idx import read_idx

        array = read_idx(path)  # its DataError names the file, as an InputError does
        if array.ndim != 3:
            raise InputError(
                f"{path}: IDX file of shape {array.shape} (labels?); expected an IDX image file (N, 28, 28)"
            )
        return array
    unreadable = f"{path}: not a readable .npy file"
    if head[:6] != b"\x93NUMPY":
        raise InputError(f"{unreadable} (no NumPy header); expected {EXPECTED_INPUT}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        if "pickle" in str(err).lower():
            raise InputError(f"{path}: holds Python objects; expected a numeric .npy array of 0-255 pixels") from None
        raise InputError(f"{unreadable} ({one_line(err)}); expected {EXPECTED_INPUT}") from None


def array_background(images: np.ndarray, path: Path, background: str) -> tuple[bool, list[str]]:
    """Whether to invert a file of 28x28 images (one backdrop per data set: "auto" follows most rings), and hints."""
    hints = []
    if 0 < images.max() <= 1.0:
        hints.append(f"{path}: all values are within 0-1; the model expects raw pixels 0-255 (multiply by 255?)")
    bright_rings = int(np.sum(np.mean(images[:, RING] >= BRIGHT, axis=1) > 0.5))  # images with a mostly bright ring
    if background == "auto":
        return bright_rings > len(images) / 2, hints
    invert = background == "light"
    bright = len(images) - bright_rings if invert else bright_rings  # bright rings after inversion
    if bright >= max(1, 0.1 * len(images)):
        seen = f"{bright} of {len(images)} images have a mostly bright border" + (" after --invert" if invert else "")
        hints.append(invert_hint(str(path), invert, seen))
    return invert, hints


def read_input(path: Path, background: str = "auto") -> Inputs:
    """One input file -> its images as uint8 (n, 28, 28) with names, backdrops and warnings, or a LuckybagError."""
    try:
        problem = "no such file" if not path.exists() else "is a directory" if path.is_dir() else None
        if problem or path.stat().st_size == 0:
            raise InputError(f"{path}: {problem or 'empty file (0 bytes)'}; expected {EXPECTED_INPUT}")
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({one_line(err)})") from None
    if path.suffix.lower() not in (".npy", ".gz") and head[:4] not in IDX_MAGICS:
        image, taken, hint = prepare_image(open_image(path), background, str(path))
        return Inputs([str(path)], [to_pixels(image[np.newaxis])], [taken], warnings=[hint] if hint else [])
    array = read_array(path, head)
    images = check_pixels(array, path)
    invert, hints = array_background(images, path, background)
    names = [str(path)] if array.ndim == 2 else [f"{path}[{i}]" for i in range(len(images))]
    pixels = to_pixels(255.0 - images if invert else images)
    return Inputs(names, [pixels], ["light" if invert else "dark"] * len(images), warnings=hints)


def read_inputs(paths: Sequence[Path], background: str = "auto") -> Inputs:
    """Read every input; the bad ones become one-line problems, the good ones are kept."""
    inputs = Inputs()
    for path in paths:
        try:
            read = read_input(Path(path), background)
        except LuckybagError as err:  # InputError, or read_idx's DataError
            read = Inputs(problems=[str(err)])
        for field_name, values in vars(read).items():
            getattr(inputs, field_name).extend(values)
    return inputs
