"""MkDocs hook: publish the figures of analyses/figures/ as figures/*.png of the site.

The pages under docs/results/ include analyses/results/*.md, whose images point at
``../figures/NAME.png``; served from here, those links resolve without copying the images.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

FIGURES = Path(__file__).resolve().parents[1] / "analyses"


def on_files(files, config):
    for png in sorted((FIGURES / "figures").glob("*.png")):
        files.append(File(f"figures/{png.name}", src_dir=str(FIGURES), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files
