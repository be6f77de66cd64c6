"""A short generated model card: data, params, metrics, calibration, intended use, limits."""

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from luckybag.contract import CLASS_NAMES
from luckybag.pipeline.params import Params, TrainParams

MIN_BIN_COUNT = 30  # fewer items than this in a confidence bin say too little to report
# Measured by benchmarks/ood_real.py after a repro; a dep of the model_card stage, so the card quotes what it last wrote.
OOD_RESULTS = Path("benchmarks/results/ood_real.json")
PHOTO_RESULTS = Path("benchmarks/results/shop_photos.json")  # benchmarks/shop_photos.py, a dep of the stage too
INTENDED_INPUT = """Intended input: a photo of one item alone on a plain backdrop, light or dark (the CLI tells
which and inverts a light one), or 28×28 pixels like the data set's. The CLI flags inputs unlike the
training images with the screen stage's detector (`models/ood/`: the network's features' distance to
the classes, the pixels' distance to the nearest training image, a bright border and a flat picture,
combined by Fisher's method; `"in_distribution": false`, a mark in the table) and leaves them out of
`luckybag bag`."""


def quoted(path: Path, render: Callable[[dict[str, Any]], str], missing: str, broken: str) -> str:
    """``render`` of a benchmark's results file; ``missing`` or ``broken`` when it is absent or not as written."""
    if not path.is_file():
        return missing
    try:
        return render(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return broken


def screening_sentence(path: Path = OOD_RESULTS) -> str:
    """What ``benchmarks/ood_real.py`` measured, as it wrote it; nothing when it has not run."""

    def render(results: dict[str, Any]) -> str:
        sets = "; ".join(
            f"{name} {row['flagged']:.1%} of {row['count']:,}"
            + (f" (AUROC {row['auroc_score']})" if "auroc_score" in row else "")
            for name, row in results["sets"].items()
        )
        return (
            f"Flagged on real pictures no fit saw (`{results['command']}`, model MD5 {results['model_md5']}): {sets}."
        )

    missing = f"The screening has not been measured on real pictures (`{OOD_RESULTS}` is missing)."
    return quoted(path, render, missing, f"The screening's measurements (`{path}`) cannot be read.")


def photos_sentence(path: Path = PHOTO_RESULTS) -> str:
    """How the model did on generated shop photos of test items, as ``benchmarks/shop_photos.py`` wrote it."""
    sets = {"shop_photos": "first", "studio_photos": "studio (second)"}

    def render(results: dict[str, Any]) -> str:
        test, model = results["test_set"], results["model_md5"]["models/model.onnx"]
        measured = "; ".join(
            f"{name} generator {results[key]['accuracy']:.1%} accurate, ECE {results[key]['ece']:.1%}"
            for key, name in sets.items()
            if key in results
        )
        return (
            f"On photos of test items made by two photo generators (`{results['command']}`, model MD5 {model}): "
            f"{measured or 'none'}, against {test['accuracy']:.1%} and ECE {test['ece']:.1%} on the test images "
            "themselves."
        )

    missing = f"Not measured on shop photos (`{PHOTO_RESULTS}` is missing)."
    return quoted(path, render, missing, f"The shop-photo measurements (`{path}`) cannot be read.")


def _layers(train: TrainParams) -> str:
    tail = f"(dropout {train.dropout}) → Dense(10) → calibration → softmax"
    if train.model == "dense":
        hidden = ", ".join(f"Dense({h.units}, {h.activation})" for h in train.hidden_layers) or "none"
        return f"Rescaling(1/255) → Flatten → {hidden} {tail}"
    cnn = train.cnn
    norm = " → BatchNorm" if cnn.batch_norm else ""
    repeat = f" ×{cnn.convs_per_block}" if cnn.convs_per_block > 1 else ""
    augment = " → (training only: random mirror, 2-pixel shift)" if cnn.augment else ""
    size = f"{cnn.kernel_size}x{cnn.kernel_size}"
    convs = " → ".join(f"[Conv2D({f}, {size}){norm} → ReLU]{repeat} → MaxPool({cnn.pool_size})" for f in cnn.filters)
    return f"Rescaling(1/255){augment} → {convs} → Flatten → Dense({cnn.dense_units}, relu) {tail}"


def calibration_sentence(bins: list[dict[str, float]], target: float = 0.8) -> str:
    """What the test items shown at about ``target`` turned out to be, from the reliability bins."""
    filled = [b for b in bins if b["count"] >= MIN_BIN_COUNT]
    if not filled:
        return f"Too few test items share a confidence bin (under {MIN_BIN_COUNT} each) to check this bin by bin."
    b = min(filled, key=lambda row: (abs(row["confidence"] - target), row["lower"]))
    gap = b["accuracy"] - b["confidence"]
    noise = 2 * math.sqrt(b["confidence"] * (1 - b["confidence"]) / b["count"])  # two standard errors
    if abs(gap) <= noise:
        verdict = "that agrees with the probabilities within sampling error"
    elif gap < 0:
        verdict = "fewer than shown, so there the probabilities are too high"
    else:
        verdict = "more than shown, so there the probabilities are too low"
    return (
        f"Among the {b['count']:,} test items shown at {b['lower']:.0%}–{b['upper']:.0%} "
        f"(on average {b['confidence']:.1%}), {b['accuracy']:.1%} were of the class shown; {verdict}."
    )


def confusion_sentence(matrix: np.ndarray, top: int = 3) -> str:
    """The most often confused pairs of classes (either way round), from the test confusion matrix."""
    errors = int(matrix.sum() - np.trace(matrix))
    if errors == 0:
        return "No test item was misclassified."
    both_ways = np.triu(matrix + matrix.T, 1)  # pairs (i, j), i < j; a stable sort keeps ties in that order
    top_pairs = np.argsort(-both_ways, axis=None, kind="stable")[:top]
    pairs = []  # (count, i, j), most often confused first
    for flat_index in top_pairs:
        i, j = divmod(int(flat_index), len(matrix))  # argsort ran over the flattened matrix: back to row, column
        if both_ways[i, j] > 0:
            pairs.append((int(both_ways[i, j]), i, j))
    named = [f"{CLASS_NAMES[i]} and {CLASS_NAMES[j]} ({count:,} item{'s' * (count != 1)})" for count, i, j in pairs]
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + f" and {named[-1]}"
    share = sum(count for count, _, _ in pairs) / errors
    return (
        f"The most frequent confusions on the test set are {listed}: {share:.0%} of its {errors:,} "
        f"misclassified item{'s' * (errors != 1)} (see the confusion matrix)."
    )


def render(
    params: Params,
    train_metrics: dict[str, Any],
    evaluation: dict[str, Any],
    exports: dict[str, Any],
    bins: list[dict[str, float]],
    confusion: np.ndarray,
) -> str:
    """The card's markdown; ``bins`` and ``confusion`` are the served model's on the test set."""
    train, split = params.train, params.preprocess
    val, test, cal = evaluation["val"], evaluation["test"], evaluation["calibration"]
    vcf, vin = val["calibrated_cross_fitted"], val["calibrated_in_sample"]
    checksums = "the official SHA-256 checksums"
    if params.download.sha256 is not None:
        checksums = "the SHA-256 checksums given in params (not the official ones)"
    stop = (
        f"early stopping with patience {train.patience} on {train.monitor}" if train.patience else "no early stopping"
    )
    how = (
        f"temperature scaling (T = {evaluation['temperature']:.4f})"
        if cal["method"] == "temperature"
        else "vector scaling (a scale and a bias per class on the log-probabilities)"
    )
    chosen = (
        f"chosen by `auto`: the lower {cal['folds']}-fold cross-fitted validation NLL, "
        f"temperature {cal['temperature']['val_cross_fitted_nll']:.4f} vs vector {cal['vector']['val_cross_fitted_nll']:.4f}"
        if cal["requested"] == "auto"
        else "set in params"
    )
    schedule = ", cosine learning-rate decay" if train.lr_schedule == "cosine" else ""
    rows = "\n".join(
        f"| {kind} | {r['runtime']} | {r['max_abs_diff']:.2g} | {'yes' if r['same_argmax'] else 'NO'} |"
        for kind, r in exports.items()
    )
    return f"""# Model card: luckybag Fashion-MNIST classifier

Generated by the `export` stage of the luckybag DVC pipeline; do not edit by hand.

## Model
- Architecture: {_layers(train)}; {train_metrics["params_count"]:,} parameters.
- Training: {train.optimizer} (learning rate {train.learning_rate or "Keras default"}{schedule}), batch {train.batch_size},
  up to {train.epochs} epochs, {stop}; the checkpoint keeps the epoch with the best {train.monitor};
  best epoch {train_metrics["best_epoch"]} of {train_metrics["epochs_run"]}; Keras backend {train.backend}, seed {train.seed}.
- Input: raw 28×28 grayscale pixels, uint8 0–255, light item on a dark background (scaling is inside the model).
- Output: probabilities of the 10 classes {", ".join(CLASS_NAMES)}, calibrated by
  {how}, fitted on the validation split only; {chosen}.

## Data
Fashion-MNIST: 60,000 training images (of which a share of {split.test_size} held out for validation,
random_state {split.random_state}) and the 10,000 original test images, verified against {checksums}.

## Metrics
| split | accuracy | loss | ECE before → after | NLL after | Brier after | accuracy after |
|---|---|---|---|---|---|---|
| validation, cross-fitted | {val["accuracy"]:.4f} | {val["loss"]:.4f} | {val["ece"]:.2%} → {vcf["ece"]:.2%} | {vcf["nll"]:.4f} | {vcf["brier"]:.4f} | {vcf["accuracy"]:.4f} |
| validation, in-sample | | | → {vin["ece"]:.2%} | {vin["nll"]:.4f} | {vin["brier"]:.4f} | {vin["accuracy"]:.4f} |
| test | {test["accuracy"]:.4f} | {test["loss"]:.4f} | {test["ece"]:.2%} → {test["calibrated"]["ece"]:.2%} | {test["calibrated"]["nll"]:.4f} | {test["calibrated"]["brier"]:.4f} | {test["calibrated"]["accuracy"]:.4f} |

ECE: expected calibration error over {params.evaluate.calibration_bins} equal-width confidence bins.
The validation split chose the epoch and fits the calibration, so its calibrated figures are
in-sample; the cross-fitted row calibrates each of {cal["folds"]} folds with a fit on the others.
Test ECE after each method: temperature {cal["temperature"]["test_ece"]:.2%},
vector {cal["vector"]["test_ece"]:.2%} (the method is chosen on validation, not on these).

## Exports (each reloaded in a fresh process by its own runtime, test-set probabilities compared)
| format | runtime | max abs difference | same top class |
|---|---|---|---|
{rows}

## Intended use
Showing customers of the shop's lucky-bag event how likely each item in a bag is to be of each
class (`luckybag predict`, `luckybag bag`). {calibration_sentence(bins)}

{INTENDED_INPUT} {screening_sentence()}

## Limits
- Trained on centred 28×28 grayscale product photos; other photos must be converted the same way
  (the CLI does) and may still be out of distribution: the probabilities then mean less.
- {confusion_sentence(confusion)}
- Calibration holds for data like the test set; it is not a guarantee for any single item.
- {photos_sentence()}
"""
