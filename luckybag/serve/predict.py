"""``luckybag predict`` and ``luckybag bag``: each item's top classes and a lucky bag's expected contents."""

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from luckybag.contract import EXPORT_FILES, LABELS_FILE, MODELS_DIR
from luckybag.serve import runtime as served  # `runtime` is run()'s parameter
from luckybag.serve import screening
from luckybag.serve.inputs import Inputs, read_inputs

FLAG_MARK = "! not like one fashion item"
FLAG_NOTE = (
    f"{FLAG_MARK}: unlike the training images (score above the detector's threshold); its probabilities mean little"
)
Record = dict[str, Any]


def percent(p: float) -> str:
    """One decimal; never "100.0%", which a customer reads as certain (a float32 1.0 is only >= 1 - 6e-8)."""
    if 0 < p < 0.0005:
        return "<0.1%"
    return ">99.9%" if p >= 0.9995 else f"{100 * p:.1f}%"


def screen(detector: screening.Detector | None, batch: np.ndarray) -> list[Record]:
    """Per image: the detector's score and threshold and whether it is in distribution (all None: unscreened)."""
    if detector is None:
        return [{"in_distribution": None, "ood_score": None, "ood_threshold": None}] * len(batch)
    t = detector.threshold
    return [{"in_distribution": s <= t, "ood_score": s, "ood_threshold": t} for s in detector.score(batch).tolist()]


def prediction_records(
    inputs: Inputs, probs: np.ndarray, screened: list[Record], labels: list[str], k: int
) -> list[Record]:
    """One JSON record per image: backdrop, screening, top ``k`` classes (ties: lower index) and every probability."""
    rows, tops = probs.tolist(), np.argsort(-probs, axis=1, kind="stable")[:, :k].tolist()
    return [
        {
            "input": name,
            "background": background,
            "inverted": background == "light",
            **screen_record,
            "top": [{"class": labels[i], "probability": row[i]} for i in top],
            "probabilities": dict(zip(labels, row, strict=True)),
        }
        for name, background, screen_record, row, top in zip(
            inputs.names, inputs.backgrounds, screened, rows, tops, strict=True
        )
    ]


def prediction_table(records: Sequence[Record], labels: Sequence[str]) -> str:
    """One row per input: name, backdrop (light ones were inverted), top classes; flagged rows end in a mark."""
    k = max((len(r["top"]) for r in records), default=0)
    name_w = max([len("input")] + [len(r["input"]) for r in records])
    label_w = max(len(label) for label in labels)
    header = f"{'input':<{name_w}}  backdrop" + "".join(f"  {'top ' + str(i + 1):<{label_w + 8}}" for i in range(k))
    lines = [header.rstrip()]
    for r in records:
        cells = "".join(f"  {t['class']:<{label_w}} {percent(t['probability']):>6} " for t in r["top"])
        mark = f" {FLAG_MARK}" if r["in_distribution"] is False else ""
        lines.append((f"{r['input']:<{name_w}}  {r['background']:<8}" + cells + mark).rstrip())
    if any(r["in_distribution"] is False for r in records):
        lines.append(FLAG_NOTE)
    return "\n".join(lines)


def bag_records(probs: np.ndarray, labels: Sequence[str]) -> list[Record]:
    """Per class, most expected first (ties: class order), items independent: sum(p_i) and 1 - prod(1 - p_i)."""
    probs = np.clip(probs, 0.0, 1.0)
    expected, at_least_one = probs.sum(axis=0), 1.0 - np.prod(1.0 - probs, axis=0)
    order = np.argsort(-expected, kind="stable")
    return [{"class": labels[i], "expected": float(expected[i]), "at_least_one": float(at_least_one[i])} for i in order]


def bag_table(records: Sequence[Record], items: int, left_out: int) -> str:
    label_w = max([len("class")] + [len(r["class"]) for r in records])
    title = f"lucky bag of {items} item{'s' if items != 1 else ''} (items independent)"
    if left_out:
        title += f"; left out {left_out} input{'s' if left_out != 1 else ''} not like a fashion item"
    lines = [title, f"{'class':<{label_w}}  {'expected':>8}  {'P(at least one)':>15}"]
    lines += [f"{r['class']:<{label_w}}  {r['expected']:>8.2f}  {percent(r['at_least_one']):>15}" for r in records]
    return "\n".join(lines)


def run(
    command: str,
    images: list[Path],
    *,
    model: Path | None = None,
    runtime: str | None = None,
    labels: Path | None = None,
    background: str = "auto",
    as_json: bool = False,
    top_k: int = 3,
) -> int:
    """``luckybag predict`` (each input's top classes) or ``bag`` (a bag's expected contents); 2 if an input was bad.
    Model, labels and every input are checked before a runtime is imported: bad input fails fast, good ones still run."""
    runtime = served.runtime_for(model, runtime)
    model = model or MODELS_DIR / EXPORT_FILES[runtime][0]
    served.check_model_file(model, runtime)
    names = served.read_label_names(labels or model.with_name(LABELS_FILE))
    inputs = read_inputs(images, background)
    for line in [f"error: {problem}" for problem in inputs.problems] + [f"warning: {w}" for w in inputs.warnings]:
        print(line, file=sys.stderr)
    if not inputs.names:
        return 2
    batch = inputs.batch()
    load = served.load_onnx if runtime == "onnx" else served.load_keras
    probs = served.predict_probabilities(load(model), batch, model)
    detector, notice = screening.find(model)
    if notice:
        print(notice, file=sys.stderr)
    screened = screen(detector, batch)
    if command == "predict":
        data = prediction_records(inputs, probs, screened, names, top_k)
        table = prediction_table(data, names)
    else:
        kept = [i for i, r in enumerate(screened) if r["in_distribution"] is not False]
        left_out = [inputs.names[i] for i, r in enumerate(screened) if r["in_distribution"] is False]
        records = bag_records(probs[kept], names)[:top_k]
        data = {"items": len(kept), "inputs": [inputs.names[i] for i in kept], "left_out": left_out, "classes": records}
        table = bag_table(records, len(kept), len(left_out))
    try:
        print(json.dumps(data, indent=2) if as_json else table, flush=True)
    except BrokenPipeError:  # `luckybag predict ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 2 if inputs.problems else 0
