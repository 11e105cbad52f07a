"""sigbot: the coordination bot of an open-source special-interest group."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sigbot")  # one source of truth: pyproject.toml, through the installed metadata
except PackageNotFoundError:  # a checkout on sys.path that was never installed
    __version__ = "0+unknown"
