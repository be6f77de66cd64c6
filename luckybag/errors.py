"""User-facing errors: one line, no traceback, exit status != 0."""

import functools
import sys
from collections.abc import Callable


class LuckybagError(Exception):
    """A mistake in the user's input (params, data, images, model files)."""


def one_line(err: BaseException) -> str:
    """An exception as one short line (Keras wraps the cause in a page of config)."""
    text = str(err).strip().rsplit("Exception encountered:", 1)[-1].strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def reported(func: Callable[[], int | None], status: int = 1) -> int:
    """Run ``func``; a LuckybagError (exit ``status``, default 1) or Ctrl-C (130) becomes one `error:` line."""
    try:
        return func() or 0
    except LuckybagError as err:
        print(f"error: {err}", file=sys.stderr)
        return status
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def main_guard(func: Callable[[], None]) -> Callable[[], None]:
    """For a stage script's main(): errors as :func:`reported`, then exit with its status."""
    return functools.wraps(func)(lambda: sys.exit(reported(func)))
