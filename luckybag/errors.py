"""User-facing errors: one line, no traceback, exit status != 0."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable


class LuckybagError(Exception):
    """A mistake in the user's input (params, data, images, model files)."""

    exit_code = 1


def main_guard(func: Callable[[], None]) -> Callable[[], None]:
    """For a stage script's main(): a LuckybagError or Ctrl-C becomes one `error:` line and a non-zero exit."""

    @functools.wraps(func)
    def wrapper() -> None:
        try:
            func()
        except LuckybagError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper
