"""``luckybag predict`` and ``luckybag bag``: the shop's lucky-bag CLI on the exported model.

Inputs are photos (PNG/JPEG, any size or colour mode), ``.npy`` arrays of raw pixels
((28, 28) or (N, 28, 28), values 0-255) or IDX image files (raw or ``.gz``). Photos are
brought to what the training data looks like: grayscale, a light item on a black
background, trimmed to the item and fitted into 28x28 keeping the aspect ratio.

Every input is read and checked before Keras is imported, so ``--help`` and bad input are
instant; a bad input is reported on one line and the others are still predicted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import struct
import sys
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from luckybag.errors import LuckybagError

if TYPE_CHECKING:
    from PIL import Image as PILImage

SIDE = 28
NUM_CLASSES = 10
DEFAULT_MODEL = Path("models/model.keras")
LABELS_NAME = "labels.json"
WORK_SIDE = 8 * SIDE  # photos are shrunk to this before trimming (speed; plenty of detail for 28x28)
BRIGHT = 128  # a pixel at least this bright counts as "bright" in the inversion check
BACKGROUND_SPREAD = 32  # a border whose 10th-90th percentile spread is below this is a plain backdrop
ITEM_THRESHOLD = 16  # after the backdrop is set to black, pixels brighter than this belong to the item
EXPECTED_INPUT = "a PNG/JPEG image, a .npy array of 0-255 pixels ((28, 28) or (N, 28, 28)) or an IDX image file"
IDX_MAGICS = (b"\x00\x00\x08\x03", b"\x00\x00\x08\x01")  # images, labels
PREDICT_BATCH = 1024


class InputError(LuckybagError):
    """One input file cannot be used; the message names the file and what was expected."""

    exit_code = 2


class ModelError(LuckybagError):
    """The model or its labels are not an export of this pipeline."""

    exit_code = 2


# --- reading inputs ---------------------------------------------------------------


@dataclass
class Inputs:
    """The usable images of all inputs, their display names, and what went wrong."""

    names: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)  # each (n, 28, 28) float32, 0-255
    problems: list[str] = field(default_factory=list)  # one line per bad input
    warnings: list[str] = field(default_factory=list)  # one line each

    def batch(self) -> np.ndarray:
        if not self.images:
            return np.zeros((0, SIDE, SIDE), dtype=np.float32)
        return np.concatenate(self.images).astype(np.float32, copy=False)


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    if "Exception encountered:" in text:  # Keras wraps the cause in a page of config
        text = text.rsplit("Exception encountered:", 1)[1].strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _check_file(path: Path) -> None:
    """The cheap checks every input passes first: exists, a regular file, not empty."""
    try:
        if not path.exists():
            raise InputError(f"{path}: no such file; expected {EXPECTED_INPUT}")
        if path.is_dir():
            raise InputError(f"{path}: is a directory; expected {EXPECTED_INPUT}")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file (0 bytes); expected {EXPECTED_INPUT}")
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({_one_line(err)})") from None


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
        raise InputError(f"{path}: not a readable .npy file ({_one_line(err)}); expected {EXPECTED_INPUT}") from None
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable .npy file ({_one_line(err)}); expected {EXPECTED_INPUT}") from None
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


def _open_image(path: Path) -> "PILImage.Image":
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
                f"{path}: corrupt or truncated image ({_one_line(err)}); expected {EXPECTED_INPUT}"
            ) from None


def _gray_and_alpha(img: "PILImage.Image") -> tuple["PILImage.Image", bool]:
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


def _border(image: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring (about 3 % of the shorter side, at least 1 pixel)."""
    h, w = image.shape
    width = max(1, round(0.03 * min(h, w)))
    if 2 * width >= min(h, w):
        return image.ravel()
    ring = np.ones((h, w), dtype=bool)
    ring[width:-width, width:-width] = False
    return image[ring]


def mostly_bright(border: np.ndarray) -> bool:
    """More than half of the border pixels are bright: a light background, not the training's black."""
    return border.size > 0 and float(np.mean(border >= BRIGHT)) > 0.5


def invert_hint(name: str, invert: bool, seen: str | None = None) -> str:
    """The one-line warning for an image that looks inverted; ``seen`` says what was noticed."""
    if seen is None:
        seen = "after --invert the background is mostly bright" if invert else (
            "the background is mostly bright (a dark item on a light background?)"
        )
    advice = "try without --invert" if invert else "try --invert"
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
    border = _border(gray)
    low, level, high = np.percentile(border, [10, 50, 90])
    if high - low <= BACKGROUND_SPREAD and level < BRIGHT:
        gray = np.clip((gray - level) * (255.0 / (255.0 - level)), 0, 255)
        rows = np.flatnonzero((gray > ITEM_THRESHOLD).any(axis=1))
        cols = np.flatnonzero((gray > ITEM_THRESHOLD).any(axis=0))
        if rows.size and cols.size:
            gray = gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return fit_to_square(gray)


