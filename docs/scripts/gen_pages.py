"""Pages generated at build time (mkdocs-gen-files): the front page and the API reference.

* ``index.md`` is README.md, its links into ``docs/`` made relative to the site (and its
  link to ``notebooks/`` the notebooks' index page), so the front page is written once and
  reads the same on the repository and on the site.
* ``reference/``: one page per module of ``jaxnn`` (``::: module``, rendered from its
  docstrings by mkdocstrings), and ``reference/SUMMARY.md`` for mkdocs-literate-nav, so a
  new module is documented without touching mkdocs.yml.
* ``notebooks/``: every ``notebooks/*.py`` (jupytext percent format), which mkdocs-jupyter
  executes and renders with its outputs, an index page listing them by their titles, and
  ``notebooks/SUMMARY.md`` for the nav: a new notebook is published without touching
  mkdocs.yml.
"""

from __future__ import annotations

import re
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]

readme = (ROOT / "README.md").read_text(encoding="utf-8")
with mkdocs_gen_files.open("index.md", "w") as page:
    # links into docs/ are the site's pages; the notebooks' folder is their index page
    front = re.sub(r"\]\(docs/", "](", readme)
    page.write(re.sub(r"\]\(notebooks/\)", "](notebooks/index.md)", front))

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

notebooks = sorted((ROOT / "notebooks").glob("*.py"))
index = [
    "# Notebooks\n\n",
    "The chapters of the notes as notebooks one can run top to bottom: each states the notes'\n",
    "formulas, runs jaxnn's hand-derived code on them, checks the gradients three ways\n",
    "(`jaxnn.gradcheck`), trains a small model in seconds on data that ships with the\n",
    "packages, and draws the picture that explains it. The pages below were executed when\n",
    "this site was built. They are `notebooks/*.py` in the repository (jupytext percent\n",
    "format); `make notebooks` opens them in Jupyter with the project's environment, and the\n",
    "test suite runs every one of them (`tests/test_notebooks.py`).\n\n",
]
for path in notebooks:
    text = path.read_text(encoding="utf-8")
    title = re.search(r"^# # (.+)$", text, re.M)
    title = title.group(1) if title else path.stem
    with mkdocs_gen_files.open(f"notebooks/{path.name}", "w") as page:
        page.write(text)
    mkdocs_gen_files.set_edit_path(f"notebooks/{path.name}", path.relative_to(ROOT).as_posix())
    index.append(f"* [{title}]({path.name})\n")
with mkdocs_gen_files.open("notebooks/index.md", "w") as page:
    page.writelines(index)
with mkdocs_gen_files.open("notebooks/SUMMARY.md", "w") as summary:
    summary.write("* [Notebooks](index.md)\n")
    summary.writelines(f"* [{p.stem}]({p.name})\n" for p in notebooks)
