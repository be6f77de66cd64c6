"""Pull-request report: params, metrics and plots of a revision (or the workspace) against a base.

``python -m luckybag.report --base main`` writes ``reports/pr.md`` from
``dvc params diff`` and ``dvc metrics diff --all`` (old, new and delta columns)
and puts the base's and the new ``plots/loss.png`` and ``plots/confusion.png``
side by side. The git/DVC helpers here are shared with :mod:`luckybag.grid`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from luckybag.errors import LuckybagError
from luckybag.io import atomic_path, write_text

WORKSPACE = "workspace"
OUT_FILE = "reports/pr.md"
ASSETS_DIR = "pr-assets"
PLOTS = {"loss": "plots/loss.png", "confusion": "plots/confusion.png"}
# The metric files in reading order; any other file follows alphabetically.
METRIC_FILES = ("metrics/eval.json", "metrics/train.json", "metrics/baseline.json", "metrics/export.json")
HEADLINE = (("metrics/eval.json", "val.accuracy"), ("metrics/eval.json", "test.accuracy"))


class ReportError(LuckybagError):
    """A bad revision or a git/DVC command that failed."""

    exit_code = 2


# --- git and DVC ------------------------------------------------------------------------------


def tool_env() -> dict[str, str]:
    """The environment for git/dvc: this interpreter's bin directory first (dvc, and python for stages)."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1"}


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def command(args: Sequence[str], cwd: Path | None = None, binary: bool = False) -> Any:
    """Run ``args``; return its stdout (bytes with ``binary``); raise ReportError with its last stderr line."""
    try:
        done = subprocess.run(list(args), cwd=cwd, env=tool_env(), capture_output=True, text=not binary)
    except FileNotFoundError:
        raise ReportError(f"{args[0]}: command not found") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace") if binary else done.stderr
        raise ReportError(f"{' '.join(args[:3])} failed: {last_line(stderr) or f'exit status {done.returncode}'}")
    return done.stdout


def dvc_json(args: Sequence[str], cwd: Path | None = None) -> Any:
    out = command(["dvc", *args, "--json"], cwd)
    try:
        return json.loads(out or "null")
    except json.JSONDecodeError:
        raise ReportError(f"dvc {' '.join(args[:2])}: output is not JSON") from None


def resolve_rev(rev: str, cwd: Path | None = None) -> str:
    """The commit SHA of ``rev``; a one-line error for anything git does not know as a commit."""
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=cwd,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise ReportError(f"unknown revision '{rev}' (not a commit in this git repository)")
    return done.stdout.strip()


def git_file(rev: str, path: str, cwd: Path | None = None) -> bytes | None:
    """The bytes of ``path`` at commit ``rev``, or None if it is not there."""
    done = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=cwd, env=tool_env(), capture_output=True)
    return done.stdout if done.returncode == 0 else None


# --- formatting ---------------------------------------------------------------------------------


def fmt(value: Any) -> str:
    """A table cell: numbers to 6 significant digits, null as ``null``, ``—`` for missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return format(value, ".6g")
    if isinstance(value, (list, dict)):
        value = json.dumps(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fmt_delta(entry: dict[str, Any], bold: bool = True) -> str:
    """new − old for numbers (bold when not 0), else added / removed / changed / empty."""
    old, new, diff = entry.get("old"), entry.get("new"), entry.get("diff")
    if not (is_number(old) and is_number(new) and is_number(diff)):
        if old is None and new is not None:
            return "added"
        if new is None and old is not None:
            return "removed"
        return "changed" if old != new else ""
    if diff == 0:
        return "0"
    text = format(diff, "+.6g") if isinstance(diff, float) else format(diff, "+d")
    return f"**{text}**" if bold else text


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def ordered_files(diff: dict[str, Any]) -> list[str]:
    known = [name for name in METRIC_FILES if name in diff]
    return known + sorted(name for name in diff if name not in METRIC_FILES)


# --- the report ---------------------------------------------------------------------------------


def diff_args(base: str, rev: str) -> list[str]:
    return [base] if rev == WORKSPACE else [base, rev]


def params_section(diff: dict[str, Any], base_label: str, new_label: str) -> list[str]:
    rows = [
        [f"`{key}`", fmt(entry.get("old")), fmt(entry.get("new")), fmt_delta(entry)]
        for path in sorted(diff)
        for key, entry in sorted(diff[path].items())
    ]
    lines = [f"## Params ({len(rows)} changed)", ""]
    if not rows:
        return lines + ["No params changed.", ""]
    return lines + table(["param", base_label, new_label, "delta"], rows) + [""]


def metrics_section(diff: dict[str, Any], base_label: str, new_label: str) -> list[str]:
    lines = ["## Metrics", ""]
    if not diff:
        return lines + ["No metrics in either revision.", ""]
    for path in ordered_files(diff):
        rows = [
            [f"`{key}`", fmt(entry.get("old")), fmt(entry.get("new")), fmt_delta(entry)]
            for key, entry in sorted(diff[path].items())
        ]
        lines += [f"### `{path}`", ""] + table(["metric", base_label, new_label, "delta"], rows) + [""]
    return lines


def headline(diff: dict[str, Any]) -> str:
    parts = []
    for path, key in HEADLINE:
        entry = diff.get(path, {}).get(key)
        if entry:
            delta = fmt_delta(entry, bold=False)
            delta = "no change" if delta in ("", "0") else delta
            parts.append(f"{key} {fmt(entry.get('old'))} → {fmt(entry.get('new'))} ({delta})")
    return "; ".join(parts)


def stale_note() -> list[str]:
    """A warning when the workspace's outputs do not match its params and code (``dvc status``)."""
    status = dvc_json(["status"]) or {}
    if not status:
        return []
    stages = ", ".join(f"`{name}`" for name in status)
    return [f"> **Warning:** `dvc status` lists changes in {stages}: run `make repro` for up-to-date metrics.", ""]


