"""The documentation site renders its formulas offline: KaTeX ships with it, no CDN."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KATEX = ROOT / "docs" / "javascripts" / "katex"


def _config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def test_the_site_loads_no_script_or_style_from_the_network():
    config = _config()
    assets = [*config["extra_javascript"], *config["extra_css"]]
    assert not [a for a in assets if re.match(r"[a-z]+://|//", str(a))], assets
    assert "javascripts/katex/katex.min.js" in assets
    assert "javascripts/katex/contrib/auto-render.min.js" in assets
    assert "javascripts/katex/katex.min.css" in assets
    # make docs puts them there (docs: … $(KATEX)/katex.min.js)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^docs: .*\$\(KATEX\)/katex\.min\.js", makefile, re.M)


VENDORED = (KATEX / "katex.min.js").exists()


@pytest.mark.skipif(not VENDORED, reason="make docs puts KaTeX in docs/javascripts/katex")
def test_a_built_page_references_only_local_assets_that_exist(tmp_path):
    """A one-page site with the real theme, extensions and extra assets: every script and
    stylesheet the page loads is a file of the site, KaTeX's fonts included."""
    pytest.importorskip("mkdocs")
    config = _config()
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs" / "javascripts", docs / "javascripts")
    (docs / "index.md").write_text("# Formula\n\nThe cost $J = -\\frac1m \\sum y \\log a$.\n")
    small = {key: config[key] for key in ("site_name", "markdown_extensions", "extra_javascript",
                                          "extra_css")}  # fmt: skip
    small["theme"] = {k: v for k, v in config["theme"].items() if k != "palette"}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(small))
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-d", "site"], cwd=tmp_path,
                   check=True, capture_output=True)  # fmt: skip
    site = tmp_path / "site"
    html = (site / "index.html").read_text()
    assert "\\(J = -\\frac1m" in html  # arithmatex's delimiters, for the bundled KaTeX
    references = re.findall(r'<(?:script|link)[^>]*?(?:src|href)="([^"]+)"', html)
    local = [r for r in references if r.endswith((".js", ".css"))]
    assert not [r for r in local if re.match(r"[a-z]+://|//", r)], local
    for ref in local:
        assert (site / ref.split("?")[0]).exists(), ref
    css = (site / "javascripts" / "katex" / "katex.min.css").read_text()
    fonts = set(re.findall(r"url\((fonts/[^)]+\.woff2)\)", css))
    assert fonts and all((site / "javascripts" / "katex" / f).exists() for f in fonts)
