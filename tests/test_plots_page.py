"""The plots page in a real browser: headless Chromium, no network, every plot of dvc.yaml rendered.

A throw-away project holds the code, dvc.yaml, the committed page template and the
workspace's plot files; ``dvc plots show`` / ``dvc plots diff`` write the page with the
template that ``.dvc/config`` names, Chromium runs its scripts and ``--dump-dom`` prints
the DOM they built. DVC's default page (libraries from a CDN) must render no view at all
under the same check, which shows that the check can fail.
"""

import configparser
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from PIL import Image

from luckybag.errors import LuckybagError
from scripts.plots_page import (
    BUNDLES,
    DVC_PLACEHOLDERS,
    PLOTS_PLACEHOLDER,
    Bundle,
    inline_script,
    pack,
    render_template,
)
from tests.conftest import ROOT, make_project, run

# DVC's default page loads Vega from a CDN, so offline it is blank; .dvc/config names this page plots.html_template.
TEMPLATE_FILE = "plots_page/template.html"
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".svg"}
# Elements that draw something inside a Vega mark group.
DRAWN = {"path", "line", "rect", "circle", "text", "image"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# After the page loaded: each image's width as the browser read it, 0 when it did not load.
IMAGE_PROBE = """<script>
window.addEventListener("load", () => {
  for (const img of document.images) img.dataset.naturalWidth = img.naturalWidth;
});
</script>"""


# --- what dvc.yaml declares ---------------------------------------------------------------------


@dataclass
class Plot:
    id: str
    files: list[str]
    labels: list[str] = field(default_factory=list)

    @property
    def image(self) -> bool:
        return Path(self.id).suffix.lower() in IMAGE_EXTENSIONS

    @property
    def div_id(self) -> str:
        from dvc_render.base import Renderer

        return Renderer.remove_special_chars(self.id)


def plot_entry(entry: str | dict) -> Plot:
    """A top-level or stage ``plots`` entry: a path, or ``{id: props}`` whose x/y may map files to fields."""
    if isinstance(entry, str):
        return Plot(entry, [entry])
    ((plot_id, props),) = entry.items()
    props = props or {}
    files = [name for axis in ("x", "y") if isinstance(props.get(axis), dict) for name in props[axis]]
    labels = [props[key] for key in ("x_label", "y_label") if props.get(key)]
    return Plot(plot_id, list(dict.fromkeys(files)) or [plot_id], labels)


def declared_plots(dvc_yaml: Path) -> list[Plot]:
    spec = yaml.safe_load(dvc_yaml.read_text())
    entries = list(spec.get("plots") or [])
    for stage in (spec.get("stages") or {}).values():
        entries.extend(stage.get("plots") or [])
    return [plot_entry(entry) for entry in entries]


# --- the DOM Chromium dumps ---------------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list["Node"] = field(default_factory=list)
    text: str = ""

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def find_id(self, element_id: str) -> "Node | None":
        return next((node for node in self.walk() if node.attrs.get("id") == element_id), None)

    def texts(self) -> list[str]:
        return [node.text.strip() for node in self.walk() if node.tag == "text" and node.text.strip()]


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


def parse_dom(text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def drawn_marks(view: Node) -> int:
    """How many things the Vega view's data marks (not axes, legends or titles) drew."""
    count = 0
    for svg in (node for node in view.walk() if node.tag == "svg" and "marks" in node.classes()):
        for group in (node for node in svg.walk() if node.tag == "g" and "role-mark" in node.classes()):
            count += sum(
                1
                for item in group.walk()
                if item.tag in DRAWN and (item.tag != "path" or item.attrs.get("d")) and item is not group
            )
    return count


# --- the browser -------------------------------------------------------------------------------


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "Debian's chromium is not installed (`make browser` installs it)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def dump_dom(page: Path, scratch: Path) -> tuple[Node, str]:
    """Open ``page`` (plus the image probe) offline in headless Chromium; return its DOM and console lines."""
    probed = page.with_name(f"probed-{page.name}")
    # The last </body>: the inlined libraries' code contains the string too.
    head, end, tail = page.read_text(encoding="utf-8").rpartition("</body>")
    probed.write_text(f"{head}{IMAGE_PROBE}\n{end}{tail}", encoding="utf-8")
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=scratch))
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        # No network: every host name fails to resolve, so a CDN script cannot load even where one is reachable.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probed.as_uri(),
    ]
    env = {**os.environ, "HOME": str(scratch)}
    done = subprocess.run(
        [chromium_binary(), *flags], capture_output=True, text=True, timeout=180, env=env, cwd=scratch
    )
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return parse_dom(done.stdout), "\n".join(console[-10:])


def whole_image(path: Path) -> bool:
    if path.suffix.lower() == ".svg":
        return path.is_file() and b"<svg" in path.read_bytes()
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, SyntaxError):  # PIL's verify() reports a broken PNG chunk as SyntaxError
        return False
    return True


