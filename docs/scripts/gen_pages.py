"""Pages generated at build time (mkdocs-gen-files): the front page and the API reference.

* ``index.md`` is README.md, its links into ``docs/`` made relative to the site, so the
  front page is written once and reads the same on the repository and on the site.
* ``reference/``: one page per module of ``jaxnn`` (``::: module``, rendered from its
  docstrings by mkdocstrings), and ``reference/SUMMARY.md`` for mkdocs-literate-nav, so a
  new module is documented without touching mkdocs.yml.
"""

from __future__ import annotations

import re
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]

readme = (ROOT / "README.md").read_text(encoding="utf-8")
with mkdocs_gen_files.open("index.md", "w") as page:
    page.write(re.sub(r"\]\(docs/", "](", readme))

nav = mkdocs_gen_files.Nav()
for path in sorted((ROOT / "jaxnn").rglob("*.py")):
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
        doc = Path("reference", *parts, "index.md")
    elif parts[-1].startswith("_"):
        continue
    else:
        doc = Path("reference", *parts).with_suffix(".md")
    module = ".".join(parts)
    nav[parts] = doc.relative_to("reference").as_posix()
    with mkdocs_gen_files.open(doc, "w") as page:
        page.write(f"::: {module}\n")

with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as summary:
    summary.writelines(nav.build_literate_nav())
