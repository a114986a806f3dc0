"""An mkdocs hook for the notebook pages (mkdocs-jupyter renders them straight to HTML, so
mkdocs neither rewrites nor checks their links):

* a link written for the repository, ``../docs/PAGE.md#anchor`` (right where the notebook
  sits, in ``notebooks/``), becomes the site's URL of that page; a link to a page that does
  not exist stops the build, as mkdocs' own strict checks do for the Markdown pages;
* the MathJax loader nbconvert's template adds (an empty ``src`` here) is dropped: the
  site's KaTeX (``javascripts/katex.js``) renders the notebooks' formulas, offline; so is
  its Mermaid loader, which would import from a CDN (the notebooks draw no diagrams);
  a page that still names a ``https://`` script after that stops the build.
"""

from __future__ import annotations

import posixpath
import re

from mkdocs.exceptions import PluginError

LINK = re.compile(r'href="\.\./docs/([^"#]+\.md)(#[^"]*)?"')
MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
MERMAID = re.compile(r'<script type="module">(?:(?!</script>).)*?mermaid.*?</script>', re.S)
REMOTE = re.compile(r"""(?:src=|import\()["']https?://""")


def on_page_content(html, page, config, files):
    if not page.file.src_uri.startswith("notebooks/") or not page.file.src_uri.endswith(".py"):
        return html

    def site_url(match):
        target = files.get_file_from_path(match.group(1))
        if target is None:
            raise PluginError(f"{page.file.src_uri}: link to docs/{match.group(1)}, which is "
                              "not a page of the site; fix the link")  # fmt: skip
        here = posixpath.dirname(page.url.rstrip("/") + "/x")
        return f'href="{posixpath.relpath(target.url or ".", here)}/{match.group(2) or ""}"'

    html = MERMAID.sub("", MATHJAX.sub("", LINK.sub(site_url, html)))
    if REMOTE.search(html):
        raise PluginError(f"{page.file.src_uri}: the page loads a script from the "
                          "network; the site must work offline")  # fmt: skip
    return html
