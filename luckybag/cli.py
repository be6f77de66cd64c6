"""The ``luckybag`` command: every tool of the project as a sub-command, with one error handler."""

import argparse
import functools
from collections.abc import Callable, Sequence
from pathlib import Path

from luckybag.contract import NUM_CLASSES, SERVED_FORMATS
from luckybag.errors import reported


def whole_number(text: str, low: int, high: int) -> int:
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not low <= k <= high:
        raise argparse.ArgumentTypeError(f"{k} is outside {low}-{high}")
    return k


top_k = functools.partial(whole_number, low=1, high=NUM_CLASSES)
jobs = functools.partial(whole_number, low=1, high=64)


# Sub-commands import their modules when they run: `luckybag predict` must not load Keras, PyYAML or DVC.
def predict(args: argparse.Namespace) -> int:
    from luckybag.serve.predict import run

    background = "light" if args.invert else args.background
    return run(
        args.command,
        args.images,
        model=args.model,
        runtime=args.runtime,
        labels=args.labels,
        background=background,
        as_json=args.json,
        top_k=args.top_k,
    )


def check_params(args: argparse.Namespace) -> None:
    from luckybag.pipeline.params import load_params

    load_params(args.params)
    print(f"{args.params}: ok")


def grid(args: argparse.Namespace) -> int:
    from luckybag.lab.grid import run

    shared = {"storage": args.storage, "push": args.push, "study": args.study}
    return run(args.grid, args.only, args.report, report_only=args.report_only, dry=args.dry, jobs=args.jobs, **shared)


def search(args: argparse.Namespace) -> int:
    from luckybag.lab.search import run

    shared = {"storage": args.storage, "push": args.push, "study": args.study}
    return run(
        args.space, args.report, report_only=args.report_only, workers=args.workers, n_trials=args.n_trials, **shared
    )


def report(args: argparse.Namespace) -> None:
    from luckybag.lab.report import write_pr_report

    write_pr_report(args.base, args.rev, args.out)
    print(f"report: {args.out}")


def experiments_report(args: argparse.Namespace) -> None:
    from luckybag.lab.experiments_report import write_experiments_report

    write_experiments_report(args.names, args.rev, args.out)
    print(f"wrote {args.out}")


def add_inputs(parser: argparse.ArgumentParser, top_k_default: int, top_k_help: str) -> None:
    parser.add_argument(
        "images",
        nargs="+",
        type=Path,
        metavar="IMAGE",
        help="PNG/JPEG photo, .npy array (28x28 or Nx28x28, values 0-255) or IDX image file (raw or .gz)",
    )
    backdrop = parser.add_mutually_exclusive_group()
    backdrop.add_argument(
        "--background",
        choices=("auto", "light", "dark"),
        default="auto",
        help="the photos' backdrop: light (a dark item on it; inverted), dark, or auto: told from the border "
        "(default: %(default)s)",
    )
    backdrop.add_argument("--invert", action="store_true", help="same as --background light")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--runtime",
        choices=SERVED_FORMATS,
        help="onnx: models/model.onnx on onnxruntime (default; keras for a --model ending in .keras); "
        "keras: models/model.keras on Keras",
    )
    parser.add_argument("--model", type=Path, help="exported model file (default: the runtime's file in models/)")
    parser.add_argument("--labels", type=Path, help="class names JSON (default: labels.json beside the model)")
    parser.add_argument("--top-k", type=top_k, default=top_k_default, metavar="K", help=top_k_help)


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int | None], str, str, str]] = {
    # name: (handler, help, description, example)
    "predict": (
        predict,
        "classify photos or pixel arrays with the exported model",
        "Classify each item: the top classes and their probabilities. Inputs that do not look like one fashion "
        "item on a plain backdrop are flagged.",
        "luckybag predict shop/coat.jpg shop/bag.png --top-k 2",
    ),
    "bag": (
        predict,
        "expected contents of a lucky bag holding these items",
        "For each class: the expected number of items and the probability of at least one. Inputs that do not "
        "look like one fashion item are left out.",
        "luckybag bag shop/*.jpg --json",
    ),
    "check-params": (
        check_params,
        "validate params.yaml against the schema",
        "Check every section of a params file: each wrong key is named with its value and what is allowed.",
        "luckybag check-params params.yaml",
    ),
    "grid": (
        grid,
        "run grid.yaml's experiments with `dvc exp run --temp` and report them",
        "Run the grid's experiments (--jobs at a time) from the committed code and params, then rank them in a "
        "markdown report (every number from `dvc exp show --json`).",
        "luckybag grid --only sgd-lr0.1-drop0.3",
    ),
    "search": (
        search,
        "search a space of params with Optuna, each trial a `dvc exp run --temp` experiment",
        "Run (or join) the space's Optuna study: each trial is a named DVC experiment whose validation figure is "
        "the objective; then write a markdown report. Several workers and machines can share one study.",
        "luckybag search search.yaml --storage postgresql+psycopg2://me@db/luckybag --push origin",
    ),
    "report": (
        report,
        "markdown report of params, metrics and plots against a base revision",
        "Compare the workspace (or --rev) with --base: `dvc params diff`, `dvc metrics diff` and the plots, "
        "for a pull-request comment.",
        "luckybag report --base main --out reports/pr.md",
    ),
    "experiments-report": (
        experiments_report,
        "report the named experiments against their baseline commit",
        "A markdown table of the named experiments of one commit (from `dvc exp show --json`) and what each changes.",
        "luckybag experiments-report --names cnn dense-best",
    ),
}


