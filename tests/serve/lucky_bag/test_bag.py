"""``luckybag bag``: the expected contents by hand, percentages that never claim certainty, flagged inputs left out."""

import json

import numpy as np
import pytest
from PIL import Image

from luckybag import CLASS_NAMES, cli
from luckybag.serve import predict as P
from tests.serve.lucky_bag.conftest import bar, run_cli


@pytest.mark.parametrize(
    ("p", "shown"),
    [(0.0, "0.0%"), (0.0001, "<0.1%"), (0.0005, "0.1%"), (0.5, "50.0%"), (0.9994, "99.9%"), (0.9995, ">99.9%"),
     (1.0, ">99.9%")],
)  # fmt: skip
def test_percent_never_claims_certainty(p, shown):
    assert P.percent(p) == shown


def bag_columns(probs):
    """bag_records' expected counts and P(at least one), back in class order."""
    by_class = {r["class"]: r for r in P.bag_records(probs, CLASS_NAMES)}
    return (np.array([by_class[c][key] for c in CLASS_NAMES]) for key in ("expected", "at_least_one"))


def test_bag_math_by_hand():
    probs = np.zeros((2, 10))
    probs[0, [0, 1]] = [0.5, 0.5]
    probs[1, [0, 2]] = [0.2, 0.8]
    expected, at_least_one = bag_columns(probs)
    np.testing.assert_allclose(expected[:3], [0.7, 0.5, 0.8])
    np.testing.assert_allclose(at_least_one[:3], [1 - 0.5 * 0.8, 0.5, 0.8])
    np.testing.assert_allclose(expected[3:], 0)
    np.testing.assert_allclose(at_least_one[3:], 0)
    records = P.bag_records(probs, CLASS_NAMES)
    assert [r["class"] for r in records[:3]] == [CLASS_NAMES[2], CLASS_NAMES[0], CLASS_NAMES[1]]
    assert [r["class"] for r in records[3:]] == list(CLASS_NAMES[3:])  # ties keep class order


def test_bag_of_one_certain_item():
    probs = np.eye(10)[[4]]
    expected, at_least_one = bag_columns(probs)
    np.testing.assert_allclose(expected, probs[0])
    np.testing.assert_allclose(at_least_one, probs[0])


def test_bag_command(capsys, model_path, images):
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


def test_without_a_detector_nothing_is_left_out_and_the_answers_say_unscreened(capsys, model_path, tmp_path):
    """The stand-in has no detector beside it: one notice, no mark, no input left out, JSON screening fields null.
    (Flagged inputs left out of a bag by the real detector: tests/serve/test_screening.py.)"""
    Image.fromarray(bar(5)).save(tmp_path / "item.png")
    Image.new("RGB", (300, 200), (250, 250, 250)).save(tmp_path / "blank.jpg")
    paths = [tmp_path / "item.png", tmp_path / "blank.jpg"]
    status = cli.main([str(a) for a in ("predict", *paths, "--json", "--model", model_path)])
    out, err = capsys.readouterr()
    assert status == 0 and err.splitlines() == [
        f"note: {model_path.parent / 'ood'}/ not found beside model.keras: answers are unscreened (`dvc repro` fits it)"
    ]
    records = json.loads(out)
    assert [(r["in_distribution"], r["ood_score"], r["ood_threshold"]) for r in records] == [(None, None, None)] * 2
    status, out, _ = run_cli(capsys, "predict", *paths, "--model", model_path)
    assert P.FLAG_MARK not in out
    status, out, _ = run_cli(capsys, "bag", *paths, "--json", "--model", model_path)
    bag = json.loads(out)
    assert (bag["items"], bag["left_out"]) == (2, [])


def test_bag_with_a_bad_input(capsys, model_path, tmp_path):
    Image.fromarray(bar(0)).save(tmp_path / "good.png")
    status, out, err = run_cli(capsys, "bag", tmp_path / "good.png", tmp_path / "gone.png", "--model", model_path)
    assert status == 2 and len(err) == 1 and str(tmp_path / "gone.png") in err[0]
    assert out.startswith("lucky bag of 1 item ")
