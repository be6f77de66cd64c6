"""A second shop-photo generator, written apart from shop_photos_gen.py and sharing nothing with it (benchmarks only).

Where shop_photos_gen.py puts a grey item on a grey backdrop with a linear light ramp, Gaussian noise, blur and a
JPEG round trip, this one takes the photo a studio would: the item dyed in a random colour on a coloured paper
backdrop, a soft drop shadow below it, light falling off towards the corners (vignetting), a wider framing
(portrait or landscape, the item small or filling the frame, off centre, tilted up to 12 degrees), shot noise
that grows with brightness, an unsharp-mask sharpening and a WebP or PNG file. No fit uses these pictures.
"""

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def _colour(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """An RGB colour whose channels lie between ``low`` and ``high`` (a paper or a dye)."""
    return rng.uniform(low, high, size=3).astype(np.float32)


def _framing(rng: np.random.Generator) -> tuple[int, int, int]:
    """(width, height, item side) of a portrait or landscape frame with the item at 30-90 % of its shorter side."""
    short = int(rng.integers(180, 480))
    long = int(short * rng.choice([4 / 3, 3 / 2, 16 / 9]))
    width, height = (short, long) if rng.random() < 0.5 else (long, short)
    return width, height, int(short * rng.uniform(0.3, 0.9))


def studio_photo(item: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """The 28x28 uint8 ``item`` (light on black) photographed in a studio: (file bytes, suffix)."""
    width, height, side = _framing(rng)
    mask = Image.fromarray(item).resize((side, side), Image.Resampling.LANCZOS)
    mask = mask.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR, expand=True, fillcolor=0)
    left = int(rng.integers(0, max(1, width - mask.width + 1)))
    top = int(rng.integers(0, max(1, height - mask.height + 1)))
    cover = np.zeros((height, width), dtype=np.float32)
    patch = np.asarray(mask, dtype=np.float32)[: height - top, : width - left] / 255.0
    cover[top : top + patch.shape[0], left : left + patch.shape[1]] = patch
    shadow = Image.fromarray((cover * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(side / 25))
    offset = int(side * rng.uniform(0.01, 0.05))
    shade = np.roll(np.asarray(shadow, dtype=np.float32) / 255.0, (offset, offset), axis=(0, 1))
    light_paper = rng.random() < 0.75
    paper = _colour(rng, 160, 250) if light_paper else _colour(rng, 10, 70)
    dye = _colour(rng, 10, 120) if light_paper else _colour(rng, 170, 250)
    backdrop = paper * (1 - rng.uniform(0.1, 0.35) * shade[..., None])
    # The item keeps its own shading: its darkest folds take the dye fully, its pale parts only partly.
    shaded = dye * (0.6 + 0.4 * (1 - cover[..., None])) if light_paper else dye * (0.5 + 0.5 * cover[..., None])
    photo = backdrop * (1 - cover[..., None]) + shaded * cover[..., None]
    y, x = np.mgrid[0:height, 0:width]
    radius = ((x - width / 2) ** 2 + (y - height / 2) ** 2) / ((width / 2) ** 2 + (height / 2) ** 2)
    photo *= (1 - rng.uniform(0.05, 0.25) * radius)[..., None]  # vignetting
    photo = rng.poisson(np.clip(photo, 0, 255) * 4) / 4.0  # shot noise, larger where brighter
    img = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8), "RGB")
    img = img.filter(ImageFilter.UnsharpMask(radius=2, percent=int(rng.integers(50, 150)), threshold=2))
    buffer = io.BytesIO()
    if rng.random() < 0.7:
        img.save(buffer, format="WEBP", quality=int(rng.integers(55, 90)))
        return buffer.getvalue(), ".webp"
    img.save(buffer, format="PNG")
    return buffer.getvalue(), ".png"


def write_studio_photos(items: np.ndarray, directory: Path, seed: int) -> list[Path]:
    """One studio photo per 28x28 item in ``directory``, named by index; the same seed gives the same photos."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, item in enumerate(items):
        data, suffix = studio_photo(item, rng)
        path = directory / f"studio{i:05d}{suffix}"
        path.write_bytes(data)
        paths.append(path)
    return paths