def image_problem(div: Node, page_dir: Path, revisions: int) -> str | None:
    images = [node for node in div.walk() if node.tag == "img"]
    if len(images) != revisions:
        return f"{len(images)} <img>, expected {revisions}"
    for img in images:
        src = img.attrs.get("src", "")
        if not src.startswith("data:") and not whole_image(page_dir / src):
            return f"<img src={src!r}> is not a whole image file next to the page"
        if int(img.attrs.get("data-natural-width") or 0) <= 0:
            return f"<img src={src!r}> did not load in the browser"
    return None


def view_problem(div: Node, plot: Plot, revisions: list[str]) -> str | None:
    if drawn_marks(div) == 0:
        return "no Vega view with drawn marks"
    texts = set(div.texts())
    missing = [text for text in plot.labels + (revisions if len(revisions) > 1 else []) if text not in texts]
    return f"view lacks {missing}" if missing else None


def page_problems(dom: Node, page_dir: Path, plots: list[Plot], revisions: list[str]) -> dict[str, str]:
    """Each declared plot that did not render, with why."""
    problems = {}
    for plot in plots:
        div = dom.find_id(plot.div_id)
        if div is None:
            problems[plot.id] = f"no element #{plot.div_id} on the page"
            continue
        problem = image_problem(div, page_dir, len(revisions)) if plot.image else view_problem(div, plot, revisions)
        if problem:
            problems[plot.id] = problem
    return problems


# --- the project ---------------------------------------------------------------------------------


def configured_template() -> str:
    """``plots.html_template`` of the project's committed .dvc/config (relative to .dvc/)."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    assert config.has_option("plots", "html_template"), ".dvc/config sets no plots.html_template"
    return config.get("plots", "html_template")


@pytest.fixture(scope="module")
def plots() -> list[Plot]:
    declared = declared_plots(ROOT / "dvc.yaml")
    assert any(plot.image for plot in declared) and any(not plot.image for plot in declared)
    return declared


@pytest.fixture(scope="module")
def plots_project(tmp_path_factory: pytest.TempPathFactory, plots: list[Plot]) -> Path:
    """A committed project copy with the committed plot files (HEAD's: a run in progress may be rewriting the
    workspace's) and the configured template."""
    project = make_project(tmp_path_factory.mktemp("plots") / "project")
    for plot in plots:
        for name in plot.files:
            committed = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=ROOT, capture_output=True)
            assert committed.returncode == 0, f"{name} (plot {plot.id!r}) is not committed; run `dvc repro`, commit it"
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_bytes(committed.stdout)
    template = configured_template()
    target = (project / ".dvc" / template).resolve()
    assert (ROOT / ".dvc" / template).resolve() == (ROOT / TEMPLATE_FILE).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / TEMPLATE_FILE, target)
    run(["dvc", "config", "plots.html_template", template], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "plots"], project)
    return project


# --- the tests -----------------------------------------------------------------------------------


def test_template_is_self_contained() -> None:
    page = (ROOT / TEMPLATE_FILE).read_text(encoding="utf-8")
    assert page.count(PLOTS_PLACEHOLDER) == 1
    # Without {scripts} DVC adds no CDN <script src>; the libraries are inline.
    assert [p for p in DVC_PLACEHOLDERS if p in page] == [PLOTS_PLACEHOLDER, "{refresh_tag}"]
    assert "<script src" not in page and "<link" not in page
    for bundle in BUNDLES:
        assert f"<script>/* {bundle.spec} */" in page, f"{bundle.spec} is not the inlined version"


# SHA-256 of each pinned package's UMD build (package/build/NAME.min.js in the tarball `npm pack` fetches and
# scripts/plots_page.py checks against its pinned SHA-512), recorded from the registry's tarballs. After a version
# bump in scripts/plots_page.py, `make plots-template` and record the new builds' hashes here.
BUILD_SHA256 = {
    "vega@5.33.1": "463f3db6a40b20e9747b4ed38f37ed0add508838f9141b1cf8366784b07b30c8",
    "vega-lite@5.23.0": "58c27358e26f2d319cf62f45bc17a4c8362f08645001df2ec8d341eee4097c7f",
    "vega-embed@6.29.0": "12d02acfbe3ec59ef9a37dd4822a2e04e2961b5bbb671bbe661d2221715b99da",
}


