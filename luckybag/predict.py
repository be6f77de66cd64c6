"""``luckybag predict`` and ``luckybag bag``: the shop's lucky-bag CLI on the exported model.

Inputs are photos (PNG/JPEG, any size or colour mode), ``.npy`` arrays of raw pixels
((28, 28) or (N, 28, 28), values 0-255) or IDX image files (raw or ``.gz``), made to look
like the training data (``luckybag.photos``, ``luckybag.inputs``). The model runs on
onnxruntime (``models/model.onnx``) unless ``--runtime keras`` asks for ``models/model.keras``;
inputs that do not look like one fashion item are flagged (``luckybag.screening``).

Every input is read and checked before a runtime is imported, so ``--help`` and bad input are
instant; a bad input is reported on one line and the others are still predicted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from luckybag import served
from luckybag.inputs import Inputs, read_inputs
from luckybag.photos import BACKGROUNDS
from luckybag.screening import screen
from luckybag.served import NUM_CLASSES, RUNTIMES

FLAG_MARK = "! not like one fashion item"


@dataclass
class Answers:
    """What the model said about the usable inputs, and which of them it has no business answering."""

    inputs: Inputs
    probs: np.ndarray  # (n, 10)
    flagged: list[list[str]]  # per image: the screening statistics out of range
    labels: list[str]


# --- results ------------------------------------------------------------------------


def top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """Per image, the indices of the ``k`` most probable classes, most probable first (ties: lower index)."""
    return np.argsort(-np.asarray(probs), axis=-1, kind="stable")[..., :k]


def bag_summary(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each class: the expected number of items (sum of p_i) and P(at least one) = 1 - prod(1 - p_i).

    Treats the items as independent, each with its own class distribution."""
    probs = np.clip(np.asarray(probs, dtype=np.float64).reshape(-1, NUM_CLASSES), 0.0, 1.0)
    expected = probs.sum(axis=0)
    at_least_one = 1.0 - np.prod(1.0 - probs, axis=0)
    return expected, at_least_one


def percent(p: float) -> str:
    """One decimal; never "100.0%", which a customer reads as certain (a float32 1.0 is only >= 1 - 6e-8)."""
    if 0 < p < 0.0005:
        return "<0.1%"
    if p >= 0.9995:
        return ">99.9%"
    return f"{100 * p:.1f}%"


def prediction_records(answers: Answers, k: int) -> list[dict[str, Any]]:
    inputs, labels = answers.inputs, answers.labels
    rows, tops = answers.probs.tolist(), top_k(answers.probs, k).tolist()  # Python floats, one call each
    return [
        {
            "input": name,
            "background": background,
            "inverted": background == "light",
            "in_distribution": not failed,
            "out_of_range": failed,
            "top": [{"class": labels[i], "probability": row[i]} for i in top],
            "probabilities": dict(zip(labels, row, strict=True)),
        }
        for name, background, failed, row, top in zip(
            inputs.names, inputs.backgrounds, answers.flagged, rows, tops, strict=True
        )
    ]


def prediction_table(records: Sequence[dict[str, Any]], labels: Sequence[str]) -> str:
    """One row per input: name, backdrop (light ones were inverted), top classes; flagged rows end in a mark."""
    k = max((len(r["top"]) for r in records), default=0)
    name_w = max([len("input")] + [len(r["input"]) for r in records])
    label_w = max(len(label) for label in labels)
    cell_w = label_w + 8
    header = f"{'input':<{name_w}}  backdrop" + "".join(f"  {'top ' + str(i + 1):<{cell_w}}" for i in range(k))
    lines = [header.rstrip()]
    for record in records:
        cells = "".join(f"  {t['class']:<{label_w}} {percent(t['probability']):>6} " for t in record["top"])
        mark = "" if record["in_distribution"] else f" {FLAG_MARK}"
        lines.append((f"{record['input']:<{name_w}}  {record['background']:<8}" + cells + mark).rstrip())
    if any(not r["in_distribution"] for r in records):
        lines.append(
            f"{FLAG_MARK}: blank, noise, text or not one item on a plain backdrop? its probabilities mean little"
        )
    return "\n".join(lines)


def bag_records(probs: np.ndarray, labels: Sequence[str]) -> list[dict[str, Any]]:
    """One record per class, most expected first (ties: class order)."""
    expected, at_least_one = bag_summary(probs)
    order = np.argsort(-expected, kind="stable")
    return [{"class": labels[i], "expected": float(expected[i]), "at_least_one": float(at_least_one[i])} for i in order]


