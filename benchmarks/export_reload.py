"""The export stage with the forked reload check (OLD) and with spawned reload processes (NEW), in one run.

Each side is a temporary git worktree of its commit (OLD: the commit before the change, NEW: HEAD by
default) holding links to this workspace's real-data inputs of the stage (data/prepared, the trained
checkpoint, data/predictions.npz, metrics/train.json and eval.json, which OLD's model card reads). The
two run `python -m stages.export` alternately, --rounds times each; wall and CPU seconds (the stage and
its child processes) per run, medians and the NEW/OLD ratio go to benchmarks/results/export_reload.json.

Usage: python benchmarks/export_reload.py [--old REV] [--new REV] [--rounds 3] [--out FILE]
Run `dvc checkout` (or `dvc repro`) first so the inputs exist on the real data.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OLD = "070065f"  # main before issue 26's reload change: TensorFlow's process forked from the stage
INPUTS = ("data/prepared", "models/checkpoint.keras", "data/predictions.npz", "metrics/train.json", "metrics/eval.json")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def project(commit: str, directory: Path) -> Path:
    """A worktree of ``commit`` in ``directory`` with links to this workspace's inputs of the export stage."""
    git("worktree", "add", "--detach", str(directory), commit)
    for name in INPUTS:
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).unlink(missing_ok=True)  # the metrics are committed: this workspace's are the same
        (directory / name).symlink_to(ROOT / name)
    return directory


def timed_export(directory: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(directory)}
    env.pop("KERAS_BACKEND", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "stages.export"], cwd=directory, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"error: the export stage failed in {directory}:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default=DEFAULT_OLD)
    parser.add_argument("--new", default="HEAD")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/export_reload.json")
    args = parser.parse_args()
    missing = [name for name in INPUTS if not (ROOT / name).exists()]
    if missing:
        sys.exit(f"error: {', '.join(missing)} missing; run `dvc checkout` or `dvc repro` first")
    commits = {"old": git("rev-parse", args.old), "new": git("rev-parse", args.new)}
    load_start = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in commits}
    with tempfile.TemporaryDirectory(prefix="export-reload-") as tmp:
        try:
            sides = {side: project(commit, Path(tmp) / side) for side, commit in commits.items()}
            for round_ in range(args.rounds):
                for side in ("old", "new") if round_ % 2 == 0 else ("new", "old"):
                    runs[side].append(timed_export(sides[side]))
                    print(f"round {round_ + 1} {side}: {runs[side][-1]}", flush=True)
        finally:
            for side in commits:
                subprocess.run(["git", "worktree", "remove", "--force", str(Path(tmp) / side)], cwd=ROOT, check=False)
    median = {
        side: {key: round(statistics.median(r[key] for r in rs), 2) for key in rs[0]} for side, rs in runs.items()
    }
    ratio = {key: round(median["new"][key] / median["old"][key], 2) for key in median["new"]}
    result = {
        "command": " ".join(["python", *sys.argv]),
        **provenance(ROOT / "models/checkpoint.keras"),
        "cpus": os.cpu_count(),
        "load_average_1min": {"start": round(load_start[0], 2), "end": round(os.getloadavg()[0], 2)},
        "commits": commits,
        "runs": runs,
        "median": median,
        "ratio_new_to_old": ratio,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| export stage | wall s (median) | CPU s (median) |\n|---|---|---|")
    for side in ("old", "new"):
        print(f"| {side} ({commits[side][:7]}) | {median[side]['wall_seconds']} | {median[side]['cpu_seconds']} |")
    print(f"| new / old | {ratio['wall_seconds']} | {ratio['cpu_seconds']} |")


if __name__ == "__main__":
    main()
