"""The screen stage's detector on real pictures no fit saw, through the CLI's own input path.

Sets: Fashion-MNIST test items (in distribution, as a .npy), scikit-learn's handwritten digits (8x8 PNGs, which the
CLI fits into 28x28), letters and digits printed in the DejaVu fonts that ship with matplotlib (dark on white PNGs,
which the CLI inverts), and photographs from scikit-image and matplotlib (whole and cut into 2x2 and 3x3 crops).
Every file is written to a temporary folder and read back by ``luckybag.serve.inputs.read_inputs``, as
``luckybag predict`` does. Per set: the share flagged at the detector's threshold, and the AUROC of its score and
of the model's top probability (in distribution: the test items). Writes benchmarks/results/ood_real.json.

The detector's parts and their combination were chosen looking at one half of each set only (``looked_at``:
even-numbered digits; the proportional fonts; every other photograph, by sorted name, with its crops); the other
half (``held_out``) was not looked at while choosing. Both halves and the whole are reported. A fifth set,
photographs added later (scikit-learn's two sample photographs; scikit-image's cell, retina and microaneurysms),
was added after the choice: all of it is held out. A sixth, the 15 photographs by photographers in Debian's
lomiri-wallpapers-16.04 (``apt-get install lomiri-wallpapers-16.04``), was added last.

    python benchmarks/ood_real.py       # after `dvc repro` (models/, data/prepared/test.npz)
"""

import tempfile
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from provenance import provenance

from luckybag.contract import MODELS_DIR
from luckybag.io import write_json
from luckybag.pipeline.data import load_split
from luckybag.serve import runtime, screening
from luckybag.serve.inputs import read_inputs

OUT = Path("benchmarks/results/ood_real.json")
MODEL = MODELS_DIR / "model.onnx"
CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
FONTS = [f"DejaVu{name}.ttf" for name in ("Sans", "Sans-Bold", "Sans-Oblique", "Serif", "Serif-Bold")]
FONTS += ["DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"]
PHOTOS = ["astronaut", "camera", "coffee", "chelsea", "horse", "rocket", "coins", "page", "text", "moon", "clock"]
PHOTOS += ["immunohistochemistry", "hubble_deep_field", "brick", "grass", "gravel"]
# Added after the detector was chosen and never looked at before the run that wrote the results with them.
LATER_PHOTOS = ["cell", "retina", "microaneurysms"]
# Photographs by photographers, in Debian's lomiri-wallpapers-16.04 (apt-get install lomiri-wallpapers-16.04):
# added last, and scored once, by the run that wrote the results with them.
WALLPAPERS = Path("/usr/share/backgrounds")


def digits(folder: Path) -> list[Path]:
    from sklearn.datasets import load_digits

    images = np.rint(load_digits().images * (255 / 16)).astype(np.uint8)
    return [save(Image.fromarray(image), folder / f"digit{i}.png") for i, image in enumerate(images)]


def printed(folder: Path) -> list[Path]:
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = []
    for font_name in FONTS:
        font = ImageFont.truetype(str(fonts / font_name), 64)
        for i, char in enumerate(CHARACTERS):
            canvas = Image.new("L", (96, 96), 255)
            ImageDraw.Draw(canvas).text((48, 48), char, fill=0, font=font, anchor="mm")
            paths.append(save(canvas, folder / f"{Path(font_name).stem}-{i}.png"))
    return paths


def photo_sources() -> dict[str, np.ndarray]:
    import skimage.data

    sources = {name: np.asarray(getattr(skimage.data, name)()) for name in PHOTOS}
    sources["horse"] = (~sources["horse"]).astype(np.uint8) * 255  # a silhouette stored as booleans
    sample = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    sources["grace_hopper"] = np.asarray(Image.open(sample))
    return sources


