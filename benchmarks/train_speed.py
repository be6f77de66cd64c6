"""Training and pipeline speed: the seed's plain Python against the project, in one run.

(a) the seed's `model.fit` (TensorFlow backend, default settings, batch 32) and (b) the project's
train stage (default params: its backend and steps per execution) at the same hyperparameters for
the same number of epochs, without early stopping: seconds per epoch, ratio, validation accuracy.
Then the whole thing: a cold `dvc repro` of HEAD with default params against the seed's steps
(load, 5-fold CV with max_iter 5, the MLP with early stopping) run as plain Python, with each stage's
own `timings/*.json` from that run. Writes benchmarks/results/train_speed.json (with the commit).

Usage: python benchmarks/train_speed.py [--epochs 20] [--skip-pipeline]
Needs the Fashion-MNIST files in /usr/share/datasets/fashion-mnist (make data).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from provenance import provenance

from luckybag.io import write_json

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks/results/train_speed.json"
BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    "DVC_NO_ANALYTICS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def sh(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def clone_head(directory: Path) -> Path:
    """A clean clone of the committed project: what `dvc repro` on main runs."""
    sh(["git", "clone", "-q", str(ROOT), str(directory)], ROOT)
    return directory


def seed(args: list[str]) -> dict:
    out = sh([sys.executable, str(ROOT / "benchmarks/seed_pipeline.py"), *args], ROOT)
    return json.loads(out.strip().splitlines()[-1])


def project_train(project: Path, epochs: int) -> dict:
    """The train stage with default params but a fixed epoch count and no early stopping."""
    for stage in ("download", "preprocess"):
        sh([sys.executable, "-m", f"stages.{stage}"], project)
    params_path = project / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["train"].update(epochs=epochs, patience=0)
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    sh([sys.executable, "-m", "stages.train"], project)
    timing = json.loads((project / "timings/train.json").read_text())
    metrics = json.loads((project / "metrics/train.json").read_text())
    return {
        "backend": timing["backend"],
        "seconds_per_epoch": timing["seconds_per_epoch"],
        "best_val_accuracy": metrics["best"]["val_accuracy"],
    }


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    sh(cmd, cwd)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    result: dict = {
        "command": " ".join(["python", "benchmarks/train_speed.py", *sys.argv[1:]]),
        **provenance(),
        "cpus": os.cpu_count(),
        "load_average_start": round(os.getloadavg()[0], 2),
        "epochs": args.epochs,
    }

    with tempfile.TemporaryDirectory() as tmp:
        print(f"(a) seed model.fit on TensorFlow, {args.epochs} epochs ...", flush=True)
        a = seed(["--skip-cv", "--no-early-stopping", "--epochs", str(args.epochs)])
        print(f"(b) project train stage, {args.epochs} epochs ...", flush=True)
        b = project_train(clone_head(Path(tmp) / "train"), args.epochs)
        print()
        print(f"| {args.epochs} epochs, batch 32 | s/epoch | best val accuracy |")
        print("|---|---|---|")
        print(f"| (a) seed `model.fit`, TensorFlow | {a['seconds_per_epoch']:.2f} | {a['best_val_accuracy']:.4f} |")
        print(f"| (b) train stage, {b['backend']} | {b['seconds_per_epoch']:.2f} | {b['best_val_accuracy']:.4f} |")
        print(
            f"epoch speed-up (a)/(b): {a['seconds_per_epoch'] / b['seconds_per_epoch']:.1f}x; "
            f"val accuracy difference {b['best_val_accuracy'] - a['best_val_accuracy']:+.4f}"
        )
        result["epoch"] = {
            "seed_fit": a,
            "train_stage": b,
            "speed_up": round(a["seconds_per_epoch"] / b["seconds_per_epoch"], 2),
            "val_accuracy_difference": round(b["best_val_accuracy"] - a["best_val_accuracy"], 4),
        }

        if args.skip_pipeline:
            write(result, args.out)
            return
        print("\n(c) seed steps as plain Python: load, CV (max_iter 5), MLP with early stopping ...", flush=True)
        start = time.perf_counter()
        c = seed([])
        c_seconds = time.perf_counter() - start
        print("(d) cold `dvc repro` of HEAD, default params ...", flush=True)
        pipeline = clone_head(Path(tmp) / "pipeline")
        d_seconds = timed(["dvc", "repro", "--force"], pipeline)
        stages = {path.stem: json.loads(path.read_text()) for path in sorted((pipeline / "timings").glob("*.json"))}
        print()
        print("| whole pipeline | seconds |")
        print("|---|---|")
        print(
            f"| (c) seed steps, plain Python (CV {c['cv_seconds']:.1f} s, {c['epochs_run']} epochs) | {c_seconds:.1f} |"
        )
        print(f"| (d) cold `dvc repro` (all six stages) | {d_seconds:.1f} |")
        print(f"pipeline speed-up (c)/(d): {c_seconds / d_seconds:.2f}x")
        result["pipeline"] = {
            "seed_steps_seconds": round(c_seconds, 1),
            "seed_steps": c,
            "dvc_repro_seconds": round(d_seconds, 1),
            "speed_up": round(c_seconds / d_seconds, 2),
            "stage_timings": stages,
        }
    write(result, args.out)


def write(result: dict, out: Path) -> None:
    result["load_average_end"] = round(os.getloadavg()[0], 2)
    write_json(out, result)
    print(f"{out}: written")


if __name__ == "__main__":
    main()