def test_template_is_the_generator_output() -> None:
    """The page is the generator's rendering of the pinned packages' builds: each inlined library is byte for byte
    the build of its pinned tarball (by hash), and rendering those builds gives the committed page: nobody edited it."""
    assert set(BUILD_SHA256) == {bundle.spec for bundle in BUNDLES}, "a pinned version changed: record its build's hash"
    page = (ROOT / TEMPLATE_FILE).read_text(encoding="utf-8")
    builds = []
    for bundle in BUNDLES:
        start = page.index(f"<script>/* {bundle.spec} */\n") + len(f"<script>/* {bundle.spec} */\n")
        inlined = page[start : page.index("\n</script>", start)]
        build = inlined.replace("<\\/script", "</script").replace("<\\/SCRIPT", "</SCRIPT")  # undo inline_script
        assert hashlib.sha256(build.encode("utf-8")).hexdigest() == BUILD_SHA256[bundle.spec], bundle.spec
        builds.append(build)
    licenses = page[page.rindex("<!--\n") + len("<!--\n") : page.rindex("\n-->\n</body>")]
    assert render_template(builds, [licenses]) == page


def test_inline_script_cannot_end_early_or_fill_a_placeholder() -> None:
    assert inline_script("x", 'a = "</script>";') == '<script>/* x */\na = "<\\/script>";\n</script>'
    with pytest.raises(LuckybagError, match=r"x: contains \{plot_divs\}"):
        inline_script("x", "s = '{plot_divs}';")


def test_pack_refuses_a_tarball_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    fake_npm = tmp_path / "bin" / "npm"
    fake_npm.parent.mkdir()
    fake_npm.write_text('#!/bin/sh\necho tampered > "$5/vega-5.33.1.tgz"\necho \'[{"filename": "vega-5.33.1.tgz"}]\'\n')
    fake_npm.chmod(0o755)
    bundle = Bundle("vega@5.33.1", BUNDLES[0].integrity)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(fake_npm.parent))
        with pytest.raises(LuckybagError, match=r"vega@5\.33\.1: tarball SHA-512 is sha512-.*; expected the pinned"):
            pack(bundle, tmp_path)


def test_regenerating_without_npm_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "template.html"
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "scripts/plots_page.py", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr == "error: npm: command not found; install Node.js and npm to regenerate the plots template\n"
    assert not out.exists()


def test_make_plots_targets_and_the_pr_artifact() -> None:
    dry = run(["make", "-n", "plots", "plots-diff", "REV=main"], ROOT).stdout
    assert "dvc plots show -o reports/plots\n" in dry and "dvc plots diff main -o reports/plots-diff\n" in dry
    steps = yaml.safe_load((ROOT / ".github/workflows/pr-report.yml").read_text())["jobs"]["report"]["steps"]
    runs = [step.get("run", "") for step in steps]
    plots = runs.index("make plots-diff REV=origin/${{ github.base_ref }}")
    upload = next(i for i, step in enumerate(steps) if str(step.get("uses", "")).startswith("actions/upload-artifact"))
    assert plots < upload and steps[upload]["with"]["path"] in {"reports", "reports/"}


@pytest.mark.slow
def test_show_renders_every_plot_offline(plots_project: Path, plots: list[Plot], tmp_path: Path) -> None:
    # No --html-template: the page comes from the template .dvc/config names.
    run(["dvc", "plots", "show", "-o", str(tmp_path / "show")], plots_project)
    page = tmp_path / "show" / "index.html"
    assert "cdn" not in page.read_text(encoding="utf-8").lower()
    dom, console = dump_dom(page, tmp_path)
    assert page_problems(dom, page.parent, plots, ["workspace"]) == {}, console


@pytest.mark.slow
def test_diff_renders_both_revisions_offline(plots_project: Path, plots: list[Plot], tmp_path: Path) -> None:
    run(["dvc", "plots", "diff", "HEAD", "-o", str(tmp_path / "diff")], plots_project)
    page = tmp_path / "diff" / "index.html"
    dom, console = dump_dom(page, tmp_path)
    assert page_problems(dom, page.parent, plots, ["HEAD", "workspace"]) == {}, console


@pytest.mark.slow
def test_default_cdn_page_renders_no_view_offline(plots_project: Path, plots: list[Plot], tmp_path: Path) -> None:
    from dvc_render.html import PAGE_HTML

    default = tmp_path / "default-template.html"
    default.write_text(PAGE_HTML, encoding="utf-8")
    run(["dvc", "plots", "show", "--html-template", str(default), "-o", str(tmp_path / "cdn")], plots_project)
    page = tmp_path / "cdn" / "index.html"
    assert '<script src="https://' in page.read_text(encoding="utf-8")
    dom, _ = dump_dom(page, tmp_path)
    problems = page_problems(dom, page.parent, plots, ["workspace"])
    views = [plot.id for plot in plots if not plot.image]
    assert {plot_id: problems.get(plot_id) for plot_id in views} == dict.fromkeys(
        views, "no Vega view with drawn marks"
    )
    # The images need no script, so they still show: the check tells the two apart.
    assert not any(plot.id in problems for plot in plots if plot.image)