def later_photo_sources() -> dict[str, np.ndarray]:
    """scikit-learn's two sample photographs and three of scikit-image's not in PHOTOS."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    samples = load_sample_images()
    sources = {Path(name).stem: image for name, image in zip(samples.filenames, samples.images, strict=True)}
    return sources | {name: np.asarray(getattr(skimage.data, name)()) for name in LATER_PHOTOS}


def crops(folder: Path, sources: dict[str, np.ndarray]) -> list[Path]:
    """Each photograph whole, as 2x2 crops and as 3x3 crops."""
    paths = []
    for name, array in sources.items():
        h, w = array.shape[:2]
        for n in (1, 2, 3):
            for r in range(n):
                for c in range(n):
                    crop = array[r * h // n : (r + 1) * h // n, c * w // n : (c + 1) * w // n]
                    paths.append(save(Image.fromarray(crop), folder / f"{name}-{n}-{r}{c}.png"))
    return paths


def wallpaper_sources() -> dict[str, np.ndarray]:
    """The package's JPEG photographs (``NAME_by_AUTHOR.jpg``; not its two PNG graphics)."""
    files = sorted(WALLPAPERS.glob("*_by_*.jpg"))
    if not files:
        raise SystemExit(f"error: no photographs in {WALLPAPERS}: apt-get install lomiri-wallpapers-16.04")
    return {path.stem: np.asarray(Image.open(path).convert("RGB")) for path in files}


def photos(folder: Path) -> list[Path]:
    return crops(folder, photo_sources())


def later_photos(folder: Path) -> list[Path]:
    return crops(folder, later_photo_sources())


def wallpapers(folder: Path) -> list[Path]:
    return crops(folder, wallpaper_sources())


def looked_at(name: str, stems: list[str]) -> np.ndarray:
    """Which pictures of a set the detector's design was chosen on (see the module's docstring)."""
    if name == "handwritten digits":
        return np.arange(len(stems)) % 2 == 0
    if name == "printed characters":
        return np.array(["Mono" not in stem for stem in stems])
    sources = [stem.rsplit("-", 2)[0] for stem in stems]
    chosen_on = set(sorted(set(sources))[::2])
    return np.array([source in chosen_on for source in sources])


def save(image: Image.Image, path: Path) -> Path:
    image.save(path)
    return path


def scores(detector: screening.Detector, predict: runtime.Predict, paths: list[Path]) -> dict[str, np.ndarray]:
    inputs = read_inputs(paths)
    assert not inputs.problems, inputs.problems
    batch = inputs.batch()
    return {"score": detector.score(batch), "confidence": runtime.predict_probabilities(predict, batch).max(axis=1)}


def summary(found: dict[str, np.ndarray], fashion: dict[str, np.ndarray], threshold: float) -> dict:
    from sklearn.metrics import roc_auc_score

    def auroc(key: str, sign: float) -> float:
        y = np.r_[np.zeros(len(fashion[key])), np.ones(len(found[key]))]
        return round(float(roc_auc_score(y, sign * np.r_[fashion[key], found[key]])), 4)

    flagged = float(np.mean(found["score"] > threshold))
    return {"count": len(found["score"]), "flagged": round(flagged, 4), "auroc_score": auroc("score", 1.0)} | {
        "auroc_top_probability": auroc("confidence", -1.0)
    }


def main() -> None:
    detector, notice = screening.find(MODEL)
    assert detector is not None, notice
    predict = runtime.load_onnx(MODEL)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "test.npy", load_split(Path("data/prepared/test.npz")).images)
        fashion = scores(detector, predict, [folder / "test.npy"])
        sets = {"handwritten digits": digits, "printed characters": printed, "photographs": photos}
        sets["photographs added later"] = later_photos
        sets["wallpaper photographs"] = wallpapers
        in_distribution = float(np.mean(fashion["score"] > detector.threshold))
        results = {"Fashion-MNIST test": {"count": len(fashion["score"]), "flagged": round(in_distribution, 4)}}
        for name, make in sets.items():
            (folder / name).mkdir()
            paths = make(folder / name)
            found = scores(detector, predict, paths)
            results[name] = summary(found, fashion, detector.threshold)
            if make not in (later_photos, wallpapers):  # all of those sets are held out
                half = looked_at(name, [path.stem for path in paths])
                results[name] |= {
                    part: summary({key: values[mask] for key, values in found.items()}, fashion, detector.threshold)
                    for part, mask in (("looked_at", half), ("held_out", ~half))
                }
    write_json(
        OUT,
        {
            "command": "python benchmarks/ood_real.py",
            **provenance(),
            "model": str(MODEL),
            "model_md5": screening.md5(MODEL),
            "detector": {"threshold": detector.threshold, "md5": screening.md5(detector.path / screening.ARRAYS)},
            "in_distribution": "Fashion-MNIST test split (10,000 items), never fitted on",
            "halves": "looked_at: the half the detector's design was chosen on; held_out: not looked at while choosing it",
            "sets": results,
        },
    )
    for name, row in results.items():
        print(f"{name:<20} {row}")


if __name__ == "__main__":
    main()
