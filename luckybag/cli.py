"""The ``luckybag`` command."""

from __future__ import annotations

import argparse
import sys

from luckybag.errors import LuckybagError
from luckybag.predict import add_commands

PARAMS_FILE = "params.yaml"  # luckybag.params (and PyYAML) load only for check-params: predict stays light


def check_params(args: argparse.Namespace) -> int:
    from luckybag.params import problems_message, read_params, validate

    problems = validate(read_params(args.params))
    if problems:
        print(f"error: {problems_message(problems)}", file=sys.stderr)
        return 2
    print(f"{args.params}: ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luckybag", description="Fashion-MNIST lucky-bag pipeline tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-params", help="validate params.yaml against the schema")
    check.add_argument("params", nargs="?", default=PARAMS_FILE)
    check.set_defaults(func=check_params)
    add_commands(commands)  # predict, bag
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LuckybagError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
