"""The default `luckybag predict` on shop-style photos of test-split items and on pictures that are not items.

Generates ``--photos`` shop photos from test-split items (shop_photos_gen.py: light or dark
backdrop of varying brightness, scale, position, rotation, uneven light, noise, blur, JPEG
quality), as many studio photos of other test-split items from a second, independent generator
(shop_photos_studio.py: coloured items on coloured paper, drop shadows, vignetting, wider framing,
shot noise, sharpening, WebP or PNG) and ``--non-items`` pictures of each kind (blank, black, noise, a page of text, crops of
plain backdrop, gradients), runs the CLI as a user would (`luckybag predict --json`, default
runtime and --background auto), and compares accuracy, ECE and mean confidence with the CLI on
the 10,000 test images themselves. Writes benchmarks/results/shop_photos.json.

    .venv/bin/python benchmarks/shop_photos.py     # ~8 min here; after `dvc repro`
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import provenance
from shop_photos_gen import write_non_items, write_shop_photos
from shop_photos_studio import write_studio_photos

from luckybag.io import write_json
from luckybag.pipeline.calibration import ece

OUT = Path("benchmarks/results/shop_photos.json")
SHOP_SEED, NON_ITEM_SEED, STUDIO_SEED = 3, 4, 5  # seeds of their own; the screen stage fits on no photos
TARGETS = {"accuracy_drop_max": 0.06, "ece_max": 0.03, "shop_flagged_max": 0.02, "non_items_flagged_min": 0.95}


def predict(paths: list[Path], model: Path | None) -> list[dict]:
    """`luckybag predict --json` on ``paths`` in one process; the records in input order."""
    cmd = [str(Path(sys.executable).with_name("luckybag")), "predict", "--json", *map(str, paths)]
    if model is not None:
        cmd += ["--model", str(model)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: luckybag predict failed: {done.stderr[-1000:]}")
    return json.loads(done.stdout)


def scores(records: list[dict], labels: np.ndarray | None = None) -> dict[str, float]:
    probs = np.array([list(r["probabilities"].values()) for r in records])
    flagged = np.array([not r["in_distribution"] for r in records])
    result = {
        "count": len(records),
        "mean_confidence": float(probs.max(axis=1).mean()),
        "flagged": float(flagged.mean()),
    }
    if labels is not None:
        right = probs.argmax(axis=1) == labels
        result.update(
            accuracy=float(right.mean()),
            ece=float(ece(probs, labels)),
            accuracy_in_distribution=float(right[~flagged].mean()),
            inverted=float(np.mean([r["inverted"] for r in records])),
        )
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="another model.onnx (default: the CLI's default)")
    parser.add_argument("--test", type=Path, default=Path("data/prepared/test.npz"))
    parser.add_argument("--photos", type=int, default=1200)
    parser.add_argument("--non-items", type=int, default=50, help="pictures per non-item kind")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    start = time.perf_counter()
    with np.load(args.test) as data:
        images, labels = data["images"], data["labels"]
    order = np.random.default_rng(SHOP_SEED).permutation(len(images))
    chosen, studio_items = np.sort(order[: args.photos]), np.sort(order[args.photos : 2 * args.photos])
    with tempfile.TemporaryDirectory(prefix="luckybag-shop-") as tmp:
        np.save(Path(tmp) / "test.npy", images)
        test = scores(predict([Path(tmp) / "test.npy"], args.model), labels)
        shop_paths = write_shop_photos(images[chosen], Path(tmp) / "shop", SHOP_SEED)
        shop = scores(predict(shop_paths, args.model), labels[chosen])
        studio_paths = write_studio_photos(images[studio_items], Path(tmp) / "studio", STUDIO_SEED)
        studio = scores(predict(studio_paths, args.model), labels[studio_items])
        kinds = write_non_items(Path(tmp) / "non", args.non_items, NON_ITEM_SEED)
        paths = [path for group in kinds.values() for path in group]
        records = predict(paths, args.model)
    non = {kind: scores(records[i * args.non_items : (i + 1) * args.non_items]) for i, kind in enumerate(kinds)}
    non_flagged = float(np.mean([r["flagged"] for r in non.values()]))
    checks = {}
    for name, photos in (("shop photos", shop), ("studio photos", studio)):
        checks |= {
            f"{name}: accuracy within 6 points of the test set's": test["accuracy"] - photos["accuracy"]
            <= TARGETS["accuracy_drop_max"],
            f"{name}: ECE <= 3 %": photos["ece"] <= TARGETS["ece_max"],
            f"{name}: <= 2 % flagged": photos["flagged"] <= TARGETS["shop_flagged_max"],
        }
    checks[">= 95 % of non-items flagged"] = non_flagged >= TARGETS["non_items_flagged_min"]
    write_json(
        args.out,
        {
            "command": " ".join(["python", "benchmarks/shop_photos.py", *sys.argv[1:]]),
            **provenance(args.model or Path("models/model.onnx")),
            "test_set": test,
            "shop_photos": shop,
            "studio_photos": studio,
            "non_items": {"flagged": round(non_flagged, 4), "per_kind": non},
            "targets_met": checks,
        },
    )
    print(f"{'':20s} {'count':>6s} {'accuracy':>9s} {'ECE':>7s} {'mean conf':>10s} {'flagged':>8s}")
    for name, s in (("test set", test), ("shop photos", shop), ("studio photos", studio)):
        print(
            f"{name:20s} {s['count']:>6d} {s['accuracy']:>9.2%} {s['ece']:>7.2%} "
            f"{s['mean_confidence']:>10.2%} {s['flagged']:>8.2%}"
        )
    for kind, s in non.items():
        print(
            f"{'non-item ' + kind:20s} {s['count']:>6d} {'':>9s} {'':>7s} {s['mean_confidence']:>10.2%} {s['flagged']:>8.2%}"
        )
    for check, ok in checks.items():
        print(f"{'met' if ok else 'MISSED':6s} {check}")
    print(f"{args.out}: written in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
