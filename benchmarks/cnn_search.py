"""Choose a CNN (or dense) recipe on validation accuracy; look at the test split for the chosen one only.

Each candidate is a set of ``train.*`` overrides of params.yaml: exactly the ``-S`` values a
``dvc exp run`` of it passes. It is trained in-process with the train stage's own library
(``luckybag.pipeline.training.train``: same seed, checkpoint of the best ``monitor`` epoch, early stopping)
on the prepared train/validation split, and its validation accuracy (the epoch the checkpoint
holds), its wall-clock and CPU training time and the machine's load go into the results file,
merged by name, so a search can be split over several runs. The chosen candidate is the most
accurate on validation among those that train within ``--max-seconds`` with the machine to
themselves (CPU time over the cores: on a shared machine the wall clock also counts the others'
work); only its checkpoint is evaluated on the test split.

Usage:
  python benchmarks/cnn_search.py --family cnn [--only NAME ...] [--rerun]   # train, rank on validation
  python benchmarks/cnn_search.py --family cnn --pick-only --test            # the choice's test accuracy
  python benchmarks/cnn_search.py --family dense ...

Data: ``data/prepared/*.npz`` (the preprocess stage's output) when present, else the same split
built from the Debian package's files (``--data`` / ``--raw`` choose others).
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # provenance.py, also when a test imports this file

from provenance import provenance  # noqa: E402

from luckybag.backend import use_backend  # noqa: E402
from luckybag.io import write_json  # noqa: E402
from luckybag.pipeline import data  # noqa: E402
from luckybag.pipeline.params import TrainParams, read_params, validate  # noqa: E402

# The recipe `make cnn` ran before this search: TensorFlow (several times faster than JAX for
# convolutions here), batch 128, a cosine decay over the epochs, the most accurate validation epoch.
CNN_BASE: dict[str, Any] = {
    "model": "cnn",
    "backend": "tensorflow",
    "batch_size": 128,
    "lr_schedule": "cosine",
    "monitor": "val_accuracy",
    "patience": 0,
    "dropout": 0.4,
    "cnn.filters": [16, 32],
    "cnn.convs_per_block": 2,
}

DENSE_BASE: dict[str, Any] = {
    "batch_size": 128,
    "lr_schedule": "cosine",
    "monitor": "val_accuracy",
    "patience": 0,
}


def _layers(*units: int) -> list[dict[str, Any]]:
    return [{"units": u, "activation": "relu"} for u in units]


CANDIDATES: dict[str, dict[str, dict[str, Any]]] = {
    "cnn": {
        "c16-32x2-e25": {**CNN_BASE, "epochs": 25},
        "c16-32x2-e40": {**CNN_BASE, "epochs": 40},
        "c16-32x2-e25-ls0.1": {**CNN_BASE, "epochs": 25, "label_smoothing": 0.1},
        "c16-32x2-bn-e25": {**CNN_BASE, "epochs": 25, "cnn.batch_norm": True},
        "c16-32x2-bn-e40-ls0.1": {**CNN_BASE, "epochs": 40, "cnn.batch_norm": True, "label_smoothing": 0.1},
        "c16-32x2-bn-e40-lr3e-3": {**CNN_BASE, "epochs": 40, "cnn.batch_norm": True, "learning_rate": 0.003},
        "c24-48x2-e25": {**CNN_BASE, "epochs": 25, "cnn.filters": [24, 48]},
        "c24-48x2-e25-ls0.1": {**CNN_BASE, "epochs": 25, "cnn.filters": [24, 48], "label_smoothing": 0.1},
        "c32-64x1-bn-e30": {
            **CNN_BASE,
            "epochs": 30,
            "cnn.batch_norm": True,
            "cnn.filters": [32, 64],
            "cnn.convs_per_block": 1,
        },
    },
    "dense": {
        "seed-default": {},
        "d512x2-drop0.3-e30": {**DENSE_BASE, "hidden_layers": _layers(512, 512), "dropout": 0.3, "epochs": 30},
        "d512x2-drop0.4-e50": {**DENSE_BASE, "hidden_layers": _layers(512, 512), "dropout": 0.4, "epochs": 50},
        "d1024x2-drop0.5-e50": {**DENSE_BASE, "hidden_layers": _layers(1024, 1024), "dropout": 0.5, "epochs": 50},
        "d512x3-drop0.3-e50": {**DENSE_BASE, "hidden_layers": _layers(512, 512, 512), "dropout": 0.3, "epochs": 50},
    },
}


def with_overrides(train: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``train`` with dotted keys set (``cnn.filters`` sets ``train['cnn']['filters']``), as ``-S train.KEY=VALUE``."""
    params = json.loads(json.dumps(train))
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        target = params
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return params


