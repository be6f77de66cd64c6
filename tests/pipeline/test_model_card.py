"""The model card's findings come from the metrics, not from fixed text."""

import numpy as np

from luckybag import CLASS_NAMES
from luckybag.pipeline.calibration import reliability
from luckybag.pipeline.model_card import calibration_sentence, confusion_sentence
from tests.pipeline.test_calibration import confident_set


def test_calibration_sentence_reads_the_bin_near_80_percent() -> None:
    right = reliability(*confident_set(400, 0.8, 0.8))
    low = reliability(*confident_set(400, 0.79, 0.6))
    assert calibration_sentence(right) == (
        "Among the 400 test items shown at 73%–80% (on average 80.0%), 80.0% were of the class shown; "
        "that agrees with the probabilities within sampling error."
    )
    assert calibration_sentence(low) == (
        "Among the 400 test items shown at 73%–80% (on average 79.0%), 60.0% were of the class shown; "
        "fewer than shown, so there the probabilities are too high."
    )
    probs, labels = confident_set(400, 0.9, 1.0)
    assert "more than shown, so there the probabilities are too low" in calibration_sentence(reliability(probs, labels))
    assert "Too few test items" in calibration_sentence(reliability(*confident_set(20, 0.8, 0.8)))


def confusion_with(pairs: dict[tuple[int, int], int]) -> np.ndarray:
    matrix = np.diag(np.full(10, 100))
    for (actual, predicted), count in pairs.items():
        matrix[actual, predicted] = count
    return matrix


def test_confusion_sentence_names_the_most_confused_pairs() -> None:
    shirts = confusion_with({(0, 6): 30, (6, 0): 20, (4, 2): 25, (2, 6): 10, (7, 9): 5})
    shoes = confusion_with({(7, 9): 40, (5, 7): 30, (9, 5): 10, (1, 3): 20})
    assert confusion_sentence(shirts) == (
        "The most frequent confusions on the test set are T-shirt/top and Shirt (50 items), "
        "Pullover and Coat (25 items) and Pullover and Shirt (10 items): 94% of its 90 misclassified "
        "items (see the confusion matrix)."
    )
    assert confusion_sentence(shoes).startswith(
        "The most frequent confusions on the test set are Sneaker and Ankle boot (40 items), "
        "Sandal and Sneaker (30 items) and Trouser and Dress (20 items)"
    )
    assert confusion_sentence(confusion_with({(8, 3): 1})) == (
        f"The most frequent confusions on the test set are {CLASS_NAMES[3]} and {CLASS_NAMES[8]} (1 item): "
        "100% of its 1 misclassified item (see the confusion matrix)."
    )
    assert confusion_sentence(confusion_with({})) == "No test item was misclassified."


def test_two_metric_inputs_give_two_different_sentences() -> None:
    a_bins, b_bins = reliability(*confident_set(400, 0.8, 0.8)), reliability(*confident_set(300, 0.8, 0.7))
    assert calibration_sentence(a_bins) != calibration_sentence(b_bins)
    assert confusion_sentence(confusion_with({(0, 6): 30})) != confusion_sentence(confusion_with({(7, 9): 30}))


def test_benchmark_sentences_quote_their_files_or_say_they_are_missing(tmp_path) -> None:
    import json

    from luckybag.pipeline.model_card import photos_sentence, screening_sentence

    ood = {"command": "python benchmarks/ood_real.py", "model_md5": "abc"}
    ood["sets"] = {"photographs": {"count": 238, "flagged": 0.8445, "auroc_score": 0.9773}}
    (tmp_path / "ood.json").write_text(json.dumps(ood))
    assert "photographs 84.5% of 238 (AUROC 0.9773)" in screening_sentence(tmp_path / "ood.json")
    photos = {"command": "python benchmarks/shop_photos.py", "model_md5": {"models/model.onnx": "abc"}}
    photos |= {"test_set": {"accuracy": 0.8743, "ece": 0.0097}, "studio_photos": {"accuracy": 0.7283, "ece": 0.0599}}
    (tmp_path / "photos.json").write_text(json.dumps(photos))
    assert "studio (second) generator 72.8% accurate, ECE 6.0%, against 87.4%" in photos_sentence(
        tmp_path / "photos.json"
    )
    assert "is missing" in screening_sentence(tmp_path / "none.json") and "is missing" in photos_sentence(
        tmp_path / "x"
    )
    (tmp_path / "broken.json").write_text('{"command": "x"}')
    assert "cannot be read" in screening_sentence(tmp_path / "broken.json")
    assert "cannot be read" in photos_sentence(tmp_path / "broken.json")
