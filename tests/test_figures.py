"""Every figure in README.md and BENCHMARKS.md is found, as printed, in the file it names.

The mechanism (fast, no training):

- ``<!-- figures: FILE [FILE ...] -->`` marks the lines that follow, up to the next marker or heading, as
  figures from those files (paths relative to the repository: ``benchmarks/results/*.json``, ``metrics/*.json``,
  or a markdown file such as ``models/MODEL_CARD.md``). ``<!-- figures: none -->`` ends a marked stretch.
- In a marked stretch every *measured-looking* number is checked: one with a decimal point, a ``%`` or a ``×``
  (``0.8788``, ``1,428.6``, ``93 %``, ``2.28×``, ``1.3e-6``; a range ``63–89 %`` is two). Not checked: inline
  code (backticks: names, commands, params), numbers after ``<``, ``>``, ``≤``, ``≥`` (targets and bounds),
  after ``≈`` (a figure computed from others, said to be so in the text), versions (``3.15.1``), and in fenced
  code blocks everything but the comments (the example output after ``#``).
- A number is found when some numeric leaf of the files, rounded to the printed decimals, equals it; a ``%``
  figure also matches a fraction (0.8743 is ``87.43 %``). In a markdown source every number of its text is a leaf.
- Numbers that are not measurements but sit in a marked stretch (a dropout of 0.4 in prose) go on the marker's
  short allow-list, each with its reason: ``<!-- figures: FILE | not measured: 0.4 (dropout), 1.5 (px, generator) -->``.
- Seed figures (the textbook notes', ``../shared/seed/README.md``) are written inside a parenthesis starting with
  "seed" or just before one, e.g. ``(seed: 5 → 0.8196)`` or ``0.8885 (seed)``, anywhere in either document; they are checked against
  that file when it exists (it lives beside the repository on this machine, not in it) and skipped otherwise.
- BENCHMARKS.md is figures throughout: a measured-looking number outside every marked stretch fails.

To mark a new section: put the marker under its heading, run this test, and move each reported number
into its file (rerun the benchmark) or out of the text.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared/seed/README.md"
DOCS = ("README.md", "BENCHMARKS.md")
FIGURES_THROUGHOUT = ("BENCHMARKS.md",)

MARKER = re.compile(r"^\s*<!--\s*figures:\s*(.*?)\s*-->")
HEADING = re.compile(r"^#{1,6} ")
FENCE = re.compile(r"^\s*```")
CODE_SPAN = re.compile(r"`[^`]*`")
SEED_PAREN = re.compile(r"(?<![\w.])(?:\d[\d,.]*\s?%?\s*)?\(seed\b[^)]*\)")  # 0.8196 (seed), (seed: 5 → 0.8196)
NUMBER = re.compile(
    r"(?P<bound>[<>≤≥≈]\s*)?"
    r"(?<![\w.×])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<exp>e[-+]?\d+)?"
    r"(?P<after>\.\d|[\w-]*[a-zA-Z_]\d)?"  # a version (3.15.1) or a name (c16-32x2): not a figure
    r"(?P<unit>\s?%|\s?×(?!\s?\d))?"  # 2×2 or 4 × 50 is a size or count, not a ratio
)


@dataclass(frozen=True)
class Figure:
    text: str  # as printed, without the unit
    percent: bool

    @property
    def value(self) -> float:
        return float(self.text.replace(",", ""))

    def found_in(self, leaves: list[float]) -> bool:
        mantissa, _, exponent = self.text.replace(",", "").partition("e")
        decimals = len(mantissa.partition(".")[2]) - int(exponent or 0)
        half = 0.5 * 10.0**-decimals * (1 + 1e-9)
        candidates = [v * 100 for v in leaves] + leaves if self.percent else leaves
        return any(abs(v - self.value) <= half for v in candidates)

    def __str__(self) -> str:
        return self.text + (" %" if self.percent else "")


def figures(text: str) -> list[Figure]:
    """The measured-looking numbers of a line of prose (see the module's docstring)."""
    text = CODE_SPAN.sub(" ", text)
    matches = [match for match in NUMBER.finditer(text) if not match["after"]]
    result = []
    for i, match in enumerate(matches):
        unit = (match["unit"] or "").strip()
        following = matches[i + 1] if i + 1 < len(matches) else None
        if not unit and following and text[match.end() : following.start()].strip() in ("–", "-"):
            unit = (following["unit"] or "").strip()  # 63–89 %: both ends are percentages
        if match["bound"]:
            continue
        if "." in match["num"] or match["exp"] or unit:
            result.append(Figure(match["num"] + (match["exp"] or ""), unit == "%"))
    return result


def prose(line: str, in_fence: bool) -> str:
    """The part of a line whose numbers count: all of it, or in a fenced block only its comment."""
    if not in_fence:
        return line
    return line.partition("#")[2] if "#" in line else ""


@dataclass
class Section:
    doc: str
    line: int
    sources: list[str]
    not_measured: list[Figure]
    figures: list[tuple[int, Figure]] = field(default_factory=list)


def parse_marker(body: str) -> tuple[list[str], list[Figure]]:
    sources, _, allowed = body.partition("|")
    allowed = re.sub(r"^\s*not measured:", "", allowed)
    allowed = re.sub(r"\([^)]*\)", " ", allowed)  # the reasons
    return sources.split(), figures(allowed)


def read(doc: str) -> tuple[list[Section], list[tuple[int, Figure]], list[tuple[int, Figure]]]:
    """The doc's marked sections with their figures, its seed figures, and its figures outside every section."""
    sections: list[Section] = []
    seed: list[tuple[int, Figure]] = []
    unmarked: list[tuple[int, Figure]] = []
    current: Section | None = None
    in_fence = False
    for number, line in enumerate((ROOT / doc).read_text().splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence and HEADING.match(line):
            current = None
            continue
        if marker := MARKER.search(line):
            sources, allowed = parse_marker(marker[1])
            current = None if sources == ["none"] else Section(doc, number, sources, allowed)
            if current:
                sections.append(current)
            continue
        text = prose(line, in_fence)
        for paren in SEED_PAREN.findall(CODE_SPAN.sub(" ", text)):
            seed += [(number, figure) for figure in figures(paren)]
        text = SEED_PAREN.sub(" ", text)
        found = [(number, figure) for figure in figures(text)]
        if current:
            current.figures += [(n, f) for n, f in found if f not in current.not_measured]
        else:
            unmarked += found
    return sections, seed, unmarked


def leaves(value) -> list[float]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return []


def source_leaves(path: Path) -> list[float]:
    if path.suffix == ".json":
        return leaves(json.loads(path.read_text()))
    return [figure.value for line in path.read_text().splitlines() for figure in all_numbers(line)]


def all_numbers(text: str) -> list[Figure]:
    return [Figure(m["num"] + (m["exp"] or ""), False) for m in NUMBER.finditer(text)]


SECTIONS = [section for doc in DOCS for section in read(doc)[0]]


def test_the_mechanism_reads_figures_as_printed():
    assert [str(f) for f in figures("0.8788 and 1,428.6 s, 93 %, 2.28× and 12 s")] == [
        "0.8788",
        "1,428.6",
        "93 %",
        "2.28",
        # 12 s: a whole number without % or ×, not checked
    ]
    assert [str(f) for f in figures("63–89 %, ≤ 2 %, > 99.9%, ≈ 5.3 s, JAX 0.11.2, `dropout=0.3`, c16-32x2")] == [
        "63 %",
        "89 %",
    ]
    assert [str(f) for f in figures("max abs difference 1.3e-6")] == ["1.3e-6"]
    assert Figure("87.43", True).found_in([0.874312]) and not Figure("87.43", True).found_in([0.8745])
    assert Figure("0.98", False).found_in([0.9801]) and not Figure("0.98", False).found_in([0.9851])
    assert Figure("1.3e-6", False).found_in([1.3e-06]) and not Figure("1.3e-6", False).found_in([1.4e-06])


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: f"{s.doc}:{s.line}")
def test_each_figure_is_in_its_file(section: Section):
    missing_files = [name for name in section.sources if not (ROOT / name).is_file()]
    assert not missing_files, f"{section.doc}:{section.line}: the marker names files that are not committed"
    values = [leaf for name in section.sources for leaf in source_leaves(ROOT / name)]
    wrong = [f"line {n}: {figure}" for n, figure in section.figures if not figure.found_in(values)]
    assert not wrong, (
        f"{section.doc}:{section.line}: figures not found in {', '.join(section.sources)} "
        f"(rounded as printed): {'; '.join(wrong)}"
    )


@pytest.mark.parametrize("doc", FIGURES_THROUGHOUT)
def test_every_figure_of_the_benchmarks_names_its_file(doc: str):
    unmarked = read(doc)[2]
    assert not unmarked, f"{doc}: figures outside every `<!-- figures: FILE -->` stretch: " + "; ".join(
        f"line {n}: {figure}" for n, figure in unmarked
    )


@pytest.mark.parametrize("doc", DOCS)
def test_seed_figures_are_the_seeds(doc: str):
    seed = read(doc)[1]
    if not SEED.is_file():
        pytest.skip(f"{SEED}: the seed's notes are not beside this checkout, so its {len(seed)} figures are unchecked")
    values = source_leaves(SEED)
    wrong = [f"line {n}: {figure}" for n, figure in seed if not figure.found_in(values)]
    assert not wrong, f"{doc}: seed figures not in {SEED}: {'; '.join(wrong)}"
