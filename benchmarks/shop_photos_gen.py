"""Synthetic shop photos of 28x28 items, and pictures that are not items (benchmarks and tests only).

A dark item on a light backdrop is ``backdrop * (1 - x/255)`` (Fashion-MNIST's images are such photos negated);
backdrop, scale, position, rotation, light, noise, blur and JPEG quality vary. Usable from benchmarks/ scripts
(``from shop_photos_gen import ...``) and tests (``from benchmarks.shop_photos_gen import ...``).
"""

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

LIGHT_SHARE = 0.8  # share of photos on a light backdrop (the usual product photo)
NON_ITEM_KINDS = ("blank", "black", "noise", "text", "backdrop", "gradient")
WORDS = (  # noqa: SIM905 - a sentence reads shorter than 26 quoted words
    "lucky bag event price total size colour return order delivery cotton wool linen shirt coat bag dress sale "
    "offer shop street opening hours thank you welcome"
).split()


def _jpeg(canvas: np.ndarray, rng: np.random.Generator) -> bytes:
    """Noise, blur and a JPEG round trip at a random quality, as a camera and an upload would do."""
    canvas = canvas + rng.normal(0, rng.uniform(0, 4), canvas.shape)
    img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "L")
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))
    tint = rng.uniform(0.94, 1.0, size=3)  # a slightly warm or cool white
    rgb = np.clip(np.asarray(img, dtype=np.float32)[..., None] * tint, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="JPEG", quality=int(rng.integers(60, 96)))
    return buffer.getvalue()


def shop_photo(item: np.ndarray, rng: np.random.Generator) -> bytes:
    """A JPEG file of the 28x28 uint8 ``item`` (light on black, as in the data set) as a shop would take it."""
    side = int(rng.integers(140, 360))  # the item's size on the photo
    scale = rng.uniform(0.45, 0.85)  # of the canvas's shorter side
    aspect = rng.uniform(0.75, 1.33)
    short = int(side / scale)
    width, height = (int(short * aspect), short) if aspect >= 1 else (short, int(short / aspect))
    ink = Image.fromarray(item).resize((side, side), Image.Resampling.BICUBIC)
    ink = ink.rotate(rng.uniform(-5, 5), resample=Image.Resampling.BICUBIC, expand=True, fillcolor=0)
    share = np.zeros((height, width), dtype=np.float32)
    left = int(rng.integers(0, max(1, width - ink.width + 1)))
    top = int(rng.integers(0, max(1, height - ink.height + 1)))
    patch = np.asarray(ink, dtype=np.float32)[: height - top, : width - left] / 255.0
    share[top : top + patch.shape[0], left : left + patch.shape[1]] = patch
    if rng.random() < LIGHT_SHARE:
        backdrop, tone = rng.uniform(170, 250), rng.uniform(0, 30)
    else:
        backdrop, tone = rng.uniform(0, 50), rng.uniform(215, 255)
    light = 1 + rng.uniform(-0.05, 0.05) * np.linspace(-1, 1, width)[None, :]  # uneven light across
    canvas = (backdrop * (1 - share) + tone * share) * light
    return _jpeg(canvas, rng)


def _text_page(rng: np.random.Generator) -> np.ndarray:
    width, height = int(rng.integers(300, 700)), int(rng.integers(300, 900))
    img = Image.new("L", (width, height), int(rng.integers(215, 256)))
    draw = ImageDraw.Draw(img)
    size = int(rng.integers(12, 30))
    font = ImageFont.load_default(size)
    margin = int(rng.integers(10, 60))
    for y in range(margin, height - margin - size, int(size * 1.5)):
        line = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 12))))
        draw.text((margin, y), line, fill=int(rng.integers(0, 60)), font=font)
    return np.asarray(img, dtype=np.float32)


def _non_item_canvas(kind: str, rng: np.random.Generator) -> np.ndarray:
    height, width = int(rng.integers(200, 600)), int(rng.integers(200, 600))
    if kind == "blank":
        return np.full((height, width), rng.uniform(170, 255), dtype=np.float32)
    if kind == "black":
        return np.full((height, width), rng.uniform(0, 40), dtype=np.float32)
    if kind == "noise":
        cell = int(rng.integers(1, 12))  # from pixel noise to coarse blotches
        small = rng.uniform(0, 255, size=(height // cell + 1, width // cell + 1)).astype(np.float32)
        return np.kron(small, np.ones((cell, cell), dtype=np.float32))[:height, :width]
    if kind == "text":
        return _text_page(rng)
    if kind == "backdrop":  # a crop of plain light backdrop: a soft shadow, fabric grain
        y, x = np.mgrid[0:height, 0:width] / max(height, width)
        shadow = rng.uniform(0, 40) * np.exp(-((x - rng.uniform()) ** 2 + (y - rng.uniform()) ** 2) / 0.1)
        return rng.uniform(175, 245) - shadow + rng.normal(0, rng.uniform(1, 6), (height, width))
    if kind == "gradient":  # light fading across the frame, no item
        low, high = rng.uniform(0, 255, size=2)
        across = rng.random() < 0.5
        ramp = np.linspace(low, high, width if across else height, dtype=np.float32)
        return np.broadcast_to(ramp[None, :] if across else ramp[:, None], (height, width)).copy()
    raise ValueError(f"unknown non-item kind {kind!r}")


def non_item(kind: str, rng: np.random.Generator) -> tuple[bytes, str]:
    """A picture that is not a fashion item, one of NON_ITEM_KINDS: (file bytes, suffix); noise half the time as PNG."""
    canvas = _non_item_canvas(kind, rng)
    if kind != "noise" or rng.random() < 0.5:
        return _jpeg(canvas, rng), ".jpg"
    buffer = io.BytesIO()
    Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "L").save(buffer, format="PNG")
    return buffer.getvalue(), ".png"


def write_shop_photos(items: np.ndarray, directory: Path, seed: int) -> list[Path]:
    """One JPEG shop photo per 28x28 item in ``directory``, named by index; the same seed gives the same photos."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, item in enumerate(items):
        path = directory / f"shop{i:05d}.jpg"
        path.write_bytes(shop_photo(item, rng))
        paths.append(path)
    return paths


def write_non_items(directory: Path, per_kind: int, seed: int) -> dict[str, list[Path]]:
    """``per_kind`` pictures of each of NON_ITEM_KINDS in ``directory``; the same seed gives the same pictures."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[Path]] = {}
    for kind in NON_ITEM_KINDS:
        made[kind] = []
        for i in range(per_kind):
            data, suffix = non_item(kind, rng)
            path = directory / f"{kind}{i:04d}{suffix}"
            path.write_bytes(data)
            made[kind].append(path)
    return made
