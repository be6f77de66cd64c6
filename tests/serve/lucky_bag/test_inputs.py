"""Pixel arrays (.npy, IDX) as inputs, and bad inputs: each named on one line while the good ones are predicted."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from luckybag import CLASS_NAMES
from luckybag.serve import runtime
from tests.conftest import idx_bytes, make_images, write_idx_gz
from tests.serve.lucky_bag.conftest import bar, run_cli


def test_dark_arrays_are_inverted_as_a_file(capsys, model_path, tmp_path):
    """auto inverts a file of 28x28 arrays when most of them have a bright ring; one decision per file."""
    np.save(tmp_path / "light.npy", 255 - np.stack([bar(c) for c in range(10)]))
    status, out, err = run_cli(capsys, "predict", tmp_path / "light.npy", "--json", "--model", model_path)
    assert status == 0 and err == []
    records = json.loads(out)
    assert [r["top"][0]["class"] for r in records] == list(CLASS_NAMES)
    assert {r["background"] for r in records} == {"light"}


def test_npy_and_idx_batches(capsys, model_path, tmp_path):
    batch = np.stack([bar(c) for c in range(10)])
    np.save(tmp_path / "batch.npy", batch.astype(np.float64))
    np.save(tmp_path / "one.npy", bar(9))
    write_idx_gz(tmp_path / "items-idx3-ubyte.gz", batch[:3])
    (tmp_path / "items-idx3-ubyte").write_bytes(idx_bytes(batch[3:5]))
    inputs = ["batch.npy", "one.npy", "items-idx3-ubyte.gz", "items-idx3-ubyte"]
    status, out, err = run_cli(capsys, "predict", *(tmp_path / i for i in inputs), "--json", "--model", model_path)
    assert status == 0 and err == []
    expected = (
        [(f"{tmp_path / 'batch.npy'}[{c}]", c) for c in range(10)]
        + [(str(tmp_path / "one.npy"), 9)]
        + [(f"{tmp_path / 'items-idx3-ubyte.gz'}[{i}]", i) for i in range(3)]
        + [(f"{tmp_path / 'items-idx3-ubyte'}[{i}]", 3 + i) for i in range(2)]
    )
    assert [(r["input"], r["top"][0]["class"]) for r in json.loads(out)] == [(n, CLASS_NAMES[c]) for n, c in expected]


def test_noisy_training_like_images_need_no_warning(capsys, model_path, tmp_path):
    images = make_images(np.arange(10), np.random.default_rng(0))
    np.save(tmp_path / "noisy.npy", images)
    Image.fromarray(images[0]).save(tmp_path / "noisy.png")
    status, out, err = run_cli(capsys, "predict", tmp_path / "noisy.npy", tmp_path / "noisy.png", "--model", model_path)
    assert status == 0 and err == []
    assert len(out.splitlines()) == 1 + 11


def test_scaled_arrays_get_a_hint(capsys, model_path, tmp_path):
    np.save(tmp_path / "scaled.npy", bar(1) / 255.0)
    status, _, err = run_cli(capsys, "predict", tmp_path / "scaled.npy", "--model", model_path)
    assert status == 0
    assert len(err) == 1 and "0-255" in err[0]


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, a phrase the one-line error must hold)."""
    good_png = tmp_path / "good.png"
    Image.fromarray(bar(0)).resize((100, 100)).save(good_png)
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "truncated.png").write_bytes(good_png.read_bytes()[:60])
    (tmp_path / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    (tmp_path / "notes.png").write_text("this is a text file, not a picture\n")
    np.save(tmp_path / "shape.npy", np.zeros((28, 27)))
    np.save(tmp_path / "channels.npy", np.zeros((2, 28, 28, 3)))
    np.save(tmp_path / "nan.npy", np.where(bar(1) > 0, np.nan, 0.0))
    np.save(tmp_path / "range.npy", bar(1).astype(np.float32) * 2)
    np.save(tmp_path / "negative.npy", bar(1).astype(np.int16) - 1)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    np.save(tmp_path / "none.npy", np.zeros((0, 28, 28)))
    (tmp_path / "text.npy").write_text("1 2 3\n")
    write_idx_gz(tmp_path / "labels-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))
    (tmp_path / "corrupt-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    return {
        "missing": (tmp_path / "missing.png", "no such file"),
        "directory": (tmp_path / "folder", "directory"),
        "empty": (tmp_path / "empty.png", "empty file"),
        "truncated": (tmp_path / "truncated.png", "truncated"),
        "garbage": (tmp_path / "garbage.jpg", "expected"),
        "text renamed .png": (tmp_path / "notes.png", "not an image"),
        "wrong shape": (tmp_path / "shape.npy", "(28, 27)"),
        "channels": (tmp_path / "channels.npy", "(2, 28, 28, 3)"),
        "NaN": (tmp_path / "nan.npy", "NaN"),
        "above 255": (tmp_path / "range.npy", "0-255"),
        "negative": (tmp_path / "negative.npy", "0-255"),
        "pickled objects": (tmp_path / "objects.npy", "objects"),
        "no images": (tmp_path / "none.npy", "no images"),
        "text renamed .npy": (tmp_path / "text.npy", "not a readable .npy"),
        "IDX labels": (tmp_path / "labels-idx1-ubyte.gz", "expected an IDX image file"),
        "corrupt IDX": (tmp_path / "corrupt-idx3-ubyte.gz", "corrupt"),
    }


BAD_KINDS = [  # the names above, in order
    "missing", "directory", "empty", "truncated", "garbage", "text renamed .png", "wrong shape", "channels", "NaN",
    "above 255", "negative", "pickled objects", "no images", "text renamed .npy", "IDX labels", "corrupt IDX",
]  # fmt: skip


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_input_is_one_line_and_the_good_ones_are_still_predicted(capsys, model_path, tmp_path, kind):
    bad, phrase = _bad_inputs(tmp_path)[kind]
    good = tmp_path / "good.png"
    status, out, err = run_cli(capsys, "predict", good, bad, good, "--model", model_path)
    assert status == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"error: {bad}: ") and phrase in err[0]
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(good), str(good)]


@pytest.mark.parametrize("command", ["predict", "bag"])
def test_all_bad_inputs_listed_model_never_loaded(capsys, model_path, tmp_path, monkeypatch, command):
    bad = _bad_inputs(tmp_path)
    assert list(bad) == BAD_KINDS
    for loader in ("load_onnx", "load_keras"):
        monkeypatch.setattr(runtime, loader, lambda path: pytest.fail("the model was loaded for no usable input"))
    status, out, err = run_cli(capsys, command, *(p for p, _ in bad.values()), "--model", model_path)
    assert status == 2 and out == ""
    assert len(err) == len(bad)
    assert all(line.startswith(f"error: {p}: ") for line, (p, _) in zip(err, bad.values(), strict=True))
