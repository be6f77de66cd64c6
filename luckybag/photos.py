"""Photos made to look like the training data: grayscale, a light item on black, trimmed, fitted into 28x28."""

from __future__ import annotations

import struct
import warnings
from typing import TYPE_CHECKING

import numpy as np

from luckybag.errors import LuckybagError

if TYPE_CHECKING:
    from pathlib import Path

    from PIL import Image as PILImage

SIDE = 28
WORK_SIDE = 8 * SIDE  # photos are shrunk to this before trimming (speed; plenty of detail for 28x28)
BRIGHT = 128  # a pixel at least this bright counts as "bright" in the backdrop checks
BACKGROUND_SPREAD = 32  # a border whose 10th-90th percentile spread is below this is a plain backdrop
ITEM_THRESHOLD = 16  # after the backdrop is set to black, pixels brighter than this belong to the item
STRETCH_FROM = 64  # a fitted photo whose brightest pixel reaches this holds an item: stretch it to 255
BACKGROUNDS = ("auto", "light", "dark")
EXPECTED_INPUT = "a PNG/JPEG image, a .npy array of 0-255 pixels ((28, 28) or (N, 28, 28)) or an IDX image file"


class InputError(LuckybagError):
    """One input file cannot be used; the message names the file and what was expected."""

    exit_code = 2


def one_line(err: BaseException) -> str:
    text = str(err).strip()
    if "Exception encountered:" in text:  # Keras wraps the cause in a page of config
        text = text.rsplit("Exception encountered:", 1)[1].strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def open_image(path: Path) -> PILImage.Image:
    """Decode an image file with Pillow (JPEGs at reduced size when they are large)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as img:
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
            raise InputError(
                f"{path}: corrupt or truncated image ({one_line(err)}); expected {EXPECTED_INPUT}"
            ) from None


def _gray_and_alpha(img: PILImage.Image) -> tuple[PILImage.Image, bool]:
    """Convert to 'LA' (when the image has transparency) or 'L'; 16-bit and float images are scaled."""
    from PIL import Image

    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        return img.convert("RGBA").convert("LA"), True
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        values = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16") or (img.mode == "I" and values.max(initial=0) > 255):
            values = values / 257.0  # 16-bit: 65535 -> 255
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), mode="L"), False
    return img.convert("L"), False


def border(image: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring (about 3 % of the shorter side, at least 1 pixel)."""
    h, w = image.shape
    width = max(1, round(0.03 * min(h, w)))
    if 2 * width >= min(h, w):
        return image.ravel()
    ring = np.ones((h, w), dtype=bool)
    ring[width:-width, width:-width] = False
    return image[ring]


def mostly_bright(ring: np.ndarray) -> bool:
    """More than half of the border pixels are bright: a light background, not the training's black."""
    return ring.size > 0 and float(np.mean(ring >= BRIGHT)) > 0.5


def invert_hint(name: str, invert: bool, seen: str | None = None) -> str:
    """The one-line warning for an image that looks inverted; ``seen`` says what was noticed."""
    if seen is None:
        seen = (
            "after --invert the background is mostly bright"
            if invert
            else ("the background is mostly bright (a dark item on a light background?)")
        )
    advice = "try --background dark" if invert else "try --invert (--background light) or --background auto"
    return f"{name}: {seen}; the model expects a light item on a black background: {advice}"


def fit_to_square(image: np.ndarray, side: int = SIDE) -> np.ndarray:
    """Pad to a centred square with black, then resize to ``side`` x ``side`` (Lanczos)."""
    from PIL import Image

    h, w = image.shape
    n = max(h, w)
    square = np.zeros((n, n), dtype=np.float32)
    top, left = (n - h) // 2, (n - w) // 2
    square[top : top + h, left : left + w] = image
    resized = Image.fromarray(square, mode="F").resize((side, side), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 255)


def to_training_look(gray: np.ndarray) -> np.ndarray:
    """Light item on a plain backdrop -> backdrop black, trimmed to the item, fitted into 28x28.

    Like Fashion-MNIST's own preprocessing (trim the edges, longest edge to 28, centre).
    A busy or bright border is left alone (no trim): the image is only fitted. An image
    that is already 28x28 is taken as it is (the data set's own format)."""
    if gray.shape == (SIDE, SIDE):
        return np.clip(gray, 0, 255).astype(np.float32)
    ring = border(gray)
    low, level, high = np.percentile(ring, [10, 50, 90])
    if high - low <= BACKGROUND_SPREAD and level < BRIGHT:
        gray = np.clip((gray - level) * (255.0 / (255.0 - level)), 0, 255)
        # Above the backdrop's own noise (5 sigma), and in at least 1 % of a row or column: specks don't count.
        item = gray > max(ITEM_THRESHOLD, 5 * (high - low) / 2.56 * 255.0 / (255.0 - level))
        rows = np.flatnonzero(item.sum(axis=1) > 0.01 * item.shape[1])
        cols = np.flatnonzero(item.sum(axis=0) > 0.01 * item.shape[0])
        if rows.size and cols.size:
            gray = gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return stretch(fit_to_square(gray))


def stretch(image: np.ndarray) -> np.ndarray:
    """Brightest pixel to 255, as in the data set (every image's maximum is 254 or 255).

    An image with nothing as bright as an item (blank, black) is left as it is."""
    top = float(image.max(initial=0))
    return image * (255.0 / top) if top >= STRETCH_FROM else image


def _light_cutout(gray: np.ndarray, alpha: np.ndarray) -> bool | None:
    """For a cut-out (transparent around the item): is the item light? None when it is no cut-out."""
    item = alpha >= 0.5
    if 1 - item.mean() < 0.05 or not item.any():
        return None
    return float(gray[item].mean()) >= 255 - BRIGHT


def prepare_image(
    img: PILImage.Image, background: str = "auto", name: str = "image"
) -> tuple[np.ndarray, str, str | None]:
    """A decoded image -> ((28, 28) float32 pixels 0-255, the backdrop taken ("light"/"dark"), a warning or None).

    ``background`` "auto" inverts when the border is mostly bright (a cut-out: when the item
    is dark); "light" always inverts, "dark" never. Transparent areas become the backdrop."""
    from PIL import Image

    img, has_alpha = _gray_and_alpha(img)
    img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    values = np.asarray(img, dtype=np.float32)
    light_item = None
    if has_alpha:
        gray, alpha = values[..., 0], values[..., 1] / 255.0
        light_item = _light_cutout(gray, alpha)
    else:
        gray, alpha = values, None
    if background == "auto":
        invert = not light_item if light_item is not None else _looks_light(gray, alpha)
    else:
        invert = background == "light"
    if alpha is not None:
        gray = gray * alpha + (255.0 if invert else 0.0) * (1.0 - alpha)
    if invert:
        gray = 255.0 - gray
    hint = None
    if background != "auto":
        if light_item is not None and light_item == invert:
            hint = invert_hint(name, invert, f"a {'light' if invert else 'dark'} item on a transparent background")
        elif light_item is None and mostly_bright(border(gray)):
            hint = invert_hint(name, invert)
    return to_training_look(gray), "light" if invert else "dark", hint


def _looks_light(gray: np.ndarray, alpha: np.ndarray | None) -> bool:
    """A mostly bright border (opaque pixels only) means a light backdrop."""
    if alpha is not None:
        gray = np.where(alpha >= 0.5, gray, 0.0)
    return mostly_bright(border(gray))