def prepare_image(img: "PILImage.Image", invert: bool = False, name: str = "image") -> tuple[np.ndarray, str | None]:
    """A decoded image -> ((28, 28) float32 pixels 0-255, a one-line warning or None).

    Transparent areas become background: black, or white before ``invert`` turns it black."""
    from PIL import Image

    img, has_alpha = _gray_and_alpha(img)
    img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    values = np.asarray(img, dtype=np.float32)
    background = 255.0 if invert else 0.0
    hint = None
    if has_alpha:
        gray, alpha = values[..., 0], values[..., 1] / 255.0
        item = alpha >= 0.5
        if 0.05 <= 1 - item.mean() and item.any():  # a cut-out: judge the item, not the border
            item_mean = float(gray[item].mean())
            if invert and item_mean >= BRIGHT:
                hint = invert_hint(name, invert, "a light item on a transparent background")
            elif not invert and item_mean < 255 - BRIGHT:
                hint = invert_hint(name, invert, "a dark item on a transparent background")
        gray = gray * alpha + background * (1.0 - alpha)
    else:
        gray = values
    if invert:
        gray = 255.0 - gray
    if hint is None and mostly_bright(_border(gray)):
        hint = invert_hint(name, invert)
    return to_training_look(gray), hint


def read_image(path: Path, invert: bool = False) -> tuple[np.ndarray, str | None]:
    """A photo file -> ((1, 28, 28) float32 pixels, a one-line warning or None)."""
    image, hint = prepare_image(_open_image(path), invert=invert, name=str(path))
    return image[np.newaxis], hint


_ARRAY_BORDER = np.ones((SIDE, SIDE), dtype=bool)
_ARRAY_BORDER[2:-2, 2:-2] = False  # the outer 2-pixel ring of a 28x28 image


def array_hints(images: np.ndarray, path: Path, invert: bool) -> list[str]:
    """One warning per file when at least 10 % of its images (inverted if asked) look inverted."""
    bright = int(np.sum([mostly_bright(image[_ARRAY_BORDER]) for image in images]))
    if not bright or bright < 0.1 * len(images):  # a few items that fill the frame are normal
        return []
    seen = f"{bright} of {len(images)} images have a mostly bright border" + (" after --invert" if invert else "")
    return [invert_hint(str(path), invert, seen)]


def read_input(path: Path, invert: bool = False) -> tuple[list[str], np.ndarray, list[str]]:
    """One input file -> (display names, (n, 28, 28) float32 pixels, warnings). Raises InputError."""
    _check_file(path)
    suffix = path.suffix.lower()
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({_one_line(err)})") from None
    if suffix == ".npy" or suffix == ".gz" or head[:4] in IDX_MAGICS:
        array = read_npy(path) if suffix == ".npy" else read_idx_images(path)
        images = check_pixels(array, path)
        hints = []
        if 0 < images.max() <= 1.0:
            hints.append(f"{path}: all values are within 0-1; the model expects raw pixels 0-255 (multiply by 255?)")
        if invert:
            images = 255.0 - images
        hints += array_hints(images, path, invert)
        if array.ndim == 2:
            return [str(path)], images, hints
        return [f"{path}[{i}]" for i in range(len(images))], images, hints
    image, hint = read_image(path, invert)
    return [str(path)], image, [hint] if hint else []


def read_inputs(paths: Sequence[Path], invert: bool = False) -> Inputs:
    """Read every input; the bad ones become one-line problems, the good ones are kept."""
    inputs = Inputs()
    for path in paths:
        try:
            names, images, hints = read_input(Path(path), invert)
        except InputError as err:
            inputs.problems.append(str(err))
            continue
        inputs.names.extend(names)
        inputs.images.append(images)
        inputs.warnings.extend(hints)
    return inputs


# --- the model ----------------------------------------------------------------------


def default_labels(model_path: Path) -> Path:
    return Path(model_path).with_name(LABELS_NAME)