def set_args(overrides: dict[str, Any]) -> list[str]:
    """The ``dvc exp run`` arguments that give the same params."""
    return [f"-S 'train.{key}={json.dumps(value).replace(chr(34), '')}'" for key, value in overrides.items()]


def load_splits(prepared: Path, raw: Path, test_size: float, random_state: int) -> dict[str, data.Split]:
    """The preprocess stage's split: its files when present, else the same calls on ``raw``."""
    if all((prepared / f"{name}.npz").is_file() for name in ("train", "val", "test")):
        return {name: data.load_split(prepared / f"{name}.npz") for name in ("train", "val", "test")}
    from sklearn.model_selection import train_test_split

    images, labels = data.load_raw(raw, "train")
    train_x, val_x, train_y, val_y = train_test_split(images, labels, test_size=test_size, random_state=random_state)
    test_x, test_y = data.load_raw(raw, "t10k")
    return {"train": data.Split(train_x, train_y), "val": data.Split(val_x, val_y), "test": data.Split(test_x, test_y)}


def run_candidate(params: TrainParams, splits: dict[str, data.Split], checkpoint: Path) -> dict[str, Any]:
    from luckybag.pipeline import training

    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    result = training.train(params, splits["train"], splits["val"], checkpoint, verbose=0)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    best = result.best_epoch - 1
    return {
        "val_accuracy": round(result.history["val_accuracy"][best], 6),
        "val_loss": round(result.history["val_loss"][best], 6),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "train_seconds": round(seconds, 1),
        "seconds_per_epoch": round(seconds / result.epochs_run, 2),
        "params_count": result.model.count_params(),
        # CPU time of all this process's threads; / cpus is the wall time with the machine to itself
        "cpu_seconds": round(cpu_seconds, 1),
        # other work on the machine slows training: the 1-minute load average before and after
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def test_accuracy(checkpoint: Path, split: data.Split) -> float:
    import numpy as np

    from luckybag.pipeline.models import load_checkpoint

    probs = np.asarray(load_checkpoint(checkpoint).predict(split.images, batch_size=1024, verbose=0))
    return float(np.mean(probs.argmax(axis=1) == split.labels))


def own_seconds(record: dict[str, Any]) -> float:
    """Training time with the machine to itself: the run's CPU time spread over all cores where it was
    recorded (other work slows the wall clock of a shared machine), else the wall time."""
    if "cpu_seconds" in record:
        return record["cpu_seconds"] / record["machine"]["cpus"]
    return record["train_seconds"]


def choose(candidates: dict[str, dict[str, Any]], max_seconds: float) -> str | None:
    """The most accurate on validation (then the faster) among those that train within ``max_seconds``."""
    within = [(name, r) for name, r in candidates.items() if own_seconds(r) <= max_seconds]
    if not within:
        return None
    return max(within, key=lambda item: (item[1]["val_accuracy"], -own_seconds(item[1])))[0]


def accelerator() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform} {device.device_kind}"
    return "cpu"


