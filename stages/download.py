"""Stage download: the four Fashion-MNIST .gz files into data/raw/, checksummed."""

from luckybag.errors import main_guard
from luckybag.pipeline import data
from luckybag.pipeline.params import load_section
from luckybag.pipeline.paths import RAW_DIR


@main_guard
def main() -> None:
    params = load_section("download")
    data.download(data.default_sources(params.mirror), RAW_DIR, params.timeout, params.sha256)


if __name__ == "__main__":
    main()
