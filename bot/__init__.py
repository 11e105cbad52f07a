"""sigbot: the coordination bot of an open-source special-interest group."""

# The one place the version is written: the build copies it into the package metadata
# (pyproject.toml: dynamic version), which `sigbot --version` reads. A literal rather than
# importlib.metadata at import time: the running bot does not carry the metadata machinery.
__version__ = "0.2.0"