def export_plots(base: str, rev: str, assets: Path) -> dict[str, tuple[Path | None, Path | None]]:
    """Write the base's and the new PNGs into ``assets``; None where a revision has no such file."""
    assets.mkdir(parents=True, exist_ok=True)
    found: dict[str, tuple[Path | None, Path | None]] = {}
    for name, path in PLOTS.items():
        pair: list[Path | None] = []
        for side, source in (("base", base), ("new", rev)):
            target = assets / f"{side}-{name}.png"
            target.unlink(missing_ok=True)
            if source == WORKSPACE:
                content = Path(path).read_bytes() if Path(path).is_file() else None
            else:
                content = git_file(source, path)
            if content is not None:
                with atomic_path(target) as tmp:
                    tmp.write_bytes(content)
            pair.append(target if content is not None else None)
        found[name] = (pair[0], pair[1])
    return found


def plots_section(
    plots: dict[str, tuple[Path | None, Path | None]], out_dir: Path, base_label: str, new_label: str
) -> list[str]:
    def cell(path: Path | None, label: str, name: str) -> str:
        if path is None:
            return f"*no `{PLOTS[name]}` in {label}*"
        return f"![{name} {label}]({os.path.relpath(path, out_dir)})"

    rows = [[cell(old, base_label, name), cell(new, new_label, name)] for name, (old, new) in plots.items()]
    return ["## Plots", ""] + table([base_label, new_label], rows) + [""]


def label(rev: str, sha: str | None) -> str:
    return rev if sha is None else f"{rev} ({sha[:7]})"


def build_report(base: str, rev: str, out: Path) -> str:
    base_sha = resolve_rev(base)
    rev_sha = None if rev == WORKSPACE else resolve_rev(rev)
    if rev_sha == base_sha:
        raise ReportError(
            f"--base {base} and --rev {rev} are the same commit ({base_sha[:7]}): nothing to compare; "
            "choose another base (e.g. HEAD~1) or leave out --rev to compare the workspace"
        )
    base_label, new_label = label(base, base_sha), label(rev, rev_sha)
    params = dvc_json(["params", "diff", *diff_args(base, rev)]) or {}
    metrics = dvc_json(["metrics", "diff", *diff_args(base, rev), "--all"]) or {}
    plots = export_plots(base, rev, out.parent / ASSETS_DIR)

    lines = [f"# Pipeline report: {new_label} vs {base_label}", ""]
    if rev == WORKSPACE:
        lines += stale_note()
    summary = headline(metrics)
    if summary:
        lines += [f"**{summary}**", ""]
    lines += [
        f"From `dvc params diff {' '.join(diff_args(base, rev))}` and "
        f"`dvc metrics diff {' '.join(diff_args(base, rev))} --all`; delta = new − old.",
        "",
    ]
    lines += params_section(params, base_label, new_label)
    lines += metrics_section(metrics, base_label, new_label)
    lines += plots_section(plots, out.parent, base_label, new_label)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m luckybag.report", description="Markdown report of params, metrics and plots against a base."
    )
    parser.add_argument("--base", required=True, help="the git revision to compare with (e.g. main, origin/main)")
    parser.add_argument("--rev", default=WORKSPACE, help="the revision to report on (default: the workspace)")
    parser.add_argument("--out", type=Path, default=Path(OUT_FILE), help=f"the markdown file (default: {OUT_FILE})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if shutil.which("dvc", path=tool_env()["PATH"]) is None:
            raise ReportError("dvc: command not found (activate the project's .venv)")
        text = build_report(args.base, args.rev, args.out)
        write_text(args.out, text)
    except LuckybagError as err:
        print(f"error: {err}", file=sys.stderr)
        return ReportError.exit_code
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