def installed_version() -> str:
    """The version of the installed package's metadata (pyproject.toml's, as pip installed it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("luckybag")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luckybag", description="Fashion-MNIST lucky-bag pipeline tools.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter  # the descriptions and examples as written
    sub = {}
    for name, (_handler, summary, description, example) in COMMANDS.items():
        epilog = f"example:\n  {example}"
        sub[name] = commands.add_parser(name, help=summary, description=description, epilog=epilog, formatter_class=raw)
    add_inputs(sub["predict"], 3, "classes shown per item (default: 3)")
    add_inputs(sub["bag"], NUM_CLASSES, f"classes shown, most expected first (default: all {NUM_CLASSES})")
    sub["check-params"].add_argument("params", nargs="?", default="params.yaml", help="default: %(default)s")
    grid = sub["grid"]
    grid.add_argument("--grid", type=Path, default=Path("grid.yaml"), help="the grid file (default: %(default)s)")
    grid.add_argument("--report", type=Path, default=Path("reports/grid.md"), help="the report (default: %(default)s)")
    grid.add_argument("--only", nargs="+", action="extend", metavar="NAME", help="run only these experiments")
    grid.add_argument(
        "--jobs", type=jobs, default=2, help="experiments run at once (default: %(default)s, for two cores)"
    )
    mode = grid.add_mutually_exclusive_group()
    mode.add_argument("--report-only", action="store_true", help="run nothing; rebuild the report")
    mode.add_argument("--dry", action="store_true", help="print the dvc commands; run nothing")
    for name in ("grid", "search"):
        shared = sub[name]
        shared.add_argument(
            "--storage",
            help="Optuna storage: a database URL (postgresql+psycopg2://USER:PASSWORD@HOST/DB) for many machines, "
            "or a journal file (default: $LUCKYBAG_SEARCH_STORAGE, else .dvc/tmp/search.journal)",
        )
        shared.add_argument("--push", metavar="REMOTE", help="`dvc exp push REMOTE NAME` each finished trial")
        shared.add_argument("--study", help="the study's name (default: the file's `study`, else its name)")
    space = sub["search"]
    space.add_argument("space", type=Path, help="the search space (YAML)")
    space.add_argument("--report", type=Path, default=Path("reports/search.md"), help="default: %(default)s")
    space.add_argument("--workers", type=jobs, help="local workers (default: the file's `workers`)")
    space.add_argument(
        "--n-trials", type=functools.partial(whole_number, low=1, high=100000), help="default: the file's"
    )
    space.add_argument("--report-only", action="store_true", help="run nothing; rebuild the report")
    sub["report"].add_argument("--base", required=True, help="the git revision to compare with (e.g. main)")
    sub["report"].add_argument("--rev", default="workspace", help="the revision to report on (default: %(default)s)")
    sub["report"].add_argument("--out", type=Path, default=Path("reports/pr.md"), help="default: %(default)s")
    experiments = sub["experiments-report"]
    experiments.add_argument("--names", nargs="+", default=["cnn", "dense-best"], help="default: cnn dense-best")
    experiments.add_argument("--rev", default="HEAD", help="the commit the experiments ran from (default: HEAD)")
    experiments.add_argument("--out", type=Path, default=Path("reports/experiments.md"), help="default: %(default)s")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return reported(lambda: COMMANDS[args.command][0](args), status=2)
