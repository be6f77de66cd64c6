"""``luckybag predict`` / ``luckybag bag``: image loading, model checks, bag math, bad input.

The model is a tiny stand-in with the export's contract (raw 28x28 pixels in, 10
probabilities out) whose weights are set by hand: class ``c`` is a centred bar of
width 4 + 2c spanning the full height, so photos of such bars must come back as ``c``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from luckybag import CLASS_NAMES, cli, screening, served
from luckybag import predict as P
from tests.conftest import ROOT, idx_bytes, make_images, write_idx_gz


def bar(c: int, value: int = 200) -> np.ndarray:
    """The prototype of class ``c``: a light bar on black, as the training data looks."""
    image = np.zeros((28, 28), dtype=np.uint8)
    width = 4 + 2 * c
    left = (28 - width) // 2
    image[:, left : left + width] = value
    return image


def build_model(output_units: int = 10, input_side: int = 28, activation: str = "softmax"):
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(input_side, input_side)),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(output_units, activation=activation),
        ]
    )
    if output_units == 10 and input_side == 28:
        protos = np.stack([bar(c) for c in range(10)]).reshape(10, -1).astype(np.float32) / 255
        protos -= protos.mean(axis=1, keepdims=True)
        protos /= np.linalg.norm(protos, axis=1, keepdims=True)
        model.layers[-1].set_weights([8.0 * protos.T, np.zeros(10, dtype=np.float32)])
    return model


@pytest.fixture(autouse=True)
def no_screening(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in's bars fill their box, which no garment does: screen nothing but blank images here.

    (The committed thresholds are tested on real items and non-items in test_screening.py.)"""
    monkeypatch.setattr(screening, "read_thresholds", lambda path=None: {"ink": {"min": 0.01}})