def machine() -> dict[str, Any]:
    return {
        "accelerator": accelerator(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def read_results(path: Path) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"candidates": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(CANDIDATES), default="cnn")
    parser.add_argument("--candidates", type=Path, help="a JSON file of {name: overrides} instead of the family's")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these candidates")
    parser.add_argument("--rerun", action="store_true", help="train candidates already in the results file again")
    parser.add_argument("--pick-only", action="store_true", help="train nothing; choose from the results file")
    parser.add_argument("--test", action="store_true", help="evaluate the chosen candidate on the test split")
    parser.add_argument("--backend", help="train every candidate on this Keras backend instead of its own")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="training-time limit of the choice")
    parser.add_argument("--results", type=Path, help="default: benchmarks/results/<family>_search.json")
    parser.add_argument("--data", type=Path, default=ROOT / "data/prepared")
    parser.add_argument("--raw", type=Path, default=data.DEBIAN_DIR)
    parser.add_argument("--checkpoints", type=Path, default=Path("/tmp/luckybag-search"))
    args = parser.parse_args()

    candidates = json.loads(args.candidates.read_text()) if args.candidates else CANDIDATES[args.family]
    unknown = sorted(set(args.only or ()) - set(candidates))
    if unknown:
        sys.exit(f"error: --only: unknown candidate(s) {', '.join(unknown)}; expected some of {', '.join(candidates)}")
    params = read_params(ROOT / "params.yaml")
    results_path = args.results or ROOT / f"benchmarks/results/{args.family}_search.json"
    results = read_results(results_path)
    checkpoints = args.checkpoints / args.family

    todo = [name for name in (args.only or candidates) if args.rerun or name not in results["candidates"]]
    if args.pick_only:
        todo = []
    backend = {"backend": args.backend} if args.backend else {}
    trains: dict[str, TrainParams] = {}
    for name in todo:  # every candidate valid before any training
        train = with_overrides(params["train"], {**candidates[name], **backend})
        if problems := validate({**params, "train": train}):
            sys.exit(f"error: candidate {name}: {problems[0]}")
        trains[name] = TrainParams.model_validate(train)
    backends = {train.backend for train in trains.values()}
    if len(backends) > 1:
        sys.exit(
            f"error: candidates {', '.join(todo)} need several backends ({', '.join(sorted(backends))}); run them apart"
        )
    # the candidates' own backend; a choice without training evaluates on the family's
    family_backend = CANDIDATES[args.family][next(iter(CANDIDATES[args.family]))].get("backend")
    use_backend(backends.pop() if backends else args.backend or family_backend or params["train"]["backend"])

    pre = params["preprocess"]
    splits = load_splits(args.data, args.raw, pre["test_size"], pre["random_state"])
    for i, name in enumerate(todo, start=1):
        print(f"[{i}/{len(todo)}] {name}: training ...", flush=True)
        record = run_candidate(trains[name], splits, checkpoints / f"{name}.keras")
        results["candidates"][name] = {
            **record,
            "backend": trains[name].backend,
            "overrides": candidates[name],
            "dvc_exp_set": " ".join(set_args(candidates[name])),
            "machine": machine(),
            **provenance(),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ"),
        }
        print(
            f"  val accuracy {record['val_accuracy']:.4f} (epoch {record['best_epoch']} of {record['epochs_run']}), "
            f"{record['train_seconds']:.0f} s of training",
            flush=True,
        )
        write_json(results_path, results)  # after each candidate: a long search can be stopped and resumed

    print(f"\n{'candidate':40} {'val acc':>8} {'wall s':>8} {'own s':>8}")
    for name, r in sorted(results["candidates"].items(), key=lambda item: -item[1]["val_accuracy"]):
        print(f"{name:40} {r['val_accuracy']:8.4f} {r['train_seconds']:8.0f} {own_seconds(r):8.0f}")
    chosen = choose(results["candidates"], args.max_seconds)
    if chosen is None:
        sys.exit(f"error: no candidate trained within {args.max_seconds:.0f} s")
    record = results["candidates"][chosen]
    print(f"\nchosen on validation: {chosen} (val {record['val_accuracy']:.4f}, {own_seconds(record):.0f} s)")
    if not args.test:
        return
    checkpoint = checkpoints / f"{chosen}.keras"
    if not checkpoint.is_file():
        sys.exit(f"error: {checkpoint}: the chosen candidate's checkpoint is missing; run --only {chosen} --rerun")
    accuracy = test_accuracy(checkpoint, splits["test"])
    results["chosen"] = {
        "name": chosen,
        "max_seconds": args.max_seconds,
        "val_accuracy": record["val_accuracy"],
        "test_accuracy": round(accuracy, 6),
        "train_seconds": record["train_seconds"],
        "own_seconds": round(own_seconds(record), 1),
        **provenance(checkpoint),
    }
    write_json(results_path, results)
    print(f"{chosen}: test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
