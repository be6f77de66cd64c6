"""Photos of every kind made to look like the training data, and their backdrop told (``luckybag predict``)."""

import json

import numpy as np
import pytest
from PIL import Image

from luckybag import CLASS_NAMES
from tests.serve.lucky_bag.conftest import bar, photo, run_cli

FLAGS_FOR_LIGHT = [[], ["--background", "light"], ["--invert"]]


def test_predict_table_for_photos_of_every_kind(capsys, model_path, images):
    status, out, err = run_cli(capsys, "predict", *(p for p, _ in images.values()), "--model", model_path)
    assert status == 0 and err == []
    lines = out.splitlines()
    assert lines[0].split() == ["input", "backdrop", "top", "1", "top", "2", "top", "3"]
    assert len(lines) == 1 + len(images)
    for line, (path, c) in zip(lines[1:], images.values(), strict=True):
        assert line.startswith(str(path))
        assert line[len(str(path)) :].split()[:2] == ["dark", CLASS_NAMES[c].split()[0]]
        assert "%" in line


def test_predict_json_probabilities_and_top_k(capsys, model_path, images):
    paths = [p for p, _ in images.values()]
    status, out, err = run_cli(capsys, "predict", *paths, "--json", "--top-k", "4", "--model", model_path)
    assert status == 0 and err == []
    records = json.loads(out)
    assert [r["input"] for r in records] == [str(p) for p in paths]
    for record, (_, c) in zip(records, images.values(), strict=True):
        probs = record["probabilities"]
        assert list(probs) == list(CLASS_NAMES)
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        top = record["top"]
        assert len(top) == 4
        assert [t["probability"] for t in top] == sorted(probs.values(), reverse=True)[:4]
        assert all(probs[t["class"]] == t["probability"] for t in top)
        assert top[0]["class"] == CLASS_NAMES[c]


def test_photo_matches_the_array_it_shows(capsys, model_path, tmp_path):
    """A big photo of an item, trimmed and fitted, predicts like the 28x28 array itself."""
    np.save(tmp_path / "item.npy", bar(4))
    photo(4, size=(900, 500)).save(tmp_path / "item.png")
    status, out, _ = run_cli(
        capsys, "predict", tmp_path / "item.npy", tmp_path / "item.png", "--json", "--model", model_path
    )
    assert status == 0
    a, b = (np.array(list(r["probabilities"].values())) for r in json.loads(out))
    assert np.abs(a - b).max() < 0.05


@pytest.mark.parametrize("flags", FLAGS_FOR_LIGHT, ids=["auto", "light", "invert"])
def test_dark_item_on_light_photo_is_inverted(capsys, model_path, tmp_path, flags):
    """--background auto (the default) sees the light backdrop and inverts, without a warning."""
    path = tmp_path / "dark.jpg"
    photo(8, dark_on_light=True).convert("RGB").save(path, quality=90)
    status, out, err = run_cli(capsys, "predict", path, "--json", *flags, "--model", model_path)
    assert status == 0 and err == []
    record = json.loads(out)[0]
    assert record["top"][0]["class"] == CLASS_NAMES[8]
    assert record["background"] == "light" and record["inverted"] is True


def test_dark_item_on_light_photo_taken_as_dark_gets_a_hint(capsys, model_path, tmp_path):
    path = tmp_path / "dark.jpg"
    photo(8, dark_on_light=True).convert("RGB").save(path, quality=90)
    status, out, err = run_cli(capsys, "predict", path, "--background", "dark", "--model", model_path)
    assert status == 0
    assert len(err) == 1 and err[0].startswith(f"warning: {path}:") and "--invert" in err[0]
    assert out.splitlines()[1].split()[1] == "dark"


def test_light_item_on_dark_photo_is_left_alone_by_default(capsys, model_path, tmp_path):
    path = tmp_path / "light.jpg"
    photo(3).convert("RGB").save(path, quality=90)
    status, out, err = run_cli(capsys, "predict", path, "--json", "--model", model_path)
    assert status == 0 and err == []
    record = json.loads(out)[0]
    assert (record["background"], record["inverted"], record["top"][0]["class"]) == ("dark", False, CLASS_NAMES[3])
    status, out, err = run_cli(capsys, "predict", path, "--invert", "--model", model_path)
    assert len(err) == 1 and "after --invert the background is mostly bright" in err[0]


def test_dark_cutout_on_transparent_background(capsys, model_path, tmp_path):
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(bar(2) > 0, 255, 0)  # a black item, transparent around it
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").resize((200, 200)).save(path)
    status, out, err = run_cli(capsys, "predict", path, "--json", "--model", model_path)
    assert status == 0 and err == []
    assert json.loads(out)[0]["top"][0]["class"] == CLASS_NAMES[2]
    _, _, err = run_cli(capsys, "predict", path, "--background", "dark", "--model", model_path)
    assert len(err) == 1 and "transparent" in err[0] and "--invert" in err[0]
