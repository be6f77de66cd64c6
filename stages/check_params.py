"""Stage check-params: validate the whole params.yaml before any other stage touches its outputs.

DVC deletes a changed stage's outputs before running it, so a stage cannot protect its own
outputs from a bad value. This stage runs first on every params change; every other stage
depends on its stamp, whose bytes never change, so they re-run only when their own params did.
"""

from luckybag.errors import main_guard
from luckybag.io import write_text
from luckybag.pipeline.params import PARAMS_FILE, load_params
from luckybag.pipeline.paths import PARAMS_OK

STAMP_TEXT = f"{PARAMS_FILE} passed luckybag check-params\n"


@main_guard
def main() -> None:
    load_params(PARAMS_FILE)
    write_text(PARAMS_OK, STAMP_TEXT)


if __name__ == "__main__":
    main()
