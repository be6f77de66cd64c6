"""`make grid` before and after (issue 12) in one run: grid.yaml's experiments at BASE and at HEAD.

Each side is a clone of its commit that shares this project's cached files (not its run-cache). A warm-up `dvc repro` of
the default pipeline comes first, so download, preprocess and baseline come from the cache in every
experiment, as they do in the project. Then `luckybag grid` (what `make grid` runs) is timed
as a whole process. "Results unchanged": every metric of every experiment, side by side, with the
largest difference. Writes benchmarks/results/grid_speed.json, and with --keep-report the after
side's report (reports/grid.md and its figure) into this project.

    .venv/bin/python benchmarks/grid_speed.py [--base f96bd9f] [--only NAME ...]
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from provenance import provenance

from luckybag.io import write_json
from luckybag.lab.experiments import dig, experiment_rows, flatten
from luckybag.lab.grid_report import figure_path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_BASE = "f96bd9f"  # the parent of the grid's `export.check: [onnx]` and of the parallel reload check
OUT = ROOT / "benchmarks/results/grid_speed.json"


def sh(cmd: list[str], cwd: Path, capture: bool = False, extra_env: dict[str, str] | None = None) -> str:
    # PYTHONPATH=.: every stage imports the library of the commit it runs (in its --temp copy), not this tree's.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": ".", **(extra_env or {})}
    done = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=capture)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} in {cwd} failed:\n{(done.stderr or '')[-2000:]}")
    return done.stdout or ""


def clone(rev: str, directory: Path) -> str:
    """A clone of ``rev`` in ``directory`` that uses this project's DVC cache; returns the full commit."""
    sh(["git", "clone", "-q", "--no-checkout", str(ROOT), str(directory)], ROOT)
    sh(["git", "checkout", "-q", "--detach", rev], directory)
    # The project's cached files, but a run-cache of its own: a stage run earlier (an older benchmark,
    # an experiment) must not be restored instead of run.
    cache = directory.parent / f"{directory.name}-cache"
    (cache / "runs").mkdir(parents=True)
    # The cache this project uses (a worktree's may be configured elsewhere with `dvc cache dir --local`).
    project_cache = Path(sh(["dvc", "cache", "dir"], ROOT, capture=True).strip())
    (cache / "files").symlink_to(project_cache / "files", target_is_directory=True)
    sh(["dvc", "cache", "dir", "--local", str(cache)], directory)
    return sh(["git", "rev-parse", "HEAD"], directory, capture=True).strip()


def metrics_by_experiment(directory: Path, commit: str) -> dict[str, dict[str, Any]]:
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], directory, capture=True))
    _, rows = experiment_rows(shown, commit)
    results = {}
    for name, row in rows.items():
        files = dig(row, "data", "metrics")
        results[name] = {
            f"{path}:{key}": value
            for path, content in (files if isinstance(files, dict) else {}).items()
            for key, value in flatten((content or {}).get("data") or {}).items()
        }
    return results


def run_side(rev: str, directory: Path, only: list[str], jax_cache: Path | None) -> dict[str, Any]:
    """``jax_cache``: JAX's compile cache for this side (None: off, as before the cache existed); emptied
    after the warm-up, so the timed grid compiles its first programs as a first grid on a machine would."""
    env = {"JAX_COMPILATION_CACHE_DIR": str(jax_cache or "")}
    commit = clone(rev, directory)
    print(f"{rev} ({commit[:7]}): warm-up dvc repro ...", flush=True)
    sh(["dvc", "repro", "-q"], directory, extra_env=env)
    if jax_cache:
        shutil.rmtree(jax_cache, ignore_errors=True)
    cli = directory / "luckybag/cli.py"  # older commits have no `luckybag grid`, only `python -m luckybag.grid`
    grid = ["luckybag", "grid"] if cli.is_file() and '"grid"' in cli.read_text() else ["luckybag.grid"]
    cmd = [sys.executable, "-m", *grid, "--grid", "grid.yaml", "--report", "reports/grid.md"]
    if only:
        cmd += ["--only", *only]
    print(f"{rev}: {' '.join(cmd[1:])} ...", flush=True)
    start, cpu = time.perf_counter(), children_cpu()
    sh(cmd, directory, extra_env=env)
    wall = time.perf_counter() - start
    return {
        "rev": rev,
        "commit": commit,
        "command": " ".join(cmd[2:]),
        "jax_compile_cache": "a new empty directory" if jax_cache else "off",
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(children_cpu() - cpu, 1),
        "metrics": metrics_by_experiment(directory, commit),
    }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def compare(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """For the metrics both sides report: the largest absolute difference, and where it is."""
    largest, where, compared = 0.0, None, 0
    for name in sorted(before.keys() & after.keys()):
        for key in sorted(before[name].keys() & after[name].keys()):
            a, b = before[name][key], after[name][key]
            if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                compared += 1
                if abs(a - b) > largest:
                    largest, where = abs(a - b), f"{name} {key}: {a} -> {b}"
    return {
        "experiments_both": len(before.keys() & after.keys()),
        "values_compared": compared,
        "max_abs_diff": largest,
        "at": where,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE)
    parser.add_argument("--only", nargs="*", default=[], help="experiment names (default: the whole grid)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--keep-report", action="store_true", help="copy the after side's reports/grid.md here")
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="luckybag-grid-speed-") as tmp:
        sides = {
            "before": run_side(args.base, Path(tmp) / "before", args.only, None),
            "after": run_side("HEAD", Path(tmp) / "after", args.only, Path(tmp) / "jax-cache"),
        }
        if args.keep_report:
            report = Path(tmp) / "after/reports/grid.md"
            for path in (report, figure_path(report)):
                shutil.copy2(path, ROOT / "reports" / path.name)
    same = compare(sides["before"]["metrics"], sides["after"]["metrics"])
    ratio = sides["before"]["wall_seconds"] / sides["after"]["wall_seconds"]
    write_json(
        args.out,
        {
            "command": " ".join(["python", "benchmarks/grid_speed.py", *sys.argv[1:]]),
            **provenance(),
            "cpus": os.cpu_count(),
            "load_average_before_after": [load_before, round(os.getloadavg()[0], 2)],
            "sides": sides,
            "speed_up": round(ratio, 2),
            "results_compared": same,
        },
    )
    for side in ("before", "after"):
        s = sides[side]
        print(f"{side:6s} {s['rev']:>8s}: {s['wall_seconds']:7.1f} s wall, {s['cpu_seconds']:7.1f} s CPU, ", end="")
        print(f"{len(s['metrics'])} experiments")
    print(f"speed-up {ratio:.2f}x; results: {same}")
    print(f"{args.out}: written")


if __name__ == "__main__":
    main()
