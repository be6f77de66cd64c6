"""The export stage before and after the parallel reload check, in one run on the same model.

(a) the export stage of BASE (default: the last commit with one reload process per format, two
at a time, each importing its whole runtime), (b) the export stage of this working tree with
default params (every format reloaded: one process per runtime, started before the export), and
(c) the same with `export.check: [onnx]`, the grid's setting. All three run on the same trained
checkpoint and test data, each after its own code's evaluate stage, alternating in every round;
wall and CPU seconds (the stage and its child processes) per run, medians, ratios.

With --previous REV, (d) the export stage of REV too (e.g. the commit before the last change).

Usage: python benchmarks/export_speed.py [--rounds 3] [--base REV] [--previous REV] [--from DIR] [--out FILE]
--from DIR: a project directory whose train stage ran on the real data (data/prepared,
models/checkpoint.keras, metrics/train.json); without it the data stages and train run first.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import yaml
from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_BASE = "f96bd9f"  # the parent of the commit that made the reload check parallel
INPUTS = ("models/checkpoint.keras", "metrics/train.json")


def sh(cmd: list[str], cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(cwd)}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} in {cwd} failed:\n{done.stderr[-2000:]}")


def code_of(rev: str | None, directory: Path) -> Path:
    """The code and params of ``rev`` (None: this working tree) in ``directory``."""
    directory.mkdir(parents=True)
    names = ["luckybag", "stages", "params.yaml"]
    if rev is None:
        for name in names:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, directory / name)
    else:
        archive = subprocess.run(["git", "archive", rev, *names], cwd=ROOT, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(directory, filter="data")
    return directory


def trained(source: Path | None, work: Path) -> Path:
    """A directory holding data/prepared and the trained checkpoint."""
    if source is not None:
        return source
    project = code_of(None, work / "train")
    for stage in ("download", "preprocess", "train"):
        print(f"  {stage} ...", flush=True)
        sh([sys.executable, "-m", f"stages.{stage}"], project)
    return project


def prepared(project: Path, source: Path) -> Path:
    """``project`` with ``source``'s data and checkpoint, after its own evaluate stage."""
    (project / "data").mkdir(exist_ok=True)
    (project / "data/prepared").symlink_to((source / "data/prepared").resolve())
    for name in INPUTS:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, project / name)
    sh([sys.executable, "-m", "stages.evaluate"], project)
    return project


def rev_parse(rev: str) -> str:
    return subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def timed_stage(project: Path) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    sh([sys.executable, "-m", "stages.export"], project)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", default=DEFAULT_BASE)
    parser.add_argument("--previous", help="also time the export stage of this commit")
    parser.add_argument("--from", dest="source", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/export_speed.json")
    args = parser.parse_args()
    if args.source is not None and not (args.source / "models/checkpoint.keras").is_file():
        sys.exit(f"error: --from {args.source}: no models/checkpoint.keras; run the train stage there first")

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="export-speed-") as tmp:
        work = Path(tmp)
        source = trained(args.source, work)
        print("evaluate for each side ...", flush=True)
        sides = {
            "before": prepared(code_of(args.base, work / "before"), source),
            "after": prepared(code_of(None, work / "after"), source),
            "after_onnx_only": prepared(code_of(None, work / "after_onnx_only"), source),
        }
        if args.previous:
            sides["previous"] = prepared(code_of(args.previous, work / "previous"), source)
        params_path = sides["after_onnx_only"] / "params.yaml"
        params = yaml.safe_load(params_path.read_text())
        params["export"]["check"] = ["onnx"]
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))

        runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        for round_ in range(args.rounds):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for side in order:
                runs[side].append(timed_stage(sides[side]))
                print(f"round {round_ + 1} {side}: {runs[side][-1]}", flush=True)
        timings = {side: json.loads((project / "timings/export.json").read_text()) for side, project in sides.items()}

    median = {
        side: {key: statistics.median(run[key] for run in side_runs) for key in ("wall_seconds", "cpu_seconds")}
        for side, side_runs in runs.items()
    }
    result = {
        "command": " ".join(["python", *sys.argv]),
        **provenance(*([args.source / "models/checkpoint.keras"] if args.source else [])),
        "cpus": os.cpu_count(),
        "load_average_1min": {"start": round(load_start[0], 2), "end": round(os.getloadavg()[0], 2)},
        "base": rev_parse(args.base),
        "previous": args.previous and rev_parse(args.previous),
        "runs": runs,
        "median": median,
        "speedup_wall": round(median["before"]["wall_seconds"] / median["after"]["wall_seconds"], 2),
        "speedup_cpu": round(median["before"]["cpu_seconds"] / median["after"]["cpu_seconds"], 2),
        "last_timings": timings,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print("| export stage | wall s (median) | CPU s (median) |")
    print("|---|---|---|")
    for side in sides:
        print(f"| {side} | {median[side]['wall_seconds']:.1f} | {median[side]['cpu_seconds']:.1f} |")
    print(f"speed-up before/after: wall {result['speedup_wall']}x, CPU {result['speedup_cpu']}x; written to {args.out}")


if __name__ == "__main__":
    main()
