"""``luckybag predict`` as a command: usage errors, one-line errors, no Keras for --help, models that are not ours."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from luckybag import CLASS_NAMES, cli
from tests.conftest import ROOT
from tests.serve.lucky_bag.conftest import bar, build_model, run_cli, write_labels


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["--invert", "--background", "dark"], "not allowed with"),
        (["--top-k", "0"], "--top-k"),
        (["--top-k", "11"], "--top-k"),
        (["--top-k", "two"], "--top-k"),
    ],
)
def test_usage_errors(capsys, argv, phrase):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", "x.png", *argv])
    assert exit_info.value.code == 2
    assert phrase in capsys.readouterr().err


def test_no_traceback_from_the_command_line(model_path, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    Image.fromarray(bar(2)).save(tmp_path / "good.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = ["predict", str(tmp_path / "notes.png"), str(tmp_path / "good.png"), "--model", str(model_path)]
    done = subprocess.run(
        [sys.executable, "-m", "luckybag", *argv], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 2
    error, notice = done.stderr.strip().splitlines()  # one line for the bad input, one: no detector beside the stand-in
    assert "Traceback" not in done.stderr and "notes.png" in error and notice.startswith("note: ")
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


def _save(model, directory: Path) -> Path:
    directory.mkdir()
    model.save(directory / "model.keras")
    write_labels(directory / "labels.json")
    return directory / "model.keras"


@pytest.fixture(scope="module")
def not_ours(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], str]]:
    """name -> (extra CLI arguments, a phrase the one-line error must hold)."""
    import keras

    tmp_path = tmp_path_factory.mktemp("not_ours")
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


NOT_OURS = [
    "wrong output", "wrong input", "logits", "text renamed model.keras", "not .keras", "missing model",
    "missing labels", "nine labels", "unsafe lambda",
]  # fmt: skip


def test_every_kind_of_foreign_model_is_tested(not_ours):
    assert list(not_ours) == NOT_OURS


@pytest.mark.parametrize("name", NOT_OURS)
def test_models_that_are_not_ours_are_refused(capsys, tmp_path, not_ours, name):
    image = tmp_path / "item.png"
    Image.fromarray(bar(5)).save(image)
    args, phrase = not_ours[name]
    status, out, err = run_cli(capsys, "predict", image, *args)
    assert status == 2
    assert out == ""
    assert len(err) == 1 and err[0].startswith("error: ") and phrase in err[0], err
    assert args[-1].rsplit("/", 1)[0] in err[0], err


def test_labels_option_overrides_the_default(capsys, model_path, tmp_path):
    labels = write_labels(tmp_path / "mine.json", [f"item {i}" for i in range(10)])
    Image.fromarray(bar(6)).save(tmp_path / "item.png")
    status, out, _ = run_cli(
        capsys, "predict", tmp_path / "item.png", "--json", "--model", model_path, "--labels", labels
    )
    assert status == 0 and json.loads(out)[0]["top"][0]["class"] == "item 6"
