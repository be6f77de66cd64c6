"""Fit the CLI's screening thresholds on validation-split data; write luckybag/serve/screening.json.

In-distribution data: every validation image as it is, and shop photos generated from
validation images (shop_photos_gen.py), read through the CLI's own preparation. Each
statistic's bound is the quantile that leaves ``--tail`` of that data outside. Generated
non-items (a seed of their own) are only reported, never fitted on; the test split is not read.

    .venv/bin/python benchmarks/screening_fit.py   # ~5 min here; needs data/prepared/val.npz and models/model.onnx
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from shop_photos_gen import write_non_items, write_shop_photos

from luckybag.io import write_json
from luckybag.serve import runtime
from luckybag.serve.inputs import read_inputs
from luckybag.serve.screening import THRESHOLDS_FILE, statistics

# Which side of each statistic is out of distribution (see luckybag.serve.screening.statistics).
BOUNDS = {
    "ink": "min",
    "backdrop": "min",
    "fill": "max",
    "roughness": "max",
    "bands": "max",
    "confidence": "min",
}
SHOP_SEED, NON_ITEM_SEED = 1, 2


def flagged(stats: dict[str, np.ndarray], thresholds: dict[str, dict[str, float]]) -> np.ndarray:
    out = np.zeros(len(stats["ink"]), dtype=bool)
    for name, bound in thresholds.items():
        if "min" in bound:
            out |= stats[name] < bound["min"]
        if "max" in bound:
            out |= stats[name] > bound["max"]
    return out


def prepared_stats(paths: list[Path], predict: runtime.Predict) -> dict[str, np.ndarray]:
    """Read files as the CLI does (default --background auto), predict, and take the statistics."""
    inputs = read_inputs(paths)
    if inputs.problems:
        raise SystemExit(f"error: {inputs.problems[0]}")
    images = inputs.batch()
    return statistics(images, runtime.predict_probabilities(predict, images))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/model.onnx"))
    parser.add_argument("--val", type=Path, default=Path("data/prepared/val.npz"))
    parser.add_argument("--photos", type=int, default=1500, help="shop photos made from validation images")
    parser.add_argument("--non-items", type=int, default=50, help="non-items per kind (reported only)")
    parser.add_argument("--tail", type=float, default=0.002, help="share of in-distribution data outside each bound")
    parser.add_argument("--out", type=Path, default=THRESHOLDS_FILE)
    args = parser.parse_args()

    start = time.perf_counter()
    with np.load(args.val) as data:
        val_images = data["images"]
    predict = runtime.load_onnx(args.model)
    raw = statistics(val_images, runtime.predict_probabilities(predict, val_images))
    chosen = np.random.default_rng(SHOP_SEED).choice(len(val_images), args.photos, replace=False)
    with tempfile.TemporaryDirectory(prefix="luckybag-screening-") as tmp:
        shop = prepared_stats(write_shop_photos(val_images[chosen], Path(tmp) / "shop", SHOP_SEED), predict)
        kinds = write_non_items(Path(tmp) / "non", args.non_items, NON_ITEM_SEED)
        non = {kind: prepared_stats(paths, predict) for kind, paths in kinds.items()}

    fitted_on = {name: np.concatenate([raw[name], shop[name]]) for name in BOUNDS}
    thresholds = {
        name: {side: float(f"{np.quantile(fitted_on[name], args.tail if side == 'min' else 1 - args.tail):.6g}")}
        for name, side in BOUNDS.items()
    }
    rates = {
        "validation images": float(flagged(raw, thresholds).mean()),
        "validation shop photos": float(flagged(shop, thresholds).mean()),
        **{f"non-items: {kind}": float(flagged(stats, thresholds).mean()) for kind, stats in non.items()},
    }
    rates["non-items: all"] = float(np.mean([flagged(stats, thresholds).mean() for stats in non.values()]))
    write_json(
        args.out,
        {
            "thresholds": thresholds,
            "fitted_on": {
                "validation images": len(val_images),
                "validation shop photos": args.photos,
                "tail per bound": args.tail,
                "model": str(args.model),
                "command": " ".join(["python", "benchmarks/screening_fit.py", *sys.argv[1:]]),
            },
            "flagged_share": rates,
        },
    )
    for name, bound in thresholds.items():
        print(f"{name:10s} {bound}")
    for what, rate in rates.items():
        print(f"flagged  {what:28s} {rate:7.2%}")
    print(f"{args.out}: written in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