def read_labels(path: Path) -> list[str]:
    """``labels.json``: {"0": name, ..., "9": name} -> the 10 names in class order."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"{path}: labels file not found; expected the export's labels.json beside the model (or --labels PATH)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: not a JSON labels file ({_one_line(err)})") from None
    expected_keys = {str(i) for i in range(NUM_CLASSES)}
    if (
        not isinstance(data, dict)
        or set(data) != expected_keys
        or not all(isinstance(v, str) and v.strip() for v in data.values())
    ):
        raise ModelError(f'{path}: expected a JSON object mapping "0".."9" to 10 class names')
    names = [data[str(i)].strip() for i in range(NUM_CLASSES)]
    if len(set(names)) != NUM_CLASSES:
        raise ModelError(f"{path}: class names repeat; expected 10 distinct names")
    return names


def check_model_file(path: Path) -> None:
    """Cheap checks before Keras is imported: a ``.keras`` zip holding a config and weights."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: model file not found; expected the export's model.keras (or --model PATH)")
    if not path.is_file():
        raise ModelError(f"{path}: not a file; expected a .keras model file")
    if path.suffix != ".keras":
        raise ModelError(f"{path}: not a .keras file; expected a Keras 3 .keras model file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ModelError(f"{path}: not a .keras model (not a valid zip archive: {_one_line(err)})") from None
    missing = {"config.json", "model.weights.h5"} - names
    if missing:
        raise ModelError(f"{path}: not a .keras model (the archive has no {', '.join(sorted(missing))})")


def _import_keras() -> Any:
    """Import Keras on the JAX backend (unless KERAS_BACKEND says otherwise), lazily.

    Importing Keras and its backend creates about a million long-lived objects; with the
    garbage collector paused meanwhile and those objects frozen afterwards, neither the
    import nor the interpreter's exit scans them over and over (measured: 1.4 s of 5 s)."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("KERAS_BACKEND", "jax")  # before the first import of Keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        import keras
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
    return keras


def _shape(value: Any) -> Any:
    if isinstance(value, (tuple, list)) and all(v is None or isinstance(v, int) for v in value):
        return tuple(value)
    return value


def check_contract(model: Any, path: Path) -> None:
    """Ours takes (None, 28, 28) raw pixels and gives (None, 10) probabilities."""
    try:
        input_shape, output_shape = _shape(model.input_shape), _shape(model.output_shape)
    except (AttributeError, ValueError) as err:
        raise ModelError(f"{path}: model has no single input and output ({_one_line(err)})") from None
    if input_shape != (None, SIDE, SIDE):
        raise ModelError(f"{path}: model input shape {input_shape}; expected (None, 28, 28) raw pixels")
    if output_shape != (None, NUM_CLASSES):
        raise ModelError(f"{path}: model output shape {output_shape}; expected (None, 10) class probabilities")


def load_model(path: Path) -> Any:
    """Load an exported model in Keras' safe mode and check it is one of ours."""
    path = Path(path)
    check_model_file(path)
    keras = _import_keras()
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # noqa: BLE001 - any failure of a third-party loader means "not ours"
        raise ModelError(f"{path}: cannot load it as a Keras model ({_one_line(err)})") from None
    check_contract(model, path)
    return model


def predict_probabilities(model: Any, images: np.ndarray, path: Path | str = "model") -> np.ndarray:
    """(N, 28, 28) pixels -> (N, 10) float64 probabilities; refuse outputs that are not probabilities."""
    if len(images) == 0:
        return np.zeros((0, NUM_CLASSES))
    probs = np.asarray(model.predict(images.astype(np.float32), batch_size=PREDICT_BATCH, verbose=0), dtype=np.float64)
    sums = probs.sum(axis=1)
    if not np.all(np.isfinite(probs)) or probs.min() < -1e-6 or probs.max() > 1 + 1e-6 or np.abs(sums - 1).max() > 1e-3:
        raise ModelError(
            f"{path}: model outputs are not probabilities (row sums {sums.min():.3g}-{sums.max():.3g}); "
            "expected a softmax output"
        )
    return probs


# --- results ------------------------------------------------------------------------


def top_k(probs: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` most probable classes of one image, most probable first (ties: lower index)."""
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(int(i), float(probs[i])) for i in order]


def bag_summary(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each class: the expected number of items (sum of p_i) and P(at least one) = 1 - prod(1 - p_i).

    Treats the items as independent, each with its own class distribution."""
    probs = np.clip(np.asarray(probs, dtype=np.float64).reshape(-1, NUM_CLASSES), 0.0, 1.0)
    expected = probs.sum(axis=0)
    at_least_one = 1.0 - np.prod(1.0 - probs, axis=0)
    return expected, at_least_one


def percent(p: float) -> str:
    if 0 < p < 0.0005:
        return "<0.1%"
    if 0.9995 <= p < 1:
        return ">99.9%"
    return f"{100 * p:.1f}%"


def prediction_records(names: Sequence[str], probs: np.ndarray, labels: Sequence[str], k: int) -> list[dict[str, Any]]:
    return [
        {
            "input": name,
            "top": [{"class": labels[i], "probability": p} for i, p in top_k(row, k)],
            "probabilities": {label: float(p) for label, p in zip(labels, row)},
        }
        for name, row in zip(names, probs)
    ]


def prediction_table(records: Sequence[dict[str, Any]], labels: Sequence[str]) -> str:
    k = max((len(r["top"]) for r in records), default=0)
    name_w = max([len("input")] + [len(r["input"]) for r in records])
    label_w = max(len(label) for label in labels)
    cell_w = label_w + 8
    header = f"{'input':<{name_w}}" + "".join(f"  {'top ' + str(i + 1):<{cell_w}}" for i in range(k))
    lines = [header.rstrip()]
    for record in records:
        cells = "".join(f"  {t['class']:<{label_w}} {percent(t['probability']):>6} " for t in record["top"])
        lines.append((f"{record['input']:<{name_w}}" + cells).rstrip())
    return "\n".join(lines)


def bag_records(probs: np.ndarray, labels: Sequence[str]) -> list[dict[str, Any]]:
    """One record per class, most expected first (ties: class order)."""
    expected, at_least_one = bag_summary(probs)
    order = np.argsort(-expected, kind="stable")
    return [{"class": labels[i], "expected": float(expected[i]), "at_least_one": float(at_least_one[i])} for i in order]


def bag_table(records: Sequence[dict[str, Any]], items: int) -> str:
    label_w = max([len("class")] + [len(r["class"]) for r in records])
    lines = [
        f"lucky bag of {items} item{'s' if items != 1 else ''} (items independent)",
        f"{'class':<{label_w}}  {'expected':>8}  {'P(at least one)':>15}",
    ]
    for r in records:
        lines.append(f"{r['class']:<{label_w}}  {r['expected']:>8.2f}  {percent(r['at_least_one']):>15}")
    return "\n".join(lines)


# --- commands -------------------------------------------------------------------------


def _emit(text: str) -> None:
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `luckybag predict ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _predict_inputs(args: argparse.Namespace) -> tuple[Inputs, np.ndarray | None, list[str]]:
    """Check model and labels cheaply, read the inputs (reporting bad ones), then load and predict."""
    model_path = Path(args.model)
    check_model_file(model_path)
    labels = read_labels(Path(args.labels) if args.labels else default_labels(model_path))
    inputs = read_inputs([Path(p) for p in args.images], invert=args.invert)
    for problem in inputs.problems:
        print(f"error: {problem}", file=sys.stderr)
    for hint in inputs.warnings:
        print(f"warning: {hint}", file=sys.stderr)
    if not inputs.names:
        return inputs, None, labels
    model = load_model(model_path)
    return inputs, predict_probabilities(model, inputs.batch(), model_path), labels


def run_predict(args: argparse.Namespace) -> int:
    inputs, probs, labels = _predict_inputs(args)
    if probs is not None:
        records = prediction_records(inputs.names, probs, labels, args.top_k)
        _emit(json.dumps(records, indent=2) if args.json else prediction_table(records, labels))
    return 2 if inputs.problems else 0


def run_bag(args: argparse.Namespace) -> int:
    inputs, probs, labels = _predict_inputs(args)
    if probs is not None:
        records = bag_records(probs, labels)
        if args.json:
            _emit(json.dumps({"items": len(probs), "inputs": inputs.names, "classes": records}, indent=2))
        else:
            _emit(bag_table(records, len(probs)))
    return 2 if inputs.problems else 0


def _top_k_arg(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= k <= NUM_CLASSES:
        raise argparse.ArgumentTypeError(f"{k} is outside 1-{NUM_CLASSES}")
    return k


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE",
        help="PNG/JPEG photo, .npy array (28x28 or Nx28x28, values 0-255) or IDX image file (raw or .gz)",
    )
    parser.add_argument("--invert", action="store_true", help="the photos show dark items on a light background")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="exported .keras model (default: %(default)s)")
    parser.add_argument("--labels", default=None, help="class names JSON (default: labels.json beside the model)")


def add_commands(subparsers: Any) -> None:
    """Register ``predict`` and ``bag`` on the ``luckybag`` command's subparsers."""
    predict = subparsers.add_parser(
        "predict",
        help="classify photos or pixel arrays with the exported model",
        description="Classify each item: the top classes and their probabilities. "
        "Photos should show a light item on a dark background (else --invert).",
    )
    _add_common(predict)
    predict.add_argument("--top-k", type=_top_k_arg, default=3, metavar="K", help="classes shown per item (default: 3)")
    predict.set_defaults(func=run_predict)
    bag = subparsers.add_parser(
        "bag",
        help="expected contents of a lucky bag holding these items",
        description="For each class: the expected number of items and the probability of at least one.",
    )
    _add_common(bag)
    bag.set_defaults(func=run_bag)