def write_labels(path: Path, names=CLASS_NAMES) -> Path:
    path.write_text(json.dumps({str(i): name for i, name in enumerate(names)}))
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model")
    build_model().save(directory / "model.keras")
    write_labels(directory / "labels.json")
    return directory / "model.keras"


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, list[str]]:
    """Run the ``luckybag`` command in-process; return (status, stdout, stderr lines)."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err.splitlines()


def photo(c: int, size: tuple[int, int] = (500, 400), dark_on_light: bool = False) -> Image.Image:
    """A big 'photo' of item ``c``: the bar scaled up, off-centre on a plain backdrop."""
    item = Image.fromarray(bar(c)).resize((280, 280), Image.Resampling.NEAREST)
    canvas = Image.new("L", size, 0)
    canvas.paste(item, (30, 60))
    if dark_on_light:
        canvas = Image.fromarray(255 - np.asarray(canvas))
    return canvas


@pytest.fixture
def images(tmp_path: Path) -> dict[str, tuple[Path, int]]:
    """Photos of several kinds, each with the class it shows."""
    files: dict[str, tuple[Path, int]] = {}

    def add(name: str, image: Image.Image, c: int, **save) -> None:
        files[name] = (tmp_path / name, c)
        image.save(tmp_path / name, **save)

    add("small.png", Image.fromarray(bar(3)), 3)
    add("rgb.png", photo(5).convert("RGB"), 5)
    add("large.jpg", photo(7, size=(1600, 1200)).convert("RGB"), 7, quality=85)
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., :3] = (210, 190, 230)
    rgba[..., 3] = np.where(bar(1) > 0, 255, 0)
    add("cutout.png", Image.fromarray(rgba, "RGBA").resize((300, 300), Image.Resampling.NEAREST), 1)
    add("gray16.png", Image.fromarray(bar(6).astype(np.uint16) * 257), 6)
    return files


# --- predict ---------------------------------------------------------------------------


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


def test_dark_item_on_light_photo_is_inverted_by_default(capsys, model_path, tmp_path):
    """--background auto (the default) sees the light backdrop and inverts, without a warning."""
    path = tmp_path / "dark.jpg"
    photo(8, dark_on_light=True).convert("RGB").save(path, quality=90)
    for flags in ([], ["--background", "light"], ["--invert"]):
        status, out, err = run_cli(capsys, "predict", path, "--json", *flags, "--model", model_path)
        assert status == 0 and err == [], flags
        record = json.loads(out)[0]
        assert record["top"][0]["class"] == CLASS_NAMES[8], flags
        assert record["background"] == "light" and record["inverted"] is True, flags
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


def test_invert_and_background_together_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", "x.png", "--invert", "--background", "dark"])
    assert exit_info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


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


def test_dark_arrays_are_inverted_as_a_file(capsys, model_path, tmp_path):
    """auto inverts a file of 28x28 arrays when most of them have a bright ring; one decision per file."""
    batch = np.stack([bar(c) for c in range(10)])
    np.save(tmp_path / "light.npy", 255 - batch)
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
    records = json.loads(out)
    expected = (
        [(f"{tmp_path / 'batch.npy'}[{c}]", c) for c in range(10)]
        + [(str(tmp_path / "one.npy"), 9)]
        + [(f"{tmp_path / 'items-idx3-ubyte.gz'}[{i}]", i) for i in range(3)]
        + [(f"{tmp_path / 'items-idx3-ubyte'}[{i}]", 3 + i) for i in range(2)]
    )
    assert [(r["input"], r["top"][0]["class"]) for r in records] == [(n, CLASS_NAMES[c]) for n, c in expected]


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


@pytest.mark.parametrize("k", ["0", "11", "two"])
def test_top_k_out_of_range_is_a_usage_error(capsys, k):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", "x.png", "--top-k", k])
    assert exit_info.value.code == 2
    assert "--top-k" in capsys.readouterr().err


# --- bag ---------------------------------------------------------------------------------


def test_percent_never_claims_certainty():
    assert [P.percent(p) for p in (0.0, 0.0001, 0.0005, 0.5, 0.9994, 0.9995, 1.0)] == [
        "0.0%",
        "<0.1%",
        "0.1%",
        "50.0%",
        "99.9%",
        ">99.9%",
        ">99.9%",
    ]


def test_bag_math_by_hand():
    probs = np.zeros((2, 10))
    probs[0, [0, 1]] = [0.5, 0.5]
    probs[1, [0, 2]] = [0.2, 0.8]
    expected, at_least_one = P.bag_summary(probs)
    np.testing.assert_allclose(expected[:3], [0.7, 0.5, 0.8])
    np.testing.assert_allclose(at_least_one[:3], [1 - 0.5 * 0.8, 0.5, 0.8])
    np.testing.assert_allclose(expected[3:], 0)
    np.testing.assert_allclose(at_least_one[3:], 0)
    records = P.bag_records(probs, CLASS_NAMES)
    assert [r["class"] for r in records[:3]] == [CLASS_NAMES[2], CLASS_NAMES[0], CLASS_NAMES[1]]
    assert [r["class"] for r in records[3:]] == list(CLASS_NAMES[3:])  # ties keep class order


def test_bag_of_one_certain_item():
    probs = np.eye(10)[[4]]
    expected, at_least_one = P.bag_summary(probs)
    np.testing.assert_allclose(expected, probs[0])
    np.testing.assert_allclose(at_least_one, probs[0])


def test_bag_command(capsys, model_path, images, tmp_path):
    paths = [p for p, _ in images.values()]
    status, out, err = run_cli(capsys, "bag", *paths, "--json", "--model", model_path)
    assert status == 0 and err == []
    bag = json.loads(out)
    assert bag["items"] == len(paths) and bag["inputs"] == [str(p) for p in paths]
    expected = [r["expected"] for r in bag["classes"]]
    assert expected == sorted(expected, reverse=True)
    assert sum(expected) == pytest.approx(len(paths), abs=1e-4)
    assert all(0 <= r["at_least_one"] <= min(1.0, r["expected"]) + 1e-9 for r in bag["classes"])
    shown = {CLASS_NAMES[c] for _, c in images.values()}
    assert {r["class"] for r in bag["classes"][: len(shown)]} == shown

    status, out, err = run_cli(capsys, "bag", *paths, "--model", model_path)
    lines = out.splitlines()
    assert status == 0 and lines[0].startswith(f"lucky bag of {len(paths)} items")
    assert lines[1].split() == ["class", "expected", "P(at", "least", "one)"]
    assert len(lines) == 2 + 10

    status, out, err = run_cli(capsys, "bag", *paths, "--top-k", "2", "--model", model_path)
    assert status == 0 and err == []
    assert [line.split() for line in out.splitlines()[2:]] == [line.split() for line in lines[2:4]]


def test_flagged_inputs_are_marked_and_left_out_of_the_bag(capsys, model_path, tmp_path):
    Image.fromarray(bar(5)).save(tmp_path / "item.png")
    Image.new("RGB", (300, 200), (250, 250, 250)).save(tmp_path / "blank.jpg")
    paths = [tmp_path / "item.png", tmp_path / "blank.jpg"]
    status, out, err = run_cli(capsys, "predict", *paths, "--json", "--model", model_path)
    assert status == 0 and err == []
    records = json.loads(out)
    assert [(r["in_distribution"], r["out_of_range"]) for r in records] == [(True, []), (False, ["ink"])]
    status, out, _ = run_cli(capsys, "predict", *paths, "--model", model_path)
    lines = out.splitlines()
    assert P.FLAG_MARK not in lines[1] and lines[2].endswith(P.FLAG_MARK)
    assert lines[3].startswith(f"{P.FLAG_MARK}: ")
    status, out, _ = run_cli(capsys, "bag", *paths, "--model", model_path)
    assert out.splitlines()[0] == "lucky bag of 1 item (items independent); left out 1 input not like a fashion item"
    status, out, _ = run_cli(capsys, "bag", *paths, "--json", "--model", model_path)
    bag = json.loads(out)
    assert (bag["items"], bag["inputs"], bag["left_out"]) == (1, [str(paths[0])], [str(paths[1])])
    assert sum(r["expected"] for r in bag["classes"]) == pytest.approx(1.0, abs=1e-5)


# --- bad input -------------------------------------------------------------------------------


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


BAD_KINDS = [
    "missing",
    "directory",
    "empty",
    "truncated",
    "garbage",
    "text renamed .png",
    "wrong shape",
    "channels",
    "NaN",
    "above 255",
    "negative",
    "pickled objects",
    "no images",
    "text renamed .npy",
    "IDX labels",
    "corrupt IDX",
]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_input_is_one_line_and_the_good_ones_are_still_predicted(capsys, model_path, tmp_path, kind):
    bad, phrase = _bad_inputs(tmp_path)[kind]
    good = tmp_path / "good.png"
    status, out, err = run_cli(capsys, "predict", good, bad, good, "--model", model_path)
    assert status == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"error: {bad}: ") and phrase in err[0]
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(good), str(good)]


def test_all_bad_inputs_listed_model_never_loaded(capsys, model_path, tmp_path, monkeypatch):
    bad = _bad_inputs(tmp_path)
    monkeypatch.setattr(served, "load", lambda path, runtime: pytest.fail("the model was loaded for no usable input"))
    for command in ("predict", "bag"):
        status, out, err = run_cli(capsys, command, *(p for p, _ in bad.values()), "--model", model_path)
        assert status == 2 and out == ""
        assert len(err) == len(bad)
        assert all(line.startswith(f"error: {p}: ") for line, (p, _) in zip(err, bad.values(), strict=True))


def test_bag_with_a_bad_input(capsys, model_path, tmp_path):
    Image.fromarray(bar(0)).save(tmp_path / "good.png")
    status, out, err = run_cli(capsys, "bag", tmp_path / "good.png", tmp_path / "gone.png", "--model", model_path)
    assert status == 2 and len(err) == 1 and str(tmp_path / "gone.png") in err[0]
    assert out.startswith("lucky bag of 1 item ")


def test_no_traceback_from_the_command_line(model_path, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    Image.fromarray(bar(2)).save(tmp_path / "good.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "luckybag",
            "predict",
            str(tmp_path / "notes.png"),
            str(tmp_path / "good.png"),
            "--model",
            str(model_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # one line
    assert "Traceback" not in done.stderr and "notes.png" in done.stderr
    assert str(tmp_path / "good.png") in done.stdout


def test_keras_is_not_imported_for_help_or_bad_input(model_path):
    """--help and all-bad input never pay for importing Keras and its backend."""
    code = (
        "import sys; from luckybag import cli\n"
        "try:\n    cli.main(['predict', '--help'])\nexcept SystemExit:\n    pass\n"
        f"assert cli.main(['predict', '/nonexistent.png', '--model', {str(model_path)!r}]) == 2\n"
        "print('keras' in sys.modules, 'jax' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.stdout.split()[-2:] == ["False", "False"], done.stderr
    assert "/nonexistent.png: no such file" in done.stderr


# --- models that are not ours ------------------------------------------------------------------


def _save(model, directory: Path) -> Path:
    directory.mkdir()
    model.save(directory / "model.keras")
    write_labels(directory / "labels.json")
    return directory / "model.keras"


def _not_ours(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (extra CLI arguments, a phrase the one-line error must hold)."""
    import keras

    text = tmp_path / "text" / "model.keras"
    text.parent.mkdir()
    text.write_text("I am not a model\n")
    write_labels(text.parent / "labels.json")
    nolabels = tmp_path / "nolabels" / "model.keras"
    nolabels.parent.mkdir()
    build_model().save(nolabels)
    shortlabels = _save(build_model(), tmp_path / "shortlabels")
    write_labels(shortlabels.parent / "labels.json", CLASS_NAMES[:9])
    unsafe = keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Lambda(lambda x: x * 2.0),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    return {
        "wrong output": (
            ["--model", str(_save(build_model(output_units=5), tmp_path / "five"))],
            "output shape (None, 5); expected (None, 10)",
        ),
        "wrong input": (
            ["--model", str(_save(build_model(input_side=32), tmp_path / "big"))],
            "input shape (None, 32, 32); expected (None, 28, 28)",
        ),
        "logits": (["--model", str(_save(build_model(activation=None), tmp_path / "logits"))], "not probabilities"),
        "text renamed model.keras": (["--model", str(text)], "not a .keras model"),
        "not .keras": (["--runtime", "keras", "--model", str(tmp_path / "text" / "labels.json")], "not a .keras file"),
        "missing model": (["--model", str(tmp_path / "nowhere" / "model.keras")], "model file not found"),
        "missing labels": (["--model", str(nolabels)], "labels file not found"),
        "nine labels": (["--model", str(shortlabels)], "10 class names"),
        "unsafe lambda": (["--model", str(_save(unsafe, tmp_path / "unsafe"))], "cannot load it"),
    }


def test_models_that_are_not_ours_are_refused(capsys, tmp_path):
    image = tmp_path / "item.png"
    Image.fromarray(bar(5)).save(image)
    for name, (args, phrase) in _not_ours(tmp_path).items():
        status, out, err = run_cli(capsys, "predict", image, *args)
        assert status == 2, name
        assert out == "", name
        assert len(err) == 1 and err[0].startswith("error: ") and phrase in err[0], (name, err)
        assert args[-1].rsplit("/", 1)[0] in err[0], (name, err)


def test_labels_option_overrides_the_default(capsys, model_path, tmp_path):
    names = [f"item {i}" for i in range(10)]
    labels = write_labels(tmp_path / "mine.json", names)
    Image.fromarray(bar(6)).save(tmp_path / "item.png")
    status, out, _ = run_cli(
        capsys, "predict", tmp_path / "item.png", "--json", "--model", model_path, "--labels", labels
    )
    assert status == 0 and json.loads(out)[0]["top"][0]["class"] == "item 6"