def bag_table(records: Sequence[dict[str, Any]], items: int, left_out: int = 0) -> str:
    label_w = max([len("class")] + [len(r["class"]) for r in records])
    title = f"lucky bag of {items} item{'s' if items != 1 else ''} (items independent)"
    if left_out:
        title += f"; left out {left_out} input{'s' if left_out != 1 else ''} not like a fashion item"
    lines = [title, f"{'class':<{label_w}}  {'expected':>8}  {'P(at least one)':>15}"]
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


def _answer(args: argparse.Namespace) -> Answers | None:
    """Check model and labels cheaply, read the inputs (reporting bad ones), then load, predict and screen."""
    runtime = served.runtime_for(args.model, args.runtime)
    model_path = Path(args.model) if args.model else served.DEFAULT_MODELS[runtime]
    served.check_model_file(model_path, runtime)
    labels = served.read_labels(Path(args.labels) if args.labels else served.default_labels(model_path))
    inputs = read_inputs([Path(p) for p in args.images], background="light" if args.invert else args.background)
    for problem in inputs.problems:
        print(f"error: {problem}", file=sys.stderr)
    for hint in inputs.warnings:
        print(f"warning: {hint}", file=sys.stderr)
    if not inputs.names:
        return None
    images = inputs.batch()
    probs = served.predict_probabilities(served.load(model_path, runtime), images, model_path)
    return Answers(inputs, probs, screen(images, probs), labels)


def run_predict(args: argparse.Namespace) -> int:
    answers = _answer(args)
    if answers is not None:
        records = prediction_records(answers, args.top_k)
        _emit(json.dumps(records, indent=2) if args.json else prediction_table(records, answers.labels))
        return 2 if answers.inputs.problems else 0
    return 2


def run_bag(args: argparse.Namespace) -> int:
    answers = _answer(args)
    if answers is None:
        return 2
    kept = [i for i, failed in enumerate(answers.flagged) if not failed]
    names = answers.inputs.names
    records = bag_records(answers.probs[kept], answers.labels)[: args.top_k]
    left_out = [names[i] for i, failed in enumerate(answers.flagged) if failed]
    if args.json:
        _emit(
            json.dumps(
                {"items": len(kept), "inputs": [names[i] for i in kept], "left_out": left_out, "classes": records},
                indent=2,
            )
        )
    else:
        _emit(bag_table(records, len(kept), len(left_out)))
    return 2 if answers.inputs.problems else 0


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
        "images",
        nargs="+",
        metavar="IMAGE",
        help="PNG/JPEG photo, .npy array (28x28 or Nx28x28, values 0-255) or IDX image file (raw or .gz)",
    )
    backdrop = parser.add_mutually_exclusive_group()
    backdrop.add_argument(
        "--background",
        choices=BACKGROUNDS,
        default="auto",
        help="the photos' backdrop: light (a dark item on it; inverted), dark, or auto: told from the border "
        "(default: %(default)s)",
    )
    backdrop.add_argument("--invert", action="store_true", help="same as --background light")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default=None,
        help="onnx: models/model.onnx on onnxruntime (default; keras for a --model ending in .keras); "
        "keras: models/model.keras on Keras",
    )
    parser.add_argument("--model", default=None, help="exported model file (default: the runtime's file in models/)")
    parser.add_argument("--labels", default=None, help="class names JSON (default: labels.json beside the model)")


def add_commands(subparsers: Any) -> None:
    """Register ``predict`` and ``bag`` on the ``luckybag`` command's subparsers."""
    predict = subparsers.add_parser(
        "predict",
        help="classify photos or pixel arrays with the exported model",
        description="Classify each item: the top classes and their probabilities. Inputs that do not look "
        "like one fashion item on a plain backdrop are flagged.",
    )
    _add_common(predict)
    predict.add_argument("--top-k", type=_top_k_arg, default=3, metavar="K", help="classes shown per item (default: 3)")
    predict.set_defaults(func=run_predict)
    bag = subparsers.add_parser(
        "bag",
        help="expected contents of a lucky bag holding these items",
        description="For each class: the expected number of items and the probability of at least one. "
        "Inputs that do not look like one fashion item are left out.",
    )
    _add_common(bag)
    bag.add_argument(
        "--top-k",
        type=_top_k_arg,
        default=NUM_CLASSES,
        metavar="K",
        help="classes shown, most expected first (default: all 10)",
    )
    bag.set_defaults(func=run_bag)
