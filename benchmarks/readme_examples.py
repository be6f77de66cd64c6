"""The README's `luckybag predict` / `luckybag bag` example, run for its figures.

Writes the first three test images as PNGs (as the README's block does), runs `luckybag predict --json` and
`luckybag bag --top-k 3 --json` on them with the served model and records the answers, with the commit and
the model's MD5, in benchmarks/results/readme_examples.json (the README's example percentages come from it;
tests/test_figures.py checks them). A few seconds.

    .venv/bin/python benchmarks/readme_examples.py     # after `dvc repro` (models/, data/raw/)
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from provenance import ROOT, provenance

from luckybag.io import write_json
from luckybag.pipeline.data import read_images

OUT = ROOT / "benchmarks/results/readme_examples.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="directory with model.onnx, labels.json")
    parser.add_argument("--images", type=Path, default=ROOT / "data/raw/t10k-images-idx3-ubyte.gz")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    model = args.models / "model.onnx"
    with tempfile.TemporaryDirectory(prefix="luckybag-readme-") as tmp:
        paths = []
        for i, image in enumerate(read_images(args.images)[:3]):
            paths.append(Path(tmp) / f"item{i}.png")
            Image.fromarray(image).save(paths[-1])
        cli = [sys.executable, "-m", "luckybag"]
        files = [str(path) for path in paths]
        common = ["--model", str(model), "--json"]
        predict = subprocess.run([*cli, "predict", *files, *common], capture_output=True, text=True, check=True)
        bag = subprocess.run([*cli, "bag", *files, "--top-k", "3", *common], capture_output=True, text=True, check=True)
    answers = {"predict": json.loads(predict.stdout), "bag": json.loads(bag.stdout)}
    for record in answers["predict"]:
        record["input"] = Path(record["input"]).name  # not the temporary directory
    answers["bag"]["inputs"] = [Path(name).name for name in answers["bag"]["inputs"]]
    write_json(
        args.out,
        {
            "command": " ".join(["python", "benchmarks/readme_examples.py", *sys.argv[1:]]),
            **provenance(model),
            **answers,
        },
    )
    print(f"{args.out}: written")


if __name__ == "__main__":
    main()
