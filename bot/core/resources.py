"""Data files that ship inside the package: the templates and the sample meetings.

Templates are edited in the repository's top-level `templates/`; `bot/templates`
is a link to it, which the sdist and the wheel carry as real files (see
`package-data` in pyproject.toml), so an installed sigbot finds them through
importlib.resources from any directory, and a checkout finds the same files.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_dir(name: str) -> Path:
    """The folder `name` inside the installed package (`templates`, `samples`)."""
    folder = files("bot").joinpath(name)
    # pip installs wheels as plain files, so this is a real folder; a zipped or
    # half-copied install is said plainly instead of failing later on one file.
    if not isinstance(folder, Path) or not folder.is_dir():
        raise FileNotFoundError(f"sigbot's package has no {name}/ folder at {folder}: "
                                "reinstall sigbot (pip install --force-reinstall sigbot)")
    return folder
