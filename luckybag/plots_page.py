"""The self-contained page template for ``dvc plots show`` / ``dvc plots diff``: Vega's pinned npm builds inlined."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from luckybag.errors import LuckybagError
from luckybag.io import write_text
from luckybag.tools import last_line

# DVC's default page loads Vega from a CDN, so offline it is blank; .dvc/config names this page plots.html_template.
TEMPLATE_FILE = "plots_page/template.html"
# The placeholders dvc_render fills with str.replace over the whole page.
PLOTS_PLACEHOLDER = "{plot_divs}"
DVC_PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")


@dataclass(frozen=True)
class Bundle:
    """One npm package's UMD browser build, pinned by version and tarball SHA-512."""

    name: str
    version: str
    integrity: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def build(self) -> str:
        return f"package/build/{self.name}.min.js"


# Vega-Lite 5 for DVC's templates ($schema vega-lite/v5); the same majors as DVC's CDN page, newest minors.
# npm package -> SHA-512 of its tarball (base64, as npm's integrity field).
PINNED = {
    "vega@5.33.1": "1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw==",
    "vega-lite@5.23.0": "l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA==",
    "vega-embed@6.29.0": "PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q==",
}
BUNDLES = tuple(Bundle(*spec.split("@"), f"sha512-{digest}") for spec, digest in PINNED.items())

# Vega-Embed draws on a canvas by default; SVG stays sharp when zoomed or printed and puts the marks in the DOM.
SVG_DEFAULT = """(function (embed) {
  window.vegaEmbed = (el, spec, opts) => embed(el, spec, { renderer: "svg", ...opts });
})(window.vegaEmbed);"""

PAGE = """<!DOCTYPE html>
<!-- {header} -->
<html>
<head>
<meta charset="utf-8">
{{refresh_tag}}
<title>luckybag plots</title>
<style>
  body {{ font-family: sans-serif; margin: 16px; }}
  table {{ border-spacing: 15px; }}
  body > div {{ margin-bottom: 24px; }}
</style>
{scripts}
</head>
<body>
{{plot_divs}}
<!--
{licenses}
-->
</body>
</html>
"""


def pack(bundle: Bundle, scratch: Path) -> Path:
    """Fetch ``bundle``'s tarball with ``npm pack`` into ``scratch`` and check its SHA-512."""
    npm = shutil.which("npm")
    if npm is None:
        raise LuckybagError("npm: command not found; install Node.js and npm to regenerate the plots template")
    pack_args = [npm, "pack", bundle.spec, "--json", "--pack-destination", str(scratch)]
    done = subprocess.run(pack_args, capture_output=True, text=True)
    if done.returncode != 0:
        raise LuckybagError(f"npm pack {bundle.spec} failed: {last_line(done.stderr) or done.returncode}")
    tarball = scratch / json.loads(done.stdout)[0]["filename"]
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != bundle.integrity:
        raise LuckybagError(f"{bundle.spec}: tarball SHA-512 is {digest}; expected the pinned {bundle.integrity}")
    return tarball


def read_member(tarball: Path, member: str, required: bool = True) -> str | None:
    with tarfile.open(tarball) as archive:
        if member in archive.getnames():
            return archive.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
    if required:
        raise LuckybagError(f"{tarball.name}: no {member} in the package")
    return None


def license_note(bundle: Bundle, tarball: Path) -> str:
    """The package's LICENSE file or, where the tarball has none (vega 5.33), its package.json licence and author."""
    text = read_member(tarball, "package/LICENSE", required=False)
    if text is None:
        meta = json.loads(read_member(tarball, "package/package.json") or "{}")
        text = f"License: {meta.get('license')} (package.json; no LICENSE file in the package). Author: {meta.get('author')}"
    return f"{bundle.spec} LICENSE:\n{text.replace('-->', '- ->').strip()}"


def inline_script(name: str, code: str) -> str:
    """``code`` as an inline <script>; refuse text that would end the element or fill a DVC placeholder."""
    if found := [placeholder for placeholder in DVC_PLACEHOLDERS if placeholder in code]:
        raise LuckybagError(f"{name}: contains {found[0]}, which dvc plots would replace")
    # "<\/" is "</" to JavaScript, but no longer ends the <script> element.
    code = code.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return f"<script>/* {name} */\n{code}\n</script>"


def render_template(codes: Sequence[str], licenses: Sequence[str]) -> str:
    """The page: every bundle's code inlined, then the SVG default; licenses in a trailing comment."""
    header = (
        "luckybag's page for dvc plots show/diff (.dvc/config plots.html_template), with no network needed. "
        f"Generated by `make plots-template` (luckybag plots-template) from the npm packages {', '.join(PINNED)}; "
        "do not edit by hand."
    )
    scripts = [inline_script(b.spec, code) for b, code in zip(BUNDLES, codes, strict=True)]
    scripts.append(inline_script("render views as SVG", SVG_DEFAULT))
    page = PAGE.format(header=header, scripts="\n".join(scripts), licenses="\n\n".join(licenses))
    if page.count(PLOTS_PLACEHOLDER) != 1:
        raise LuckybagError(f"template: expected one {PLOTS_PLACEHOLDER}, found {page.count(PLOTS_PLACEHOLDER)}")
    return page


def build_template(out: Path) -> None:
    """Write the page to ``out`` (the template ``.dvc/config`` names), the libraries taken with ``npm pack``."""
    with tempfile.TemporaryDirectory(prefix="plots-template-") as scratch:
        codes, licenses = [], []
        for bundle in BUNDLES:
            tarball = pack(bundle, Path(scratch))
            codes.append(read_member(tarball, bundle.build) or "")
            licenses.append(license_note(bundle, tarball))
        write_text(out, render_template(codes, licenses))
