"""Make a decoded photo look like Fashion-MNIST: grayscale, a light item on black, trimmed, fitted into 28x28."""

from typing import TYPE_CHECKING

import numpy as np

from luckybag.contract import SIDE

if TYPE_CHECKING:
    from PIL import Image as PILImage

WORK_SIDE = 8 * SIDE  # photos are shrunk to this before trimming (speed; plenty of detail for 28x28)
BRIGHT = 128  # a pixel at least this bright counts as "bright" in the backdrop checks
BACKGROUND_SPREAD = 32  # a border whose 10th-90th percentile spread is below this is a plain backdrop
ITEM_THRESHOLD = 16  # after the backdrop is set to black, pixels brighter than this belong to the item
STRETCH_FROM = 64  # a fitted photo whose brightest pixel reaches this holds an item: stretch it to 255


def gray_and_alpha(img: "PILImage.Image") -> tuple[np.ndarray, np.ndarray]:
    """Grayscale 0-255 and opacity 0-1 arrays, shrunk to WORK_SIDE; 16-bit images are scaled, float ones clipped."""
    from PIL import Image

    sixteen_bit = img.mode.startswith("I;16") or (img.mode == "I" and np.asarray(img).max(initial=0) > 255)
    if sixteen_bit and not img.has_transparency_data:
        img = img.convert("I").point(lambda v: v / 257)  # 65535 -> 255; convert("L") then clips and truncates
    img = img.convert("RGBA").convert("LA") if img.has_transparency_data else img.convert("L")
    img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    values = np.asarray(img, dtype=np.float32)
    if values.ndim == 3:
        return values[..., 0], values[..., 1] / 255.0
    return values, np.ones_like(values)


def border(image: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring (about 3 % of the shorter side, at least 1 pixel)."""
    h, w = image.shape
    width = max(1, round(0.03 * min(h, w)))
    ring = np.ones((h, w), dtype=bool)
    ring[width:-width, width:-width] = False
    return image[ring]


def invert_hint(name: str, invert: bool, seen: str) -> str:
    """The one-line warning for an image that looks inverted; ``seen`` says what was noticed."""
    advice = "try --background dark" if invert else "try --invert (--background light) or --background auto"
    return f"{name}: {seen}; the model expects a light item on a black background: {advice}"


def to_training_look(gray: np.ndarray) -> np.ndarray:
    """Light item on a plain backdrop -> black backdrop, trimmed, fitted into 28x28, stretched: as Fashion-MNIST was
    made. A busy or bright border is only fitted; an image already 28x28 is taken as it is (the data set's format)."""
    from PIL import Image

    if gray.shape == (SIDE, SIDE):
        return np.clip(gray, 0, 255).astype(np.float32)
    low, level, high = np.percentile(border(gray), [10, 50, 90])
    if high - low <= BACKGROUND_SPREAD and level < BRIGHT:
        gray = np.clip((gray - level) * (255.0 / (255.0 - level)), 0, 255)
        # Above the backdrop's noise (5 sigma; its 10th-90th percentile spread is 2.56 sigma, rescaled as gray was) in
        # over 1 % of a row or column; getbbox (any speck counts) changed a top class.
        item = gray > max(ITEM_THRESHOLD, 5 * (high - low) / 2.56 * 255.0 / (255.0 - level))
        rows = np.flatnonzero(item.sum(axis=1) > 0.01 * item.shape[1])
        cols = np.flatnonzero(item.sum(axis=0) > 0.01 * item.shape[0])
        if rows.size and cols.size:
            gray = gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    # Pad to a centred black square, then Lanczos to 28x28. Not ImageOps.pad: it shrinks before padding, which
    # changed 14 of 263 generated shop photos' top class.
    h, w = gray.shape
    n = max(h, w)
    square = Image.new("F", (n, n))
    square.paste(Image.fromarray(gray.astype(np.float32)), ((n - w) // 2, (n - h) // 2))
    fitted = np.clip(np.asarray(square.resize((SIDE, SIDE), Image.Resampling.LANCZOS)), 0, 255)
    top = float(fitted.max(initial=0))  # brightest pixel to 255 as in the data set, unless nothing is item-bright
    return fitted * (255.0 / top) if top >= STRETCH_FROM else fitted


def prepare_image(img: "PILImage.Image", background: str, name: str) -> tuple[np.ndarray, str, str | None]:
    """A decoded image -> ((28, 28) float32 pixels 0-255, the backdrop taken ("light"/"dark"), a warning or None).
    "auto" inverts a mostly bright border (a cut-out: a dark item); transparent areas become the backdrop."""
    gray, alpha = gray_and_alpha(img)
    # Hand-written backdrop detection: no library tells a light backdrop (or a cut-out's item) from a dark one.
    item = alpha >= 0.5
    cutout = 1 - item.mean() >= 0.05 and item.any()
    light_item = bool(gray[item].mean() >= 255 - BRIGHT) if cutout else None
    invert = background == "light"
    if background == "auto":  # a mostly bright border is a light backdrop, not the training's black
        invert = not light_item if cutout else np.mean(border(np.where(item, gray, 0.0)) >= BRIGHT) > 0.5
    gray = gray * alpha + (255.0 if invert else 0.0) * (1.0 - alpha)
    gray = 255.0 - gray if invert else gray
    seen = None
    if background != "auto" and cutout and light_item == invert:
        seen = f"a {'light' if invert else 'dark'} item on a transparent background"
    elif background != "auto" and not cutout and np.mean(border(gray) >= BRIGHT) > 0.5:
        bright = "the background is mostly bright"
        seen = f"after --invert {bright}" if invert else f"{bright} (a dark item on a light background?)"
    hint = invert_hint(name, invert, seen) if seen else None
    return to_training_look(gray), "light" if invert else "dark", hint
