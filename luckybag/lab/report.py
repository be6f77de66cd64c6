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


def headline(metrics: str) -> str:
    """``val.accuracy OLD → NEW (CHANGE)`` and the same for test accuracy, from DVC's metrics table."""
    found = {row[1]: row[2:] for row in md_rows(metrics) if len(row) == 5 and row[0] == "metrics/eval.json"}
    changes = [(key, *found[key]) for key in ("val.accuracy", "test.accuracy") if key in found]
    return "; ".join(
        f"{key} {old} → {new} ({'no change' if old == new else change})" for key, old, new, change in changes
    )


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
    """``out``: the headline, DVC's params and metrics diff tables, and the base's and new plots side by side."""
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
    metrics = command(["dvc", "metrics", "diff", *revs, "--all", "--md"])
    stale = ", ".join(f"`{name}`" for name in dvc_json(["status"]) or {}) if rev == WORKSPACE else ""
    changed = len(md_rows(params))
    blocks = [f"# Pipeline report: {labels[rev]} vs {labels[base]}"]
    if stale:
        blocks.append(f"> **Warning:** `dvc status` lists changes in {stale}: run `make repro` for up-to-date metrics.")
    if summary := headline(metrics):
        blocks.append(f"**{summary}**")
    blocks += [
        f"From `dvc params diff {' '.join(revs)} --md` and `dvc metrics diff {' '.join(revs)} --all --md`; "
        "Change = new − old.",
        f"## Params ({changed} changed)",
        params.strip() if changed else "No params changed.",
        "## Metrics",
        metrics.strip() if md_rows(metrics) else "No metrics in either revision.",
        "## Plots",
        table([labels[base], labels[rev]], plot_rows(base, rev, labels, out.parent)),
    ]
    write_text(out, "\n\n".join(blocks) + "\n")
