"""Screening with the committed thresholds, both directions, and --background auto, on real Fashion-MNIST items.

The items come from the data package's test split (looked at here, never fitted on; the
thresholds come from the validation split, benchmarks/screening_fit.py). The model's score is
held out of the image checks by giving every image a confident answer, except where the
confidence check itself is tested.
"""

import numpy as np
import pytest
from PIL import Image

from benchmarks.shop_photos_gen import NON_ITEM_KINDS, write_non_items, write_shop_photos
from luckybag.pipeline.data import DEBIAN_DIR, read_images
from luckybag.serve.inputs import read_inputs
from luckybag.serve.photos import border
from luckybag.serve.screening import read_thresholds, screen, statistics
from tests.conftest import unavailable

TEST_IMAGES = DEBIAN_DIR / "t10k-images-idx3-ubyte.gz"


@pytest.fixture(scope="module")
def items() -> np.ndarray:
    if not TEST_IMAGES.exists():
        unavailable(f"{TEST_IMAGES} missing: `make setup` installs Debian's dataset-fashion-mnist")
    return read_images(TEST_IMAGES)[:300]


def confident(n: int) -> np.ndarray:
    return np.eye(10)[np.zeros(n, dtype=int)]


def test_the_committed_thresholds_cover_every_statistic():
    thresholds = read_thresholds()
    assert set(thresholds) == set(statistics(np.zeros((1, 28, 28), np.uint8), confident(1)))
    assert all(set(bound) <= {"min", "max"} and bound for bound in thresholds.values())


@pytest.mark.slow  # reads the real test split
def test_items_pass(items):
    failed = screen(items, confident(len(items)))
    assert sum(bool(f) for f in failed) <= 0.02 * len(items)


@pytest.mark.slow  # generates and reads ~100 photos (tens of seconds)
def test_shop_photos_of_items_pass_and_are_inverted_when_on_light(items, tmp_path):
    paths = write_shop_photos(items[:60], tmp_path, seed=7)
    inputs = read_inputs(paths)
    assert inputs.problems == []
    failed = screen(inputs.batch(), confident(60))
    assert sum(bool(f) for f in failed) <= 2
    light = [np.median(border(np.asarray(Image.open(p).convert("L")))) > 128 for p in paths]  # as generated
    assert inputs.backgrounds == ["light" if bright else "dark" for bright in light]


@pytest.mark.slow  # generates and reads ~100 photos (tens of seconds)
def test_non_items_are_flagged(tmp_path):
    made = write_non_items(tmp_path, per_kind=8, seed=11)
    flagged = {}
    for kind, paths in made.items():
        images = read_inputs(paths).batch()
        flagged[kind] = sum(bool(f) for f in screen(images, confident(len(images))))
    assert set(flagged) == set(NON_ITEM_KINDS)
    assert flagged["blank"] == flagged["black"] == flagged["backdrop"] == 8
    # The image statistics alone; the model's confidence flags more of the noise (benchmarks/shop_photos.py).
    assert sum(flagged.values()) >= 0.8 * 8 * len(NON_ITEM_KINDS), flagged


@pytest.mark.slow  # reads the real test split
def test_a_spread_bet_is_flagged_a_confident_one_is_not(items):
    uniform = np.full((1, 10), 0.1)
    assert screen(items[:1], uniform) == [["confidence"]]
    assert screen(items[:1], confident(1)) == [[]]


@pytest.mark.slow  # reads the real test split
def test_auto_background_on_a_real_item(items, tmp_path):
    """A dark item on white is inverted, a light item on black is not; both then look the same to the model."""
    item = Image.fromarray(items[0]).resize((280, 280), Image.Resampling.BICUBIC)
    dark = Image.new("L", (400, 360), 0)
    dark.paste(item, (60, 40))
    light = Image.fromarray(255 - np.asarray(dark))
    dark.save(tmp_path / "dark.png")
    light.convert("RGB").save(tmp_path / "light.jpg", quality=92)
    inputs = read_inputs([tmp_path / "dark.png", tmp_path / "light.jpg"])
    assert inputs.backgrounds == ["dark", "light"] and inputs.warnings == []
    a, b = inputs.batch().astype(int)
    assert np.abs(a - b).mean() < 4
    assert np.abs(a - items[0]).mean() < 25
