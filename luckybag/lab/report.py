"""Pull-request report: DVC's params and metrics diff tables and the plots of a revision (or the workspace) vs a base."""

from pathlib import Path

from luckybag.io import atomic_path, write_text
from luckybag.lab.experiments import table
from luckybag.lab.tools import ToolError, command, dvc_json, git_file, resolve_rev

WORKSPACE = "workspace"
PLOTS = {"loss": "plots/loss.png", "confusion": "plots/confusion.png"}


def md_rows(markdown: str) -> list[list[str]]:
    """The body rows of a markdown table (DVC's ``--md`` output), cells stripped."""
    lines = [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def shown(value: object) -> str:
    """A metric as its file holds it: ``true``/``false``, floats unrounded (2.36e-07, not 0.0), ``—`` where absent."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def change(old: object, new: object) -> str:
    """new − old for two numbers (``0`` when equal, signed otherwise); ``—`` for anything else."""
    if not (is_number(old) and is_number(new)):
        return "—"
    difference = new - old  # type: ignore[operator]
    return "0" if difference == 0 else format(difference, "+.6g")


def metric_rows(diff: dict[str, dict[str, dict]]) -> tuple[list[list[str]], list[list[str]]]:
    """The changed and the unchanged rows (Path, Metric, Old, New, Change) of ``dvc metrics diff --all --json``."""
    changed, unchanged = [], []
    for path, metrics in diff.items():
        for key, values in metrics.items():
            old, new = values.get("old"), values.get("new")
            (changed if old != new else unchanged).append([path, key, shown(old), shown(new), change(old, new)])
    return changed, unchanged


def metrics_blocks(diff: dict[str, dict[str, dict]]) -> list[str]:
    """The changed metrics' table, then the unchanged ones folded away (``<details>``)."""
    changed, unchanged = metric_rows(diff)
    if not changed and not unchanged:
        return ["## Metrics", "No metrics in either revision."]
    header = ["Path", "Metric", "Old", "New", "Change"]
    blocks = [f"## Metrics ({len(changed)} changed, {len(unchanged)} unchanged)"]
    blocks.append(table(header, changed) if changed else "No metric changed.")
    if unchanged:
        summary = f"<details><summary>{len(unchanged)} unchanged metrics</summary>"
        blocks += [summary, table(header, unchanged), "</details>"]
    return blocks


def headline(diff: dict[str, dict[str, dict]]) -> str:
    """``val.accuracy OLD → NEW (CHANGE)`` and the same for test accuracy, from ``dvc metrics diff --json``."""
    found = diff.get("metrics/eval.json", {})
    parts = []
    for key in ("val.accuracy", "test.accuracy"):
        if key in found:
            old, new = found[key].get("old"), found[key].get("new")
            note = "no change" if old == new else change(old, new)
            parts.append(f"{key} {shown(old)} → {shown(new)} ({note})")
    return "; ".join(parts)


def plot_rows(base: str, rev: str, labels: dict[str, str], out_dir: Path) -> list[list[str]]:
    """Per plot, the base's and the new PNG copied into ``pr-assets/`` as images, or a note where one is missing."""
    assets = out_dir / "pr-assets"
    assets.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, path in PLOTS.items():
        rows.append([])
        for side, source in (("base", base), ("new", rev)):
            target = assets / f"{side}-{name}.png"
            target.unlink(missing_ok=True)
            if source == WORKSPACE:
                content = Path(path).read_bytes() if Path(path).is_file() else None
            else:
                content = git_file(source, path)
            if content is None:
                rows[-1].append(f"*no `{path}` in {labels[source]}*")
                continue
            with atomic_path(target) as tmp:
                tmp.write_bytes(content)
            rows[-1].append(f"![{name} {labels[source]}](pr-assets/{target.name})")
    return rows


def write_pr_report(base: str, rev: str, out: Path) -> None:
    """``out``: the headline, the params diff, the metrics (changed first), the base's and new plots side by side."""
    base_sha = resolve_rev(base)
    rev_sha = None if rev == WORKSPACE else resolve_rev(rev)
    if rev_sha == base_sha:
        raise ToolError(
            f"--base {base} and --rev {rev} are the same commit ({base_sha[:7]}): nothing to compare; "
            "choose another base (e.g. HEAD~1) or leave out --rev to compare the workspace"
        )
    labels = {base: f"{base} ({base_sha[:7]})", rev: rev if rev_sha is None else f"{rev} ({rev_sha[:7]})"}
    revs = [base] if rev == WORKSPACE else [base, rev]
    params = command(["dvc", "params", "diff", *revs, "--md"])
    metrics = dvc_json(["metrics", "diff", *revs, "--all"]) or {}
    stale = ", ".join(f"`{name}`" for name in dvc_json(["status"]) or {}) if rev == WORKSPACE else ""
    changed = len(md_rows(params))
    blocks = [f"# Pipeline report: {labels[rev]} vs {labels[base]}"]
    if stale:
        blocks.append(f"> **Warning:** `dvc status` lists changes in {stale}: run `make repro` for up-to-date metrics.")
    if summary := headline(metrics):
        blocks.append(f"**{summary}**")
    blocks += [
        f"From `dvc params diff {' '.join(revs)} --md` and `dvc metrics diff {' '.join(revs)} --all --json` "
        "(values as the files hold them); Change = new − old.",
        f"## Params ({changed} changed)",
        params.strip() if changed else "No params changed.",
        *metrics_blocks(metrics),
        "## Plots",
        table([labels[base], labels[rev]], plot_rows(base, rev, labels, out.parent)),
    ]
    write_text(out, "\n\n".join(blocks) + "\n")
